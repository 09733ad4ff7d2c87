"""URLs of the chat. Every one of them is in the permission matrix test."""

from django.urls import path

from conversations.views import pages, stream, turns, usage

urlpatterns = [
    path("", pages.home, name="home"),
    path("send/", turns.send, name="send"),
    path("c/<uuid:conversation_id>/", pages.conversation_page, name="conversation"),
    path(
        "c/<uuid:conversation_id>/settings/",
        pages.conversation_settings,
        name="conversation_settings",
    ),
    path("c/<uuid:conversation_id>/rename/", pages.rename, name="conversation_rename"),
    path("c/<uuid:conversation_id>/delete/", pages.delete, name="conversation_delete"),
    path("r/<uuid:reply_id>/stream/", stream.reply_stream, name="reply_stream"),
    path("r/<uuid:reply_id>/stop/", turns.stop, name="reply_stop"),
    path("r/<uuid:reply_id>/retry/", turns.retry, name="reply_retry"),
    path("usage/", usage.my_usage, name="my_usage"),
]
