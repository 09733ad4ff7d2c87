"""The "Reviews of my conversations" page: how often reviewers or administrators opened or
exported the signed-in user's conversations, and when (never who)."""

from django.contrib.auth.decorators import login_required
from django.shortcuts import render
from django.views.decorators.http import require_GET

from conversations.models import ReviewAccess

SHOWN = 200


@login_required
@require_GET
def my_reviews(request):
    entries = ReviewAccess.objects.of_owner(request.user)
    recent = entries.values(
        "created_at",
        "action",
        "detail",
        "conversation_id",
        "conversation_title",
        "conversation__deleted_at",
    )[:SHOWN]
    return render(
        request,
        "conversations/my_reviews.html",
        {"total": entries.count(), "entries": recent, "shown": SHOWN},
    )
