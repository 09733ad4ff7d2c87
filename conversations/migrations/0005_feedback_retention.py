"""Feedback on replies, legal holds (a conversation's or a user's) and soft delete; reviewers
and administrators may read feedback and mark it reviewed (its only change allowed).
The usage ledger already survives a purge: UsageEntry's reply and conversation are SET_NULL."""

from importlib import import_module

import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models

FEEDBACK_PERMISSIONS = ["view_feedback", "change_feedback"]


def grant_feedback(apps, schema_editor) -> None:
    roles = import_module("conversations.migrations.0004_review_audit")
    roles.grant_role_permissions(
        apps, {"Reviewer": FEEDBACK_PERMISSIONS, "Administrator": FEEDBACK_PERMISSIONS}
    )


class Migration(migrations.Migration):
    dependencies = [("conversations", "0004_review_audit")]

    operations = [
        migrations.AddField(
            model_name="conversation",
            name="deleted_at",
            field=models.DateTimeField(blank=True, null=True, verbose_name="deleted"),
        ),
        migrations.AddField(
            model_name="conversation",
            name="legal_hold",
            field=models.BooleanField(default=False, verbose_name="legal hold"),
        ),
        migrations.AddField(
            model_name="user",
            name="legal_hold",
            field=models.BooleanField(default=False, verbose_name="legal hold"),
        ),
        migrations.CreateModel(
            name="Feedback",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("helpful", models.BooleanField(verbose_name="helpful")),
                (
                    "comment",
                    models.TextField(blank=True, max_length=2000, verbose_name="comment"),
                ),
                (
                    "created_at",
                    models.DateTimeField(default=django.utils.timezone.now, verbose_name="given"),
                ),
                (
                    "reviewed_at",
                    models.DateTimeField(blank=True, null=True, verbose_name="reviewed"),
                ),
                ("review_note", models.TextField(blank=True, verbose_name="review note")),
                (
                    "reply",
                    models.OneToOneField(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="feedback",
                        to="conversations.reply",
                        verbose_name="reply",
                    ),
                ),
                (
                    "reviewed_by",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                        verbose_name="reviewed by",
                    ),
                ),
            ],
            options={
                "verbose_name": "feedback",
                "verbose_name_plural": "feedback",
                "ordering": ["-created_at"],
                "indexes": [
                    models.Index(
                        fields=["helpful", "reviewed_at", "-created_at"],
                        name="feedback_queue_idx",
                    )
                ],
                "constraints": [
                    models.CheckConstraint(
                        condition=models.Q(
                            ("reviewed_at__isnull", False),
                            ("reviewed_by__isnull", True),
                            _connector="OR",
                        ),
                        name="feedback_reviewer_only_when_reviewed",
                    )
                ],
            },
        ),
        migrations.RunPython(grant_feedback, migrations.RunPython.noop),
    ]
