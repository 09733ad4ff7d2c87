"""The owner's feedback on a finished reply: helpful or not, with an optional comment. A plain
form post that comes back to the conversation; htmx swaps just the feedback control.

Either way the control then shows the choice pressed, a "Thank you" beside it and the comment
box open: htmx gets the control rendered with `thanked`; without JavaScript the redirect's
`?feedback=<reply>` tells the page which reply was just given feedback. Choosing the one already
chosen keeps it (it never clears it) and opens the box again, as in Open WebUI; the box's Send
posts that same choice with the comment."""

import uuid
from urllib.parse import urlencode

from django import forms
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from conversations.forms import first_error
from conversations.models import Feedback
from conversations.models.feedback import COMMENT_MAX_CHARS
from conversations.views.lookups import get_reply_for_user
from conversations.views.pages import chat_context


class FeedbackForm(forms.Form):
    helpful = forms.TypedChoiceField(
        choices=[("yes", gettext_lazy("Helpful")), ("no", gettext_lazy("Not helpful"))],
        coerce=lambda value: value == "yes",
        error_messages={"required": gettext_lazy("Choose helpful or not helpful.")},
    )
    comment = forms.CharField(
        label=gettext_lazy("Comment"), required=False, max_length=COMMENT_MAX_CHARS
    )


@login_required
@require_POST
def give_feedback(request, reply_id: uuid.UUID):
    reply = get_reply_for_user(request.user, reply_id)
    form = FeedbackForm(request.POST)
    if reply.is_generating:
        return _refused(request, reply, _("Give feedback once the reply is finished."), 409)
    if not form.is_valid():
        return _refused(request, reply, first_error(form), 400)
    reply.feedback = Feedback.give(
        reply, form.cleaned_data["helpful"], form.cleaned_data["comment"]
    )
    if request.htmx:
        return render(
            request, "conversations/chat.html#feedback", {"reply": reply, "thanked": True}
        )
    url = reply.conversation.get_absolute_url()
    return redirect(f"{url}?{urlencode({'feedback': reply.pk})}#reply-{reply.pk}")


def _refused(request, reply, message: str, status: int):
    """htmx gets the control back with the sentence in it; without JavaScript the page comes
    back with the sentence on top."""
    if request.htmx:
        context = {"reply": reply, "feedback_error": message}
        return render(request, "conversations/chat.html#feedback", context, status=status)
    context = chat_context(request, reply.conversation)
    context["error"] = message
    return render(request, "conversations/chat.html", context, status=status)
