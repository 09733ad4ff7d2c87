"""Administrators see the login throttle's records in the admin (django-axes: failed logins
being counted, and the log of failures) and may delete a count, which lets that person (or
address) try again at once; reviewers see none of it."""

from django.db import migrations

ADMINISTRATOR_PERMISSIONS = [
    "view_accessattempt",
    "delete_accessattempt",
    "view_accessfailurelog",
]


def grant_login_records(apps, schema_editor) -> None:
    from django.contrib.auth.management import create_permissions

    axes = apps.get_app_config("axes")
    axes.models_module = True
    create_permissions(axes, verbosity=0, apps=apps)
    axes.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    group, _created = Group.objects.get_or_create(name="Administrator")
    permissions = Permission.objects.filter(
        content_type__app_label="axes", codename__in=ADMINISTRATOR_PERMISSIONS
    )
    missing = set(ADMINISTRATOR_PERMISSIONS) - {p.codename for p in permissions}
    if missing:
        raise RuntimeError(f"permissions not found for Administrator: {sorted(missing)}")
    group.permissions.add(*permissions)


class Migration(migrations.Migration):
    dependencies = [
        ("conversations", "0009_usage_rollup"),
        ("axes", "0010_accessattemptexpiration"),
    ]

    operations = [migrations.RunPython(grant_login_records, migrations.RunPython.noop)]
