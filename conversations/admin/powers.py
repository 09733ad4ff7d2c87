"""Who outranks whom in the admin: a user holding a power another lacks (superuser status, or a
permission outside the other's own) is beyond that other's reach, so an administrator can
neither take over nor lock out a superuser, nor give anyone (themselves included) more than
they hold. Permissions are read from the database, active or not: a deactivated superuser is
one again as soon as someone reactivates them."""

from django.contrib.auth.models import Group, Permission
from django.db.models import Q, QuerySet

from conversations.models import User


def permissions_beyond(actor) -> QuerySet[Permission]:
    """The permissions the actor holds neither directly nor through a group (none for a
    superuser, who holds them all)."""
    if actor.is_superuser:
        return Permission.objects.none()
    held = Permission.objects.filter(Q(user=actor) | Q(group__user=actor))
    return Permission.objects.exclude(pk__in=held.values("pk"))


def users_outranking(actor) -> QuerySet[User]:
    """The superusers, and the users holding a permission beyond the actor's."""
    if actor.is_superuser:
        return User.objects.none()
    beyond = permissions_beyond(actor)
    return User.objects.filter(
        Q(is_superuser=True) | Q(user_permissions__in=beyond) | Q(groups__permissions__in=beyond)
    )


def outranks(user, actor) -> bool:
    return users_outranking(actor).filter(pk=user.pk).exists()


def groups_within(actor) -> QuerySet[Group]:
    """The groups the actor may give: every permission of theirs the actor holds too."""
    return Group.objects.exclude(permissions__in=permissions_beyond(actor))
