"""The admin for the review audit record: superusers list and filter who viewed or exported
whose conversation; nobody adds, changes or deletes an entry."""

from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from conversations.admin.base import ReadOnlyAdmin
from conversations.models import ReviewAccess


@admin.register(ReviewAccess)
class ReviewAccessAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "actor_username", "action", "owner_username", "conversation_link")
    list_filter = ("action", ("created_at", admin.DateFieldListFilter), "actor", "owner")
    search_fields = ("actor_username", "owner_username", "conversation_title", "=conversation_ref")
    date_hierarchy = "created_at"
    show_full_result_count = False
    fields = (
        "created_at",
        "action",
        "actor_username",
        "owner_username",
        "conversation_ref",
        "conversation_title",
        "detail",
    )
    readonly_fields = fields

    def has_module_permission(self, request) -> bool:
        return request.user.is_active and request.user.is_superuser

    def has_view_permission(self, request, obj=None) -> bool:
        return request.user.is_active and request.user.is_superuser

    @admin.display(description=_("conversation"), ordering="conversation_title")
    def conversation_link(self, entry: ReviewAccess):
        label = entry.conversation_title or str(entry.conversation_ref)
        if entry.conversation_id is None:
            return label
        url = reverse("admin:conversations_conversation_change", args=[entry.conversation_id])
        return format_html('<a href="{}">{}</a>', url, label)
