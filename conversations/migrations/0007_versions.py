"""Versions of a turn: replies form a tree (each follows its parent; versions are siblings,
one selected). Existing conversations become one path: each turn follows the version shown
at the turn before it, and earlier retries become versions of their turn."""

import django.db.models.deletion
from django.db import migrations, models


def positions_to_parents(apps, schema_editor):
    Reply = apps.get_model("conversations", "Reply")
    rows = Reply.objects.order_by("conversation_id", "position", "created_at", "pk").values_list(
        "pk", "conversation_id", "position", "selected"
    )
    changed = []
    conversation, shown_before, shown_here, here = None, None, None, None
    for pk, conversation_id, position, selected in rows.iterator(chunk_size=2000):
        if conversation_id != conversation:
            conversation, shown_before, shown_here, here = conversation_id, None, None, position
        elif position != here:
            shown_before, shown_here, here = shown_here or shown_before, None, position
        if selected:
            shown_here = pk
        if shown_before is not None:
            changed.append(Reply(pk=pk, parent_id=shown_before))
        if len(changed) >= 2000:
            Reply.objects.bulk_update(changed, ["parent"])
            changed = []
    Reply.objects.bulk_update(changed, ["parent"])


class Migration(migrations.Migration):
    dependencies = [("conversations", "0006_organise")]

    operations = [
        migrations.RemoveConstraint(model_name="reply", name="one_latest_reply_per_position"),
        migrations.RenameField(model_name="reply", old_name="is_latest", new_name="selected"),
        migrations.AlterField(
            model_name="reply",
            name="selected",
            field=models.BooleanField(default=True, verbose_name="version shown"),
        ),
        migrations.AddField(
            model_name="reply",
            name="parent",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="follow_ups",
                to="conversations.reply",
            ),
        ),
        migrations.RunPython(positions_to_parents, migrations.RunPython.noop, elidable=True),
        migrations.AddConstraint(
            model_name="reply",
            constraint=models.UniqueConstraint(
                condition=models.Q(("parent__isnull", False), ("selected", True)),
                fields=("conversation", "parent"),
                name="one_selected_version_per_turn",
            ),
        ),
        migrations.AddConstraint(
            model_name="reply",
            constraint=models.UniqueConstraint(
                condition=models.Q(("parent__isnull", True), ("selected", True)),
                fields=("conversation",),
                name="one_selected_first_turn",
            ),
        ),
    ]
