"""The admin for people and roles: users and groups. Administrators manage users and
departments (groups without permissions), never anyone who outranks them (a superuser, or a
holder of a permission they lack: see powers.py), and grant no permissions: superuser status, a
user's own permissions, a group's permissions and the roles (groups with permissions) are a
superuser's to give. Otherwise an administrator could raise their own rights."""

from django.contrib import admin
from django.contrib.auth.admin import GroupAdmin, UserAdmin
from django.contrib.auth.models import Group

from conversations.admin.feedback import USER_ACTIONS
from conversations.admin.powers import groups_within, outranks, users_outranking
from conversations.models import DirectoryAccount, User


class CompanyAccountInline(admin.StackedInline):
    """Which person of the identity provider the account belongs to and what the directory gave
    it at the last sign-in: shown to whoever may see the user, changed only by signing in."""

    model = DirectoryAccount
    fields = readonly_fields = (
        "issuer",
        "subject",
        "last_sign_in",
        "granted_groups",
        "granted_staff",
    )
    extra = max_num = 0
    can_delete = False

    def has_view_permission(self, request, obj=None) -> bool:
        # As the user's own page: whoever may see or change the user.
        return request.user.has_perm("conversations.view_user") or request.user.has_perm(
            "conversations.change_user"
        )

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(User)
class ChatUserAdmin(UserAdmin):
    """A user who outranks the administrator is shown read-only: no change of any field or
    password, no deletion (alone or from the list), no legal hold. An account that signs in
    with the company's provider shows its link (CompanyAccountInline)."""

    actions = USER_ACTIONS

    def get_inlines(self, request, obj):
        linked = obj is not None and DirectoryAccount.objects.filter(user=obj).exists()
        return [CompanyAccountInline] if linked else []

    def get_readonly_fields(self, request, obj=None):
        fields = super().get_readonly_fields(request, obj)
        if request.user.is_superuser:
            return fields
        return (*fields, "is_superuser", "user_permissions")

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        if db_field.name == "groups":
            kwargs["queryset"] = groups_within(request.user)
        return super().formfield_for_manytomany(db_field, request, **kwargs)

    def has_change_permission(self, request, obj=None) -> bool:
        return super().has_change_permission(request, obj) and not out_of_reach(request, obj)

    def has_delete_permission(self, request, obj=None) -> bool:
        return super().has_delete_permission(request, obj) and not out_of_reach(request, obj)


def out_of_reach(request, user) -> bool:
    return user is not None and outranks(user, request.user)


admin.site.unregister(Group)


@admin.register(Group)
class RoleGroupAdmin(GroupAdmin):
    """Administrators name, make and remove departments; a group's permissions, and the groups
    that have some (the roles), are changed by superusers only."""

    def get_readonly_fields(self, request, obj=None):
        fields = super().get_readonly_fields(request, obj)
        if request.user.is_superuser:
            return fields
        return (*fields, "permissions")

    def has_change_permission(self, request, obj=None) -> bool:
        return super().has_change_permission(request, obj) and not role_out_of_reach(request, obj)

    def has_delete_permission(self, request, obj=None) -> bool:
        return super().has_delete_permission(request, obj) and not role_out_of_reach(request, obj)


def role_out_of_reach(request, group) -> bool:
    """A group with permissions, or one that someone who outranks the actor belongs to
    (deleting it would take them out of it), for someone who is not a superuser."""
    if group is None or request.user.is_superuser:
        return False
    outranking_members = group.user_set.filter(pk__in=users_outranking(request.user))
    return group.permissions.exists() or outranking_members.exists()
