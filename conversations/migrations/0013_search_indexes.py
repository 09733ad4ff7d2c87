"""Indexes for searching. On every database: all conversations newest first (the admin's
list), a person's, and their versions left behind (views/search.py reads the last two), and
replies by model (the admin's filter beside its search). On
PostgreSQL, for a person's search and the admin's: GIN trigram indexes (pg_trgm) on
UPPER(column) for messages, replies, upstream ids and titles. Django's icontains compares
UPPER(column::text) LIKE UPPER(pattern) there, so these are the expressions the planner
matches; they serve any substring of three characters or more, Chinese included (full-text
search's parsers do not split Chinese into words).

Creating the extension needs the right to CREATE in the database (pg_trgm is a trusted
extension since PostgreSQL 13) or a superuser; an administrator may instead run
`CREATE EXTENSION pg_trgm;` once. The trigram indexes are built CONCURRENTLY (so outside a
transaction): replies keep being written while a large table is indexed. They are PostgreSQL's
only: on SQLite this migration adds the four plain indexes and searching scans, as before."""

from django.contrib.postgres.operations import TrigramExtension
from django.db import migrations, models

# (index, model, field): the columns the searches compare with icontains.
INDEXES = [
    ("reply_user_input_trgm", "reply", "user_input"),
    ("reply_text_trgm", "reply", "text"),
    ("reply_upstream_id_trgm", "reply", "upstream_id"),
    ("conv_title_trgm", "conversation", "title"),
]


def create_indexes(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    quote = schema_editor.quote_name
    for name, model_name, field_name in INDEXES:
        meta = apps.get_model("conversations", model_name)._meta
        column = meta.get_field(field_name).column
        # An index left invalid by an interrupted concurrent build would be skipped by
        # IF NOT EXISTS: dropping it first lets the migration be run again.
        schema_editor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {quote(name)}")
        schema_editor.execute(
            f"CREATE INDEX CONCURRENTLY {quote(name)} ON {quote(meta.db_table)} "
            f"USING gin (UPPER({quote(column)}) gin_trgm_ops)"
        )


def drop_indexes(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name, _model, _field in INDEXES:
        schema_editor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {schema_editor.quote_name(name)}")


class Migration(migrations.Migration):
    atomic = False  # CREATE INDEX CONCURRENTLY cannot run inside a transaction

    dependencies = [
        ("conversations", "0012_conversation_names"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="conversation",
            index=models.Index(fields=["-updated_at", "-id"], name="conv_recent_idx"),
        ),
        migrations.AddIndex(
            model_name="conversation",
            index=models.Index(fields=["owner", "-updated_at"], name="conv_owner_updated_idx"),
        ),
        migrations.AddIndex(
            model_name="reply",
            index=models.Index(fields=["model"], name="reply_model_idx"),
        ),
        migrations.AddIndex(
            model_name="reply",
            index=models.Index(
                condition=models.Q(selected=False),
                fields=["user"],
                name="reply_user_unselected_idx",
            ),
        ),
        TrigramExtension(),
        migrations.RunPython(create_indexes, drop_indexes, elidable=False),
    ]
