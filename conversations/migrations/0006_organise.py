"""Pinned conversations, and the index the sidebar reads them in (pinned first, newest first)."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("conversations", "0005_feedback_retention")]

    operations = [
        migrations.AddField(
            model_name="conversation",
            name="pinned",
            field=models.BooleanField(default=False, verbose_name="pinned"),
        ),
        migrations.AddIndex(
            model_name="conversation",
            index=models.Index(
                fields=["owner", "archived", "-pinned", "-updated_at"],
                name="conv_owner_sidebar_idx",
            ),
        ),
    ]
