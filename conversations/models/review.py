"""The audit record of reviews: who opened or exported whose conversation, and when.
Entries are written by `conversations.audit.record_access` and never changed afterwards."""

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class ReviewAccessQuerySet(models.QuerySet):
    def of_owner(self, user):
        return self.filter(owner=user)


class ReviewAccess(models.Model):
    """One time a reviewer or administrator viewed or exported someone else's conversation, or
    downloaded one of its files.
        Names and the conversation's id are copied so the entry outlives deleted users and
        conversations."""

    class Action(models.TextChoices):
        VIEWED = "viewed", _("Viewed")
        EXPORTED = "exported", _("Exported")
        DOWNLOADED = "downloaded", _("Downloaded a file")

    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("reviewer"),
        on_delete=models.SET_NULL,
        null=True,
        related_name="reviews_made",
    )
    actor_username = models.CharField(_("reviewer's username"), max_length=150)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("owner"),
        on_delete=models.SET_NULL,
        null=True,
        related_name="reviews_received",
    )
    owner_username = models.CharField(_("owner's username"), max_length=150)
    conversation = models.ForeignKey(
        "conversations.Conversation",
        verbose_name=_("conversation"),
        on_delete=models.SET_NULL,
        null=True,
        related_name="review_accesses",
    )
    conversation_ref = models.UUIDField(_("conversation id"))
    conversation_title = models.CharField(_("conversation title"), max_length=200, blank=True)
    action = models.CharField(_("action"), max_length=10, choices=Action.choices)
    # What was downloaded (a file's name and id), for "downloaded".
    detail = models.CharField(_("detail"), max_length=300, blank=True)
    created_at = models.DateTimeField(_("when"), default=timezone.now, db_index=True)

    objects = ReviewAccessQuerySet.as_manager()

    class Meta:
        verbose_name = _("review audit entry")
        verbose_name_plural = _("review audit entries")
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["owner", "-created_at"], name="review_owner_recent_idx"),
            models.Index(fields=["actor", "-created_at"], name="review_actor_recent_idx"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(action__in=["viewed", "exported", "downloaded"]),
                name="review_action_known",
            )
        ]

    def __str__(self) -> str:
        return f"{self.actor_username} {self.action} {self.conversation_ref}"

    def save(self, *args, **kwargs):
        """Entries are written once; an audit record that could be edited proves nothing."""
        if not self._state.adding:
            raise PermissionError("audit entries cannot be changed")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise PermissionError("audit entries cannot be deleted")
