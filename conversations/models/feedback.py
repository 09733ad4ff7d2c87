"""Feedback on replies: the owner marks a finished reply helpful or not (with an optional
comment); reviewers work through the unhelpful ones in the admin and mark each reviewed."""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

COMMENT_MAX_CHARS = 2000


class FeedbackQuerySet(models.QuerySet):
    def unhelpful(self):
        return self.filter(helpful=False)

    def awaiting_review(self):
        return self.filter(reviewed_at__isnull=True)


class Feedback(models.Model):
    """One reply's feedback from its owner. Giving it again replaces it, and a changed vote or
    comment goes back to the reviewers' queue."""

    reply = models.OneToOneField(
        "conversations.Reply",
        verbose_name=_("reply"),
        on_delete=models.CASCADE,
        related_name="feedback",
    )
    helpful = models.BooleanField(_("helpful"))
    comment = models.TextField(_("comment"), max_length=COMMENT_MAX_CHARS, blank=True)
    created_at = models.DateTimeField(_("given"), default=timezone.now)
    reviewed_at = models.DateTimeField(_("reviewed"), null=True, blank=True)
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("reviewed by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    review_note = models.TextField(_("review note"), blank=True)

    objects = FeedbackQuerySet.as_manager()

    class Meta:
        verbose_name = _("feedback")
        verbose_name_plural = _("feedback")
        ordering = ["-created_at"]
        indexes = [
            models.Index(
                fields=["helpful", "reviewed_at", "-created_at"], name="feedback_queue_idx"
            )
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(reviewed_at__isnull=False) | Q(reviewed_by__isnull=True),
                name="feedback_reviewer_only_when_reviewed",
            )
        ]

    def __str__(self) -> str:
        """What the admin's titles, breadcrumbs and history call it (it reads the reply, its
        conversation and its owner)."""
        return gettext("Feedback on “%(title)s” by %(owner)s, %(date)s") % {
            "title": self.reply.conversation.display_title,
            "owner": self.reply.user.get_username(),
            "date": date_format(timezone.localtime(self.created_at), "DATE_FORMAT"),
        }

    @classmethod
    def give(cls, reply, helpful: bool, comment: str = "") -> "Feedback":
        """Stores the owner's feedback on a finished reply (replacing any earlier one)."""
        comment = comment.strip()[:COMMENT_MAX_CHARS]
        feedback = cls.objects.filter(reply=reply).first()
        if feedback is None:
            return cls.objects.create(reply=reply, helpful=helpful, comment=comment)
        if (feedback.helpful, feedback.comment) != (helpful, comment):
            feedback.helpful, feedback.comment = helpful, comment
            feedback.created_at = timezone.now()
            feedback.reviewed_at = feedback.reviewed_by = None
            feedback.save()
        return feedback

    def mark_reviewed(self, reviewer, note: str) -> None:
        self.reviewed_at = timezone.now()
        self.reviewed_by = reviewer
        self.review_note = note.strip()
        self.save(update_fields=["reviewed_at", "reviewed_by", "review_note"])

    def reopen(self, note: str = "") -> None:
        """Back to the queue (a reviewer unticked "Reviewed")."""
        self.reviewed_at = self.reviewed_by = None
        self.review_note = note.strip()
        self.save(update_fields=["reviewed_at", "reviewed_by", "review_note"])

    @property
    def is_reviewed(self) -> bool:
        return self.reviewed_at is not None
