"""The permission matrix: every URL of the product and of the admin, by GET and POST, by {not
logged in, owner, other user, reviewer, administrator, superuser}, with the answer each one
must get (failure-cases.md 8-10, 12). The URLs are read from the resolver, so a new URL
without a row here fails the suite.

Outcomes: a status code; "login" (a redirect to the site's login page); "admin_login" (to the
admin's login page). POSTs carry an empty body (a malformed request for forms: 400)."""

import re

import pytest
from axes.models import AccessAttempt, AccessFailureLog
from django.contrib.auth.models import Group
from django.contrib.contenttypes.models import ContentType
from django.db import transaction
from django.test import Client
from django.urls import URLResolver, get_resolver

from conversations.audit import record_access
from conversations.models import (
    AIModel,
    Conversation,
    Feedback,
    QuotaPolicy,
    Reply,
    ReviewAccess,
    UsageEntry,
)
from conversations.models.usage import month_start
from tests.review_fixtures import staff_in

pytestmark = pytest.mark.django_db

PERSONAS = ("anonymous", "owner", "other", "reviewer", "administrator", "superuser")
L, AL = "login", "admin_login"


def owner_only(code):
    """The owner's own thing: anyone else signed in gets a 404 (never a 403 that confirms it
    exists), reviewers and administrators included (they read it in the admin)."""
    return (L, code, 404, 404, 404, 404)


def signed_in(code):
    return (L, code, code, code, code, code)


def anyone(code):
    return (code,) * len(PERSONAS)


def staff(reviewer, administrator, superuser):
    """An admin page: the non-staff are sent to the admin's login."""
    return (AL, AL, AL, reviewer, administrator, superuser)


C, R = "c/<uuid:conversation_id>/", "r/<uuid:reply_id>/"
PRODUCT = {
    "": {"GET": signed_in(200), "POST": signed_in(405)},
    "send/": {"GET": signed_in(405), "POST": signed_in(400)},
    C: {"GET": owner_only(200), "POST": (L, 405, 405, 405, 405, 405)},
    f"{C}settings/": {"GET": (L, 405, 405, 405, 405, 405), "POST": owner_only(400)},
    f"{C}rename/": {"GET": (L, 405, 405, 405, 405, 405), "POST": owner_only(400)},
    f"{C}delete/": {"GET": owner_only(200), "POST": owner_only(302)},
    "c/<uuid:conversation_id>/export.md": {
        "GET": owner_only(200),
        "POST": (L, 405, 405, 405, 405, 405),
    },
    "c/<uuid:conversation_id>/export.json": {
        "GET": owner_only(200),
        "POST": (L, 405, 405, 405, 405, 405),
    },
    f"{C}pin/": {"GET": (L, 405, 405, 405, 405, 405), "POST": owner_only(302)},
    f"{C}unpin/": {"GET": (L, 405, 405, 405, 405, 405), "POST": owner_only(302)},
    f"{C}archive/": {"GET": (L, 405, 405, 405, 405, 405), "POST": owner_only(302)},
    f"{C}unarchive/": {"GET": (L, 405, 405, 405, 405, 405), "POST": owner_only(302)},
    f"{C}place/": {"GET": owner_only(302), "POST": (L, 405, 405, 405, 405, 405)},
    f"{R}feedback/": {"GET": (L, 405, 405, 405, 405, 405), "POST": owner_only(400)},
    f"{R}stream/": {"GET": owner_only(200), "POST": (L, 405, 405, 405, 405, 405)},
    f"{R}stop/": {"GET": (L, 405, 405, 405, 405, 405), "POST": owner_only(302)},
    f"{R}retry/": {"GET": (L, 405, 405, 405, 405, 405), "POST": owner_only(302)},
    f"{R}regenerate/": {"GET": (L, 405, 405, 405, 405, 405), "POST": owner_only(400)},
    f"{R}edit/": {"GET": (L, 405, 405, 405, 405, 405), "POST": owner_only(400)},
    f"{R}show/": {"GET": (L, 405, 405, 405, 405, 405), "POST": owner_only(302)},
    "sidebar/": {"GET": signed_in(200), "POST": signed_in(405)},
    "sidebar/more/": {"GET": signed_in(200), "POST": signed_in(405)},
    "search/": {"GET": signed_in(200), "POST": signed_in(405)},
    "usage/": {"GET": signed_in(200), "POST": signed_in(405)},
    "reviews/": {"GET": signed_in(200), "POST": signed_in(405)},
    # Logging in and out, the health check and the language switcher.
    "login/": {"GET": (200, 302, 302, 302, 302, 302), "POST": (200, 302, 302, 302, 302, 302)},
    "logout/": {"GET": anyone(405), "POST": anyone(L)},
    "health/": {"GET": anyone(200), "POST": anyone(405)},
    "i18n/setlang/": {"GET": anyone(302), "POST": anyone(302)},
    # The usage dashboard needs its permission (reviewers and administrators have it).
    "admin/usage/": {"GET": staff(200, 200, 200), "POST": staff(405, 405, 405)},
    "admin/usage/export.csv": {"GET": staff(200, 200, 200), "POST": staff(405, 405, 405)},
}

ADMIN_SITE = {
    "admin/": {"GET": staff(200, 200, 200), "POST": staff(200, 200, 200)},
    # Staff already logged in are sent to the index; a posted (empty) form shows its errors.
    "admin/login/": {"GET": (200, 200, 200, 302, 302, 302), "POST": anyone(200)},
    # The admin sends the non-staff to its index (then its login); logging out is a POST.
    "admin/logout/": {"GET": (302, 302, 302, 405, 405, 405), "POST": (302, 302, 302, L, L, L)},
    "admin/password_change/": {"GET": staff(200, 200, 200), "POST": staff(200, 200, 200)},
    "admin/password_change/done/": {"GET": staff(200, 200, 200), "POST": staff(405, 405, 405)},
    "admin/autocomplete/": {"GET": staff(403, 403, 403), "POST": staff(405, 405, 405)},
    "admin/jsi18n/": {"GET": staff(200, 200, 200), "POST": staff(405, 405, 405)},
    "admin/r/<path:content_type_id>/<path:object_id>/": {
        "GET": staff(302, 302, 302),
        "POST": staff(302, 302, 302),
    },
    "admin/^(?P<app_label>auth|conversations|axes)/$": {
        "GET": staff(200, 200, 200),
        "POST": staff(200, 200, 200),
    },
    "admin/(?P<url>.*)$": {"GET": staff(404, 404, 404), "POST": staff(404, 404, 404)},
    "admin/conversations/user/<id>/password/": {
        "GET": staff(403, 200, 200),
        "POST": staff(403, 200, 200),
    },
}

# What each role may do with each model in the admin: nothing, view, or manage (add, change
# and delete). "review" is view plus changing the feedback's review state. The login
# throttle's records (axes) are never added by hand: administrators view them and "unlock"
# (delete a count, so that person or address may try again); superusers may do all but add.
NONE, VIEW, REVIEW, MANAGE = "none", "view", "review", "manage"
UNLOCK, ALL_BUT_ADD = "unlock", "all but add"
ADMIN_MODELS = {
    # model: (reviewer, administrator, superuser)
    "auth.group": (NONE, MANAGE, MANAGE),
    "conversations.user": (NONE, MANAGE, MANAGE),
    "conversations.conversation": (VIEW, VIEW, VIEW),
    "conversations.reply": (VIEW, VIEW, VIEW),
    "conversations.feedback": (REVIEW, REVIEW, REVIEW),
    "conversations.reviewaccess": (NONE, NONE, VIEW),
    "conversations.aimodel": (NONE, MANAGE, MANAGE),
    "conversations.quotapolicy": (NONE, MANAGE, MANAGE),
    "conversations.usageentry": (VIEW, VIEW, VIEW),
    "axes.accessattempt": (NONE, UNLOCK, ALL_BUT_ADD),
    "axes.accessfailurelog": (NONE, VIEW, ALL_BUT_ADD),
}
# The answer to each of a model admin's URLs, for each level: (GET, POST). A POST of an empty
# form to an add or change page shows the form's errors (200).
ADMIN_PAGES = {
    "": {
        NONE: (403, 403),
        VIEW: (200, 200),
        REVIEW: (200, 200),
        MANAGE: (200, 200),
        UNLOCK: (200, 200),
        ALL_BUT_ADD: (200, 200),
    },
    "add/": {
        NONE: (403, 403),
        VIEW: (403, 403),
        REVIEW: (403, 403),
        MANAGE: (200, 200),
        UNLOCK: (403, 403),
        ALL_BUT_ADD: (403, 403),
    },
    "<path:object_id>/history/": {
        NONE: (403, 403),
        VIEW: (200, 200),
        REVIEW: (200, 200),
        MANAGE: (200, 200),
        UNLOCK: (200, 200),
        ALL_BUT_ADD: (200, 200),
    },
    "<path:object_id>/delete/": {
        NONE: (403, 403),
        VIEW: (403, 403),
        REVIEW: (403, 403),
        MANAGE: (200, 200),  # an empty POST is not a confirmation: the page again
        UNLOCK: (200, 200),
        ALL_BUT_ADD: (200, 200),
    },
    "<path:object_id>/change/": {
        NONE: (403, 403),
        VIEW: (200, 403),
        REVIEW: (200, 302),  # the review fields are optional: an empty form saves
        MANAGE: (200, 200),
        UNLOCK: (200, 403),
        ALL_BUT_ADD: (200, 302),  # every field is read-only: an empty form saves nothing
    },
    # The object's bare URL redirects to its change page (for any staff member).
    "<path:object_id>/": {
        NONE: (302, 302),
        VIEW: (302, 302),
        REVIEW: (302, 302),
        MANAGE: (302, 302),
        UNLOCK: (302, 302),
        ALL_BUT_ADD: (302, 302),
    },
}


def admin_rows() -> dict:
    rows = {}
    for label, levels in ADMIN_MODELS.items():
        app_label, model_name = label.split(".")
        for suffix, answers in ADMIN_PAGES.items():
            route = f"admin/{app_label}/{model_name}/{suffix}"
            rows[route] = {
                method: staff(*(answers[level][index] for level in levels))
                for index, method in enumerate(("GET", "POST"))
            }
    return rows


MATRIX = {**PRODUCT, **ADMIN_SITE, **admin_rows()}


def routes(patterns=None, prefix: str = ""):
    """Every URL pattern the site answers, as its full route."""
    for pattern in get_resolver().url_patterns if patterns is None else patterns:
        if isinstance(pattern, URLResolver):
            yield from routes(pattern.url_patterns, prefix + str(pattern.pattern))
        else:
            yield prefix + str(pattern.pattern)


def test_every_url_of_the_site_has_a_row():
    present = set(routes())
    assert sorted(present - MATRIX.keys()) == [], "URLs without a row in the matrix"
    assert sorted(MATRIX.keys() - present) == [], "rows of URLs that no longer exist"


def test_every_model_in_the_admin_has_its_levels():
    from django.contrib import admin

    registered = {model._meta.label_lower for model in admin.site._registry}
    assert registered == set(ADMIN_MODELS)


@pytest.fixture
def world(django_user_model):
    """One of everything, owned by alice; the clients of every persona (users without a
    password: hashing one costs more than all the requests of a test)."""
    alice = django_user_model.objects.create_user("alice")
    bob = django_user_model.objects.create_user("bob")
    reviewer = staff_in(django_user_model, "rita", "Reviewer")
    administrator = staff_in(django_user_model, "adam", "Administrator")
    superuser = django_user_model.objects.create_superuser("sue", "sue@example.com", None)
    conversation = Conversation.objects.create(owner=alice, title="Alice's plan", model="gpt-5.5")
    reply = Reply.objects.create(
        conversation=conversation,
        user=alice,
        user_input="question",
        text="answer",
        status=Reply.Status.COMPLETED,
        model="gpt-5.5",
        total_tokens=10,
    )
    feedback = Feedback.objects.create(reply=reply, helpful=False, comment="meh")
    record_access(reviewer, conversation, "viewed")
    objects = {
        "auth.group": Group.objects.create(name="Sales"),
        "conversations.user": bob,
        "conversations.conversation": conversation,
        "conversations.reply": reply,
        "conversations.feedback": feedback,
        "conversations.reviewaccess": ReviewAccess.objects.get(),
        "conversations.aimodel": AIModel.objects.get_or_create(model_id="gpt-5.5")[0],
        "conversations.quotapolicy": QuotaPolicy.objects.create(
            scope="user", user=alice, monthly_token_limit=1000
        ),
        "conversations.usageentry": UsageEntry.objects.create(
            user=alice, model="gpt-5.5", month=month_start(), total_tokens=10
        ),
        "axes.accessattempt": AccessAttempt.objects.create(
            username="alice", ip_address="198.51.100.10", failures_since_start=2
        ),
        "axes.accessfailurelog": AccessFailureLog.objects.create(
            username="alice", ip_address="198.51.100.10"
        ),
    }
    clients = {"anonymous": Client()}
    for persona, user in [
        ("owner", alice),
        ("other", bob),
        ("reviewer", reviewer),
        ("administrator", administrator),
        ("superuser", superuser),
    ]:
        clients[persona] = Client()
        clients[persona].force_login(user)
    return {"objects": objects, "clients": clients, "alice": alice}


def url_of(route: str, world) -> str:
    objects = world["objects"]
    conversation = objects["conversations.conversation"]
    url = route.replace("<uuid:conversation_id>", str(conversation.pk))
    url = url.replace("<uuid:reply_id>", str(objects["conversations.reply"].pk))
    url = url.replace("^(?P<app_label>auth|conversations|axes)/$", "conversations/")
    url = url.replace("(?P<url>.*)$", "no-such-page/")
    url = url.replace("<id>", str(objects["conversations.user"].pk))
    if route.startswith("admin/r/"):
        content_type = ContentType.objects.get_for_model(Conversation)
        url = url.replace("<path:content_type_id>", str(content_type.pk))
        url = url.replace("<path:object_id>", str(conversation.pk))
    match = re.match(r"admin/(\w+)/(\w+)/<path:object_id>/", route)
    if match:
        url = url.replace("<path:object_id>", str(objects[".".join(match.groups())].pk))
    assert "<" not in url and "(" not in url, f"fill in the parameters of {route}"
    return "/" + url


def outcome(response):
    if response.status_code == 302:
        location = response["Location"]
        if location.startswith("/login/"):
            return L
        if location.startswith("/admin/login/"):
            return AL
    return response.status_code


@pytest.mark.parametrize(
    "route,method",
    [(route, method) for route, methods in MATRIX.items() for method in methods],
)
def test_each_persona_gets_the_answer_of_the_matrix(route, method, world, fake_upstream):
    url = url_of(route, world)
    wrong = {}
    for persona, expected in zip(PERSONAS, MATRIX[route][method], strict=True):
        # Each persona's request is undone afterwards, so a delete does not spoil the next.
        with transaction.atomic():
            response = getattr(world["clients"][persona], method.lower())(url)
            got = outcome(response)
            transaction.set_rollback(True)
        if got != expected:
            wrong[persona] = f"expected {expected}, got {got}"
    if wrong:
        pytest.fail(f"{method} {url}: {wrong}")
    assert fake_upstream.requests == []  # nothing here may call the relay
