"""The admin for people and their conversations: users, conversations and replies."""

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin

from conversations.models import Conversation, Reply, User

admin.site.register(User, UserAdmin)


class ReplyInline(admin.TabularInline):
    model = Reply
    extra = 0
    fields = ("position", "status", "model", "user_input", "text", "total_tokens", "created_at")
    readonly_fields = fields
    can_delete = False
    show_change_link = True


@admin.register(Conversation)
class ConversationAdmin(admin.ModelAdmin):
    list_display = ("display_title", "owner", "model", "updated_at", "archived")
    list_filter = ("model", "archived")
    search_fields = ("title", "owner__username")
    list_select_related = ("owner",)
    raw_id_fields = ("owner",)
    inlines = [ReplyInline]


@admin.register(Reply)
class ReplyAdmin(admin.ModelAdmin):
    list_display = ("conversation", "position", "status", "model", "total_tokens", "created_at")
    list_filter = ("status", "model", "usage_estimated")
    search_fields = ("user_input", "text", "upstream_id")
    list_select_related = ("conversation",)
    raw_id_fields = ("conversation", "user", "retry_of")
    readonly_fields = [field.name for field in Reply._meta.fields]
