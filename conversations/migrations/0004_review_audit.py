"""The review audit record, and the two roles: "Reviewer" (reads conversations, replies and
usage; changes nothing) and "Administrator" (manages users, groups, quotas and models, and
reads what reviewers read)."""

import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models

# Permissions (codenames in this app or in auth) of each role. Codenames a later migration
# adds (e.g. feedback) are granted by that migration through grant_role_permissions().
READ_CONVERSATIONS = [
    "view_conversation",
    "view_reply",
    "view_usageentry",
    "view_usage_dashboard",
]
ROLE_PERMISSIONS = {
    "Reviewer": READ_CONVERSATIONS,
    "Administrator": [
        *READ_CONVERSATIONS,
        "view_user",
        "add_user",
        "change_user",
        "delete_user",
        "view_group",
        "add_group",
        "change_group",
        "delete_group",
        "view_quotapolicy",
        "add_quotapolicy",
        "change_quotapolicy",
        "delete_quotapolicy",
        "view_aimodel",
        "add_aimodel",
        "change_aimodel",
        "delete_aimodel",
    ],
}


def grant_role_permissions(apps, roles: dict[str, list[str]]) -> None:
    """Creates the groups if missing and adds the named permissions (of this app and auth).
    Permissions are normally created after migrate, so they are created here first."""
    from django.contrib.auth.management import create_permissions

    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, verbosity=0, apps=apps)
        app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for name, codenames in roles.items():
        group, _created = Group.objects.get_or_create(name=name)
        permissions = Permission.objects.filter(
            content_type__app_label__in=["conversations", "auth"], codename__in=codenames
        )
        missing = set(codenames) - {permission.codename for permission in permissions}
        if missing:
            raise RuntimeError(f"permissions not found for {name}: {sorted(missing)}")
        group.permissions.add(*permissions)


def create_roles(apps, schema_editor) -> None:
    grant_role_permissions(apps, ROLE_PERMISSIONS)


class Migration(migrations.Migration):
    dependencies = [
        ("conversations", "0003_usage_reports"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [
        migrations.CreateModel(
            name="ReviewAccess",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                (
                    "actor_username",
                    models.CharField(max_length=150, verbose_name="reviewer's username"),
                ),
                (
                    "owner_username",
                    models.CharField(max_length=150, verbose_name="owner's username"),
                ),
                ("conversation_ref", models.UUIDField(verbose_name="conversation id")),
                (
                    "conversation_title",
                    models.CharField(
                        blank=True, max_length=200, verbose_name="conversation title"
                    ),
                ),
                (
                    "action",
                    models.CharField(
                        choices=[("viewed", "Viewed"), ("exported", "Exported")],
                        max_length=10,
                        verbose_name="action",
                    ),
                ),
                (
                    "created_at",
                    models.DateTimeField(
                        db_index=True, default=django.utils.timezone.now, verbose_name="when"
                    ),
                ),
                (
                    "actor",
                    models.ForeignKey(
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="reviews_made",
                        to=settings.AUTH_USER_MODEL,
                        verbose_name="reviewer",
                    ),
                ),
                (
                    "conversation",
                    models.ForeignKey(
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="review_accesses",
                        to="conversations.conversation",
                        verbose_name="conversation",
                    ),
                ),
                (
                    "owner",
                    models.ForeignKey(
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="reviews_received",
                        to=settings.AUTH_USER_MODEL,
                        verbose_name="owner",
                    ),
                ),
            ],
            options={
                "verbose_name": "review audit entry",
                "verbose_name_plural": "review audit entries",
                "ordering": ["-created_at"],
                "indexes": [
                    models.Index(fields=["owner", "-created_at"], name="review_owner_recent_idx"),
                    models.Index(fields=["actor", "-created_at"], name="review_actor_recent_idx"),
                ],
                "constraints": [
                    models.CheckConstraint(
                        condition=models.Q(("action__in", ["viewed", "exported"])),
                        name="review_action_known",
                    )
                ],
            },
        ),
        migrations.RunPython(create_roles, migrations.RunPython.noop),
    ]
