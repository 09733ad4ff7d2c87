"""URLs of the chat. Every one of them is in the permission matrix test."""

from django.urls import path

from conversations.views import (
    exports,
    feedback,
    files,
    organise,
    pages,
    reviews,
    search,
    stream,
    turns,
    usage,
)

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
    path(
        "c/<uuid:conversation_id>/export.md",
        exports.export_conversation,
        {"extension": "md"},
        name="conversation_export_markdown",
    ),
    path(
        "c/<uuid:conversation_id>/export.json",
        exports.export_conversation,
        {"extension": "json"},
        name="conversation_export_json",
    ),
    path(
        "c/<uuid:conversation_id>/export.zip",
        exports.export_conversation_zip,
        name="conversation_export_zip",
    ),
    path("files/<uuid:attachment_id>/", files.attachment, name="attachment"),
    path("r/<uuid:reply_id>/feedback/", feedback.give_feedback, name="reply_feedback"),
    path("c/<uuid:conversation_id>/pin/", organise.pin, name="conversation_pin"),
    path("c/<uuid:conversation_id>/unpin/", organise.unpin, name="conversation_unpin"),
    path("c/<uuid:conversation_id>/archive/", organise.archive, name="conversation_archive"),
    path("c/<uuid:conversation_id>/unarchive/", organise.unarchive, name="conversation_unarchive"),
    path("c/<uuid:conversation_id>/restore/", organise.restore, name="conversation_restore"),
    path("c/<uuid:conversation_id>/place/", organise.place, name="conversation_place"),
    path("sidebar/", organise.sidebar, name="sidebar"),
    path("sidebar/more/", organise.sidebar_more, name="sidebar_more"),
    path("search/", search.search, name="search"),
    path("search/live/", search.live, name="search_live"),
    path("r/<uuid:reply_id>/stream/", stream.reply_stream, name="reply_stream"),
    path("r/<uuid:reply_id>/stop/", turns.stop, name="reply_stop"),
    path("r/<uuid:reply_id>/retry/", turns.retry, name="reply_retry"),
    path("r/<uuid:reply_id>/regenerate/", turns.regenerate, name="reply_regenerate"),
    path("r/<uuid:reply_id>/edit/", turns.edit, name="reply_edit"),
    path("r/<uuid:reply_id>/show/", turns.show_version, name="reply_show"),
    path("usage/", usage.my_usage, name="my_usage"),
    path("reviews/", reviews.my_reviews, name="my_reviews"),
]
