"""Forms for every POST of the chat: they turn any body, however malformed, into either
clean data or a plain error message."""

from django import forms
from django.conf import settings
from django.utils.translation import gettext_lazy as _

from conversations.models import ADVANCED_SETTINGS_FIELDS, SETTINGS_FIELDS, AIModel, Conversation


def model_choices() -> list[tuple[str, str]]:
    return AIModel.choices()


class ConversationSettingsForm(forms.Form):
    model = forms.ChoiceField(label=_("Model"), choices=model_choices)
    instructions = forms.CharField(
        label=_("Custom instructions"),
        required=False,
        max_length=20000,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("Sent with every message, e.g. “Answer briefly, in plain English.”"),
    )
    temperature = forms.FloatField(
        label=_("Temperature"),
        required=False,
        min_value=0,
        max_value=2,
        widget=forms.NumberInput(attrs={"step": "0.1", "placeholder": _("default")}),
        help_text=_(
            "Lower gives steadier, more predictable answers; higher gives more varied ones "
            "(0 to 2)."
        ),
    )
    top_p = forms.FloatField(
        label=_("Top p"),
        required=False,
        min_value=0,
        max_value=1,
        widget=forms.NumberInput(attrs={"step": "0.05", "placeholder": _("default")}),
        help_text=_(
            "Another way to vary the answers: lower keeps to the most likely words (0 to 1); "
            "change this or the temperature, not both."
        ),
    )
    max_output_tokens = forms.IntegerField(
        label=_("Max output tokens"),
        required=False,
        min_value=16,
        max_value=1_000_000,
        widget=forms.NumberInput(attrs={"placeholder": _("default")}),
        help_text=_(
            "The longest a reply may be, in tokens (a token is about three quarters of a "
            "word); empty means the model's own limit."
        ),
    )
    reasoning_effort = forms.ChoiceField(
        label=_("Reasoning effort"),
        required=False,
        choices=Conversation.ReasoningEffort.choices,
        help_text=_(
            "How long the model thinks before it answers: more effort can solve harder "
            "questions but is slower and costs more."
        ),
    )
    reasoning_summary = forms.BooleanField(
        label=_("Show reasoning summary"),
        required=False,
        help_text=_("Shows a short summary of the model's reasoning above its answer, folded."),
    )
    truncation = forms.ChoiceField(
        label=_("Truncation"),
        choices=Conversation.Truncation.choices,
        initial=Conversation.Truncation.AUTO,
        help_text=_(
            "What happens when the conversation grows too long for the model: drop the "
            "oldest turns, or stop with an error."
        ),
    )

    SETTINGS = SETTINGS_FIELDS
    # In the settings dialog's "Advanced" section; administrators can hide them for everyone
    # (SHOW_ADVANCED_SETTINGS), and then the form neither shows nor accepts them.
    ADVANCED = ADVANCED_SETTINGS_FIELDS

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if not settings.SHOW_ADVANCED_SETTINGS:
            for name in self.ADVANCED:
                del self.fields[name]

    @property
    def settings_names(self) -> list[str]:
        """The conversation settings this form shows and changes."""
        return [name for name in self.SETTINGS if name in self.fields]

    def advanced_fields(self):
        return [self[name] for name in self.ADVANCED if name in self.fields]

    @classmethod
    def for_conversation(cls, conversation: Conversation | None, **kwargs):
        if conversation is None:
            return cls(initial={"model": AIModel.default_model_id()}, **kwargs)
        return cls(initial={name: getattr(conversation, name) for name in cls.SETTINGS}, **kwargs)

    def apply_to(self, conversation: Conversation) -> None:
        """Sets the settings this form accepts; the others keep their values (a new
        conversation's defaults)."""
        for name in self.settings_names:
            setattr(conversation, name, self.cleaned_data[name])
        conversation.reasoning_effort = conversation.reasoning_effort or ""


class SendForm(ConversationSettingsForm):
    message = forms.CharField(label=_("Message"), strip=False, widget=forms.Textarea)
    conversation = forms.UUIDField(required=False, widget=forms.HiddenInput)
    client_token = forms.UUIDField(widget=forms.HiddenInput)

    def __init__(self, *args, has_files: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        # A message may be only attachments.
        self.has_files = has_files
        self.fields["message"].required = not has_files

    def clean_message(self) -> str:
        # Line ends as typed: a form posted as multipart/form-data (the composer, which carries
        # files) has its newlines sent as CRLF.
        message = self.cleaned_data["message"].replace("\r\n", "\n")
        if not message.strip() and getattr(self, "has_files", False):
            return message.strip()
        if not message.strip():
            raise forms.ValidationError(_("Type a message first."), code="empty")
        if len(message) > settings.MAX_MESSAGE_CHARS:
            raise forms.ValidationError(
                _("This message is too long (%(length)s characters; the limit is %(limit)s).")
                % {"length": len(message), "limit": settings.MAX_MESSAGE_CHARS},
                code="too_long",
            )
        if "\x00" in message:
            raise forms.ValidationError(_("This message contains invalid characters."))
        return message


class VersionForm(forms.Form):
    """Regenerate: the form's one-time token (a replayed form finds the version it made)."""

    client_token = forms.UUIDField()


class EditForm(VersionForm):
    """Edit-and-resend: the new message, checked like a sent one."""

    message = forms.CharField(label=_("Message"), strip=False)

    def __init__(self, *args, has_files: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        # A turn with files may be edited to no text at all.
        self.has_files = has_files
        self.fields["message"].required = not has_files

    clean_message = SendForm.clean_message


class RenameForm(forms.Form):
    title = forms.CharField(label=_("Title"), max_length=200)


def first_error(form: forms.Form) -> str:
    """The first error of a form as one plain sentence, for the message area."""
    for field, errors in form.errors.items():
        label = form.fields[field].label if field in form.fields else None
        if field in {"client_token", "conversation"}:
            return str(_("The form was out of date. Reload the page and try again."))
        if field in {"message", "__all__"} or not label:
            return str(errors[0])
        return f"{label}: {errors[0]}"
    return str(_("Something in the form was not valid."))
