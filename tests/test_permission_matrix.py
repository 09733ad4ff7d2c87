"""The permission matrix: every URL of the product and of the admin, by GET and POST, by {not
logged in, owner, other user, reviewer, administrator, superuser}, with the answer each one
must get (failure-cases.md 8-10, 12). The URLs are read from the resolver, so a new URL
without a row here fails the suite.

Outcomes: a status code; "login" (a redirect to the site's login page); "admin_login" (to the
admin's login page). POSTs carry an empty body (a malformed request for forms: 400) and the
CSRF token the persona's last page gave, as a browser does: the clients enforce CSRF checks.

A second table tries the user and group admin against chosen targets (an ordinary staff member,
a superuser, someone holding a permission the administrator lacks, a role, a department) with
valid form bodies, and checks that each attempt took effect exactly when it should."""

import re

import pytest
from axes.models import AccessAttempt, AccessFailureLog
from django.contrib.auth.models import Group, Permission
from django.contrib.contenttypes.models import ContentType
from django.core.files.base import ContentFile
from django.db import transaction
from django.test import Client
from django.urls import URLResolver, get_resolver
from django.utils import timezone

from conversations.audit import record_access
from conversations.models import (
    AIModel,
    Attachment,
    Conversation,
    Feedback,
    QuotaPolicy,
    Reply,
    ReviewAccess,
    UsageEntry,
)
from conversations.models.usage import month_start
from tests.review_fixtures import role, staff_in

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
    "c/<uuid:conversation_id>/export.zip": {
        "GET": owner_only(200),
        "POST": (L, 405, 405, 405, 405, 405),
    },
    # A file: its owner, and those who read conversations in the admin (audited).
    "files/<uuid:attachment_id>/": {
        "GET": (L, 200, 404, 200, 200, 200),
        "POST": (L, 405, 405, 405, 405, 405),
    },
    f"{C}pin/": {"GET": (L, 405, 405, 405, 405, 405), "POST": owner_only(302)},
    f"{C}unpin/": {"GET": (L, 405, 405, 405, 405, 405), "POST": owner_only(302)},
    f"{C}archive/": {"GET": (L, 405, 405, 405, 405, 405), "POST": owner_only(302)},
    f"{C}unarchive/": {"GET": (L, 405, 405, 405, 405, 405), "POST": owner_only(302)},
    f"{C}place/": {"GET": owner_only(302), "POST": (L, 405, 405, 405, 405, 405)},
    # Undo of a delete: only a conversation its owner deleted minutes ago, so a 404 for this
    # one (not deleted); the owner's Undo is in test_organise.py.
    f"{C}restore/": {"GET": (L, 405, 405, 405, 405, 405), "POST": (L, 404, 404, 404, 404, 404)},
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
    "search/live/": {"GET": signed_in(200), "POST": signed_in(405)},
    "usage/": {"GET": signed_in(200), "POST": signed_in(405)},
    "reviews/": {"GET": signed_in(200), "POST": signed_in(405)},
    # Logging in and out, the health check and the language switcher.
    "login/": {"GET": (200, 302, 302, 302, 302, 302), "POST": (200, 302, 302, 302, 302, 302)},
    "logout/": {"GET": anyone(405), "POST": anyone(L)},
    # The company sign-in: 404 without OIDC_ISSUER (as here); configured, tests/test_oidc.py.
    "oidc/authenticate/": {"GET": anyone(404), "POST": anyone(405)},
    "oidc/callback/": {"GET": anyone(404), "POST": anyone(405)},
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
    # The admin's "Log out" is the site's own sign-out (chatsite/urls.py): a POST, for anyone.
    "admin/logout/": {"GET": anyone(405), "POST": anyone(L)},
    "admin/password_change/": {"GET": staff(200, 200, 200), "POST": staff(200, 200, 200)},
    "admin/password_change/done/": {"GET": staff(200, 200, 200), "POST": staff(405, 405, 405)},
    "admin/autocomplete/": {"GET": staff(403, 403, 403), "POST": staff(405, 405, 405)},
    "admin/jsi18n/": {"GET": staff(200, 200, 200), "POST": staff(405, 405, 405)},
    "admin/r/<path:content_type_id>/<path:object_id>/": {
        "GET": staff(302, 302, 302),
        "POST": staff(302, 302, 302),
    },
    # An app's index (the labels in the order their admins were registered).
    "admin/^(?P<app_label>conversations|auth|axes)/$": {
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
    attachment = Attachment(
        owner=alice, reply=reply, kind="text", name="notes.txt", content_type="text/plain", size=5
    )
    attachment.file.save("notes.txt", ContentFile(b"notes"))
    record_access(reviewer, conversation, "viewed")
    objects = {
        "auth.group": Group.objects.create(name="Sales"),
        "conversations.user": bob,
        "conversations.conversation": conversation,
        "conversations.reply": reply,
        "conversations.feedback": feedback,
        "conversations.attachment": attachment,
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
    clients = {"anonymous": Client(enforce_csrf_checks=True)}
    for persona, user in [
        ("owner", alice),
        ("other", bob),
        ("reviewer", reviewer),
        ("administrator", administrator),
        ("superuser", superuser),
    ]:
        clients[persona] = Client(enforce_csrf_checks=True)
        clients[persona].force_login(user)
    tokens = {persona: csrf_token_of(client) for persona, client in clients.items()}
    return {"objects": objects, "clients": clients, "tokens": tokens, "alice": alice}


def csrf_token_of(client) -> str:
    """The token a page's forms carry (the login page for a visitor, the chat for the rest)."""
    page = client.get("/login/")
    if page.status_code == 302:
        page = client.get("/")
    return re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)


def attempt(world, persona: str, method: str, url: str, data=None):
    """One request as the persona's browser sends it: with the CSRF token of its page."""
    client = world["clients"][persona]
    headers = {"X-CSRFToken": world["tokens"][persona]}
    return getattr(client, method.lower())(url, data, headers=headers)


def url_of(route: str, world) -> str:
    objects = world["objects"]
    conversation = objects["conversations.conversation"]
    url = route.replace("<uuid:conversation_id>", str(conversation.pk))
    url = url.replace("<uuid:reply_id>", str(objects["conversations.reply"].pk))
    url = url.replace("<uuid:attachment_id>", str(objects["conversations.attachment"].pk))
    url = url.replace("^(?P<app_label>conversations|auth|axes)/$", "conversations/")
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
            response = attempt(world, persona, method, url)
            got = outcome(response)
            transaction.set_rollback(True)
        if got != expected:
            wrong[persona] = f"expected {expected}, got {got}"
    if wrong:
        pytest.fail(f"{method} {url}: {wrong}")
    assert fake_upstream.requests == []  # nothing here may call the relay


# --- Against whom: the user and group admin with valid bodies, by target ---------------------
# stan is an ordinary staff member, sam a superuser, lena a deactivated member of "Legal" (a
# group holding a permission administrators lack); "Sales" is a department (no permissions),
# "Board" a department sam belongs to.
# Each attempt is built from the world as (method, URL, body, effect): the effect says whether
# the attempt took hold, checked before it is undone. DONE is a redirect after which it holds;
# any other answer must leave it unheld.
DONE = "done"
NEW_PASSWORD = "a new long passphrase"
USERS, GROUPS = "/admin/conversations/user/", "/admin/auth/group/"


@pytest.fixture
def targets(world, django_user_model):
    legal = Group.objects.create(name="Legal")
    legal.permissions.add(legal_power())
    lena = django_user_model.objects.create_user("lena", is_staff=True, is_active=False)
    lena.groups.add(legal)
    sam = django_user_model.objects.create_superuser("sam", "sam@example.com", None)
    board = Group.objects.create(name="Board")  # a department with a superuser in it
    sam.groups.add(board)
    return {
        "stan": django_user_model.objects.create_user("stan", "stan@example.com", is_staff=True),
        "sam": sam,
        "Board": board,
        "lena": lena,
        "adam": django_user_model.objects.get(username="adam"),
        "Legal": legal,
        "Sales": world["objects"]["auth.group"],
        "Reviewer": role("Reviewer"),
        "Administrator": role("Administrator"),
    }


def legal_power() -> Permission:
    """Changing conversations: it unlocks the legal-hold actions (superusers only)."""
    return Permission.objects.get(codename="change_conversation")


def fresh(obj):
    """The object as stored now, or None once deleted."""
    return type(obj).objects.filter(pk=obj.pk).first()


def user_form(user, **changes) -> dict:
    """The user's change form as a superuser's browser posts it, with some fields changed."""
    joined = timezone.localtime(user.date_joined)
    fields = {
        "username": user.username,
        "first_name": user.first_name,
        "last_name": user.last_name,
        "email": user.email,
        "is_active": user.is_active,
        "is_staff": user.is_staff,
        "is_superuser": user.is_superuser,
        "groups": [group.pk for group in user.groups.all()],
        "user_permissions": [permission.pk for permission in user.user_permissions.all()],
        "date_joined_0": joined.strftime("%Y-%m-%d"),
        "date_joined_1": joined.strftime("%H:%M:%S"),
        "initial-date_joined_0": joined.strftime("%Y-%m-%d"),
        "initial-date_joined_1": joined.strftime("%H:%M:%S"),
        **changes,
    }
    # A ticked box is sent as "on", an unticked one not at all.
    return {name: "on" if value is True else value for name, value in fields.items() if value}


def change_user(name, groups=None, **changes):
    """The user's form with some fields changed; groups by name (all of them, as ticked)."""

    def build(t):
        if groups is not None:
            changes["groups"] = [t[group].pk for group in groups]
        return "POST", f"{USERS}{t[name].pk}/change/", user_form(t[name], **changes)

    return build


def get(page: str, name: str):
    return lambda t: ("GET", f"{USERS}{t[name].pk}/{page}", None)


def action(name: str, action_name: str, **extra):
    def build(t):
        body = {"action": action_name, "_selected_action": [t[name].pk], **extra}
        return "POST", USERS, body

    return build


def change_group(name, new_name=None, power=False):
    def build(t):
        group = t[name]
        permissions = [p.pk for p in group.permissions.all()]
        if power:
            permissions.append(legal_power().pk)
        body = {"name": new_name or group.name, "permissions": permissions}
        return "POST", f"{GROUPS}{group.pk}/change/", body

    return build


def holds_power(name):
    return lambda t: fresh(t[name]).permissions.filter(pk=legal_power().pk).exists()


def in_group(user: str, group: str):
    return lambda t: fresh(t[user]).groups.filter(pk=t[group].pk).exists()


def gone(name):
    return lambda t: fresh(t[name]) is None


TARGETED = {
    # what: (build, effect, (reviewer, administrator, superuser))
    "change stan's email": (
        change_user("stan", email="new@example.com"),
        lambda t: fresh(t["stan"]).email == "new@example.com",
        (403, DONE, DONE),
    ),
    "change sam's email": (
        change_user("sam", email="new@example.com"),
        lambda t: fresh(t["sam"]).email == "new@example.com",
        (403, 403, DONE),
    ),
    "deactivate sam": (
        change_user("sam", is_active=False),
        lambda t: not fresh(t["sam"]).is_active,
        (403, 403, DONE),
    ),
    "take sam's superuser status": (
        change_user("sam", is_superuser=False),
        lambda t: not fresh(t["sam"]).is_superuser,
        (403, 403, DONE),
    ),
    "put sam in Sales": (
        change_user("sam", groups=["Sales"]),
        in_group("sam", "Sales"),
        (403, 403, DONE),
    ),
    "reactivate lena (in Legal)": (
        change_user("lena", is_active=True),
        lambda t: fresh(t["lena"]).is_active,
        (403, 403, DONE),
    ),
    "make stan a superuser": (
        change_user("stan", is_superuser=True),
        lambda t: fresh(t["stan"]).is_superuser,
        (403, 302, DONE),
    ),
    "grant stan a permission": (
        lambda t: change_user("stan", user_permissions=[legal_power().pk])(t),
        lambda t: fresh(t["stan"]).user_permissions.exists(),
        (403, 302, DONE),
    ),
    "put stan in Reviewer": (
        change_user("stan", groups=["Reviewer"]),
        in_group("stan", "Reviewer"),
        (403, DONE, DONE),
    ),
    "adam joins Legal": (
        change_user("adam", groups=["Administrator", "Legal"]),
        in_group("adam", "Legal"),
        (403, 200, DONE),  # Legal is not among the groups offered: the form says so
    ),
    "set stan's password": (
        lambda t: (
            "POST",
            f"{USERS}{t['stan'].pk}/password/",
            {"password1": NEW_PASSWORD, "password2": NEW_PASSWORD, "usable_password": "true"},
        ),
        lambda t: fresh(t["stan"]).check_password(NEW_PASSWORD),
        (403, DONE, DONE),
    ),
    "set sam's password": (
        lambda t: (
            "POST",
            f"{USERS}{t['sam'].pk}/password/",
            {"password1": NEW_PASSWORD, "password2": NEW_PASSWORD, "usable_password": "true"},
        ),
        lambda t: fresh(t["sam"]).check_password(NEW_PASSWORD),
        (403, 403, DONE),
    ),
    "open sam's password page": (get("password/", "sam"), None, (403, 403, 200)),
    "open sam's page": (get("change/", "sam"), None, (403, 200, 200)),  # read-only
    "open sam's history": (get("history/", "sam"), None, (403, 200, 200)),
    "open sam's delete page": (get("delete/", "sam"), None, (403, 403, 200)),
    "delete stan": (
        lambda t: ("POST", f"{USERS}{t['stan'].pk}/delete/", {"post": "yes"}),
        gone("stan"),
        (403, DONE, DONE),
    ),
    "delete sam": (
        lambda t: ("POST", f"{USERS}{t['sam'].pk}/delete/", {"post": "yes"}),
        gone("sam"),
        (403, 403, DONE),
    ),
    "delete sam from the list": (
        action("sam", "delete_selected", post="yes"),
        gone("sam"),
        (403, 403, DONE),
    ),
    "place sam under legal hold": (
        action("sam", "place_legal_hold"),
        lambda t: fresh(t["sam"]).legal_hold,
        (403, 302, DONE),  # refused with a message on the list
    ),
    "place stan under legal hold": (
        action("stan", "place_legal_hold"),
        lambda t: fresh(t["stan"]).legal_hold,
        (403, DONE, DONE),
    ),
    "give the Administrator group a permission": (
        change_group("Administrator", power=True),
        holds_power("Administrator"),
        (403, 403, DONE),
    ),
    "give Sales a permission": (
        change_group("Sales", power=True),
        holds_power("Sales"),
        (403, 302, DONE),  # the name is saved, the permissions are read-only
    ),
    "rename Sales": (
        change_group("Sales", new_name="Sales EMEA"),
        lambda t: fresh(t["Sales"]).name == "Sales EMEA",
        (403, DONE, DONE),
    ),
    "create a group with a permission": (
        lambda t: ("POST", f"{GROUPS}add/", {"name": "Hold", "permissions": [legal_power().pk]}),
        lambda t: Group.objects.filter(name="Hold", permissions=legal_power()).exists(),
        (403, 302, DONE),
    ),
    "delete the Administrator group from the list": (
        lambda t: (
            "POST",
            GROUPS,
            {
                "action": "delete_selected",
                "post": "yes",
                "_selected_action": [t["Administrator"].pk],
            },
        ),
        gone("Administrator"),
        (403, 403, DONE),
    ),
    "delete Sales": (
        lambda t: ("POST", f"{GROUPS}{t['Sales'].pk}/delete/", {"post": "yes"}),
        gone("Sales"),
        (403, DONE, DONE),
    ),
    "delete Board (sam is in it)": (
        lambda t: ("POST", f"{GROUPS}{t['Board'].pk}/delete/", {"post": "yes"}),
        gone("Board"),
        (403, 403, DONE),
    ),
    "delete Board from the list": (
        lambda t: (
            "POST",
            GROUPS,
            {"action": "delete_selected", "post": "yes", "_selected_action": [t["Board"].pk]},
        ),
        gone("Board"),
        (403, 403, DONE),
    ),
    "rename Board (sam is in it)": (
        change_group("Board", new_name="Directors"),
        lambda t: fresh(t["Board"]).name == "Directors",
        (403, 403, DONE),
    ),
    "delete the Reviewer group": (
        lambda t: ("POST", f"{GROUPS}{t['Reviewer'].pk}/delete/", {"post": "yes"}),
        gone("Reviewer"),
        (403, 403, DONE),
    ),
}


@pytest.mark.parametrize("what", TARGETED)
def test_each_persona_gets_the_answer_against_each_target(what, world, targets):
    build, effect, answers = TARGETED[what]
    wrong = {}
    for persona, expected in zip(PERSONAS, staff(*answers), strict=True):
        with transaction.atomic():
            method, url, body = build(targets)
            response = attempt(world, persona, method, url, body)
            got = outcome(response)
            if effect is not None and effect(targets):
                got = DONE if got == 302 else f"{got}, and it took effect"
            transaction.set_rollback(True)
        if got != expected:
            wrong[persona] = f"expected {expected}, got {got}"
    if wrong:
        pytest.fail(f"{what}: {wrong}")
