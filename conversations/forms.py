"""Forms for every POST of the chat: they turn any body, however malformed, into either
clean data or a plain error message."""

from django import forms
from django.conf import settings
from django.utils.translation import gettext_lazy as _

from conversations.models import SETTINGS_FIELDS, AIModel, Conversation


def model_choices() -> list[tuple[str, str]]:
    return AIModel.choices()


class ConversationSettingsForm(forms.Form):
    model = forms.ChoiceField(label=_("Model"), choices=model_choices)
    instructions = forms.CharField(
        label=_("Instructions"),
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
    )
    top_p = forms.FloatField(
        label=_("Top p"),
        required=False,
        min_value=0,
        max_value=1,
        widget=forms.NumberInput(attrs={"step": "0.05", "placeholder": _("default")}),
    )
    max_output_tokens = forms.IntegerField(
        label=_("Max output tokens"),
        required=False,
        min_value=16,
        max_value=1_000_000,
        widget=forms.NumberInput(attrs={"placeholder": _("default")}),
    )
    reasoning_effort = forms.ChoiceField(
        label=_("Reasoning effort"),
        required=False,
        choices=Conversation.ReasoningEffort.choices,
    )
    reasoning_summary = forms.BooleanField(label=_("Show reasoning summary"), required=False)
    truncation = forms.ChoiceField(
        label=_("Truncation"),
        choices=Conversation.Truncation.choices,
        initial=Conversation.Truncation.AUTO,
    )

    SETTINGS = SETTINGS_FIELDS

    @classmethod
    def for_conversation(cls, conversation: Conversation | None, **kwargs):
        if conversation is None:
            return cls(initial={"model": AIModel.default_model_id()}, **kwargs)
        return cls(initial={name: getattr(conversation, name) for name in cls.SETTINGS}, **kwargs)

    def apply_to(self, conversation: Conversation) -> None:
        for name in self.SETTINGS:
            setattr(conversation, name, self.cleaned_data[name])
        conversation.reasoning_effort = conversation.reasoning_effort or ""


class SendForm(ConversationSettingsForm):
    message = forms.CharField(label=_("Message"), strip=False, widget=forms.Textarea)
    conversation = forms.UUIDField(required=False, widget=forms.HiddenInput)
    client_token = forms.UUIDField(widget=forms.HiddenInput)

    def clean_message(self) -> str:
        message = self.cleaned_data["message"]
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
