"""Personas of the review workspace and a conversation worth reviewing: alice owns it (in the
group "Sales"), bob is another user, rita is a reviewer, adam an administrator, and sue a
superuser. Imported by the review tests: `from tests.review_fixtures import *`."""

from decimal import Decimal
from importlib import import_module

import pytest
from django.contrib.auth.models import Group, Permission
from django.test import Client
from django.utils import timezone

from conversations.models import Conversation, Reply

__all__ = [
    "administrator",
    "administrator_client",
    "alices_conversation",
    "reviewer",
    "reviewer_client",
    "role",
    "staff_in",
    "superuser",
    "superuser_client",
]


def role(name: str) -> Group:
    """One of the groups migrations 0004 and 0005 create. A transactional test (the browser's)
    empties the database afterwards, so it is made again, with their permissions, if gone."""
    group, created = Group.objects.get_or_create(name=name)
    if created:
        roles = import_module("conversations.migrations.0004_review_audit")
        feedback = import_module("conversations.migrations.0005_feedback_retention")
        logins = import_module("conversations.migrations.0010_login_attempts_for_administrators")
        codenames = [*roles.ROLE_PERMISSIONS[name], *feedback.FEEDBACK_PERMISSIONS]
        if name == "Administrator":
            codenames += logins.ADMINISTRATOR_PERMISSIONS
        group.permissions.add(*Permission.objects.filter(codename__in=codenames))
    return group


def staff_in(django_user_model, username: str, group: str):
    """A staff member in one of the roles the migrations create."""
    user = django_user_model.objects.create_user(username, is_staff=True)
    user.groups.add(role(group))
    return user


def client_of(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def reviewer(django_user_model):
    return staff_in(django_user_model, "rita", "Reviewer")


@pytest.fixture
def administrator(django_user_model):
    return staff_in(django_user_model, "adam", "Administrator")


@pytest.fixture
def superuser(django_user_model):
    return django_user_model.objects.create_superuser("sue", "sue@example.com", None)


@pytest.fixture
def reviewer_client(reviewer):
    return client_of(reviewer)


@pytest.fixture
def administrator_client(administrator):
    return client_of(administrator)


@pytest.fixture
def superuser_client(superuser):
    return client_of(superuser)


@pytest.fixture
def alices_conversation(alice):
    """Two turns: a completed reply with usage, cost and markdown, and a failed one."""
    sales, _created = Group.objects.get_or_create(name="Sales")
    alice.groups.add(sales)
    conversation = Conversation.objects.create(
        owner=alice, title="Quarterly plan", model="gpt-5.5", instructions="Be brief."
    )
    started = timezone.now()
    first = Reply.objects.create(
        conversation=conversation,
        user=alice,
        position=0,
        user_input="How do we grow?",
        text="Grow **carefully**:\n\n- hire\n- sell",
        status=Reply.Status.COMPLETED,
        model="gpt-5.5",
        request_params={"model": "gpt-5.5", "instructions": "Be brief.", "stream": True},
        upstream_id="resp_abc123",
        upstream_status="completed",
        output_items=[{"type": "message", "content": [{"type": "output_text", "text": "Grow"}]}],
        usage_raw={"input_tokens": 120, "output_tokens": 30, "total_tokens": 150},
        input_tokens=120,
        output_tokens=30,
        total_tokens=150,
        cost=Decimal("0.0125"),
        cost_currency="USD",
        started_at=started,
        first_token_at=started + timezone.timedelta(seconds=1.5),
        finished_at=started + timezone.timedelta(seconds=4),
    )
    Reply.objects.create(
        conversation=conversation,
        user=alice,
        position=1,
        parent=first,
        user_input="And next year?",
        text="Partial ans",
        status=Reply.Status.FAILED,
        model="gpt-5.5",
        error_code="upstream_error",
        error_message="The AI service had a problem and could not answer. Please try again.",
        error_detail="HTTP 502 from relay: bad gateway",
    )
    return conversation
