"""One login throttle for every login form (django-axes, conversations/login_throttle.py):
failures are counted per (username, client address) and per address, so a guesser is refused
while the same person elsewhere, or colleagues behind the same address, are not; the refusal
is a plain sentence on the login page; the client's address comes from X-Forwarded-For only
behind a trusted proxy. Deactivating a user ends their session and open streams
(failure-cases.md 11, 17)."""

import time
from datetime import timedelta

import httpx
import pytest
from axes.models import AccessAttempt
from django.db.models import F
from django.test import Client
from django.utils import timezone

from conversations.models import Conversation, Reply
from tests.conftest import PASSWORD
from tests.review_fixtures import staff_in

pytestmark = pytest.mark.django_db

LOCKED_OUT = "Too many failed attempts to log in"
OFFICE, HOME = "198.51.100.10", "203.0.113.20"


@pytest.fixture(autouse=True)
def fast_passwords(settings):
    """Each login checks a password; the fastest hasher keeps dozens of them cheap."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def client_at(address: str) -> Client:
    return Client(REMOTE_ADDR=address)


def fail_logins(client, username, times, url="/login/"):
    for _ in range(times):
        client.post(url, {"username": username, "password": "wrong"})


def log_in(client, username, url="/login/"):
    return client.post(url, {"username": username, "password": PASSWORD})


def wait(minutes: float) -> None:
    """Time passes for the throttle: every stored failure moves that far into the past."""
    AccessAttempt.objects.update(attempt_time=F("attempt_time") - timedelta(minutes=minutes))


def test_repeated_failed_logins_are_refused_with_a_sentence_keeping_the_username(alice):
    client = client_at(OFFICE)
    fail_logins(client, "alice", 5)

    response = log_in(client, "alice")

    assert response.status_code == 429
    assert int(response["Retry-After"]) == 900
    assert LOCKED_OUT in response.text and "wait 15 minutes" in response.text
    assert 'value="alice"' in response.text  # the typed username stays in the box
    assert "_auth_user_id" not in client.session


def test_the_refusal_is_said_in_chinese_too(alice):
    client = client_at(OFFICE)
    fail_logins(client, "alice", 5)

    response = client.post(
        "/login/",
        {"username": "alice", "password": PASSWORD},
        headers={"Accept-Language": "zh-CN,zh;q=0.9"},
    )

    assert response.status_code == 429
    assert "登录失败次数过多" in response.text and "15 分钟" in response.text


def test_the_admin_login_is_throttled_like_the_chat_login(django_user_model):
    django_user_model.objects.create_superuser("sue", "sue@example.com", PASSWORD)
    client = client_at(OFFICE)
    fail_logins(client, "sue", 12, url="/admin/login/")

    response = log_in(client, "sue", url="/admin/login/")

    assert response.status_code == 429
    assert LOCKED_OUT in response.text
    assert 'value="sue"' in response.text
    assert "_auth_user_id" not in client.session
    assert client.get("/admin/").status_code == 302  # still sent to the admin's login


def test_failures_for_a_username_from_one_address_do_not_refuse_it_from_another(alice):
    fail_logins(client_at(OFFICE), "alice", 5)

    response = log_in(client_at(HOME), "alice")

    assert response.status_code == 302


def test_failures_for_one_username_do_not_refuse_a_colleague_at_the_same_address(alice, bob):
    office = client_at(OFFICE)
    fail_logins(office, "alice", 5)
    fail_logins(office, "carol", 4)

    assert log_in(client_at(OFFICE), "bob").status_code == 302
    assert log_in(client_at(OFFICE), "alice").status_code == 429


def test_many_usernames_from_one_address_refuse_that_address_only(alice, settings):
    settings.LOGIN_ADDRESS_FAILURE_LIMIT = 12
    office = client_at(OFFICE)
    for name in ("ann", "ben", "cat", "dan", "eve"):
        fail_logins(office, name, 2)
    fail_logins(office, "fay", 1)
    assert log_in(client_at(OFFICE), "alice").status_code == 302  # 11 failures from here
    fail_logins(office, "gus", 1)

    assert log_in(client_at(OFFICE), "alice").status_code == 429  # 12
    assert log_in(client_at(HOME), "alice").status_code == 302


def test_fewer_failures_from_one_address_than_its_limit_refuse_nobody_else(alice):
    office = client_at(OFFICE)
    for name in ("ann", "ben", "cat", "dan", "eve", "fay", "gus"):
        fail_logins(office, name, 1)

    assert log_in(client_at(OFFICE), "alice").status_code == 302


def test_a_successful_login_clears_that_usernames_earlier_failures(alice):
    client = client_at(OFFICE)
    fail_logins(client, "alice", 4)
    assert log_in(client, "alice").status_code == 302
    client.post("/logout/")
    fail_logins(client, "alice", 4)
    assert log_in(client, "alice").status_code == 302


def test_a_successful_login_does_not_clear_failures_for_other_usernames(alice, bob, settings):
    """Else a guesser with an account of their own, or any colleague logging in from the
    same office, would wipe the count of a guesser trying many usernames."""
    settings.LOGIN_ADDRESS_FAILURE_LIMIT = 6
    office = client_at(OFFICE)
    for name in ("ann", "ben", "cat", "dan"):
        fail_logins(office, name, 1)
    assert log_in(client_at(OFFICE), "alice").status_code == 302
    fail_logins(office, "eve", 1)
    fail_logins(office, "fay", 1)

    assert log_in(client_at(OFFICE), "bob").status_code == 429


def test_the_refusal_ends_after_the_window_without_tries(alice):
    client = client_at(OFFICE)
    fail_logins(client, "alice", 5)
    wait(minutes=16)

    assert log_in(client, "alice").status_code == 302


def test_each_try_during_the_wait_starts_it_again(alice):
    """Repeated failures slow the guesser down: one who keeps trying never gets an answer."""
    client = client_at(OFFICE)
    fail_logins(client, "alice", 5)
    wait(minutes=10)
    assert log_in(client, "alice").status_code == 429  # refused, and the wait starts again
    wait(minutes=10)  # 20 minutes after the fifth failure, 10 after the last try

    assert log_in(client, "alice").status_code == 429
    wait(minutes=16)
    assert log_in(client, "alice").status_code == 302


def test_administrators_see_failed_logins_in_the_admin_and_reviewers_do_not(
    alice, django_user_model
):
    fail_logins(client_at(OFFICE), "alice", 5)
    administrator = Client()
    administrator.force_login(staff_in(django_user_model, "adam", "Administrator"))
    reviewer = Client()
    reviewer.force_login(staff_in(django_user_model, "rita", "Reviewer"))

    attempts = administrator.get("/admin/axes/accessattempt/")
    failures = administrator.get("/admin/axes/accessfailurelog/")

    assert attempts.status_code == 200 and OFFICE in attempts.text
    assert failures.status_code == 200 and failures.text.count(OFFICE) >= 5
    assert reviewer.get("/admin/axes/accessattempt/").status_code == 403
    assert reviewer.get("/admin/axes/accessfailurelog/").status_code == 403


def test_the_login_records_read_in_chinese_in_the_admin(alice, django_user_model):
    fail_logins(client_at(OFFICE), "alice", 2)
    administrator = Client()
    administrator.force_login(staff_in(django_user_model, "adam", "Administrator"))
    zh = {"Accept-Language": "zh-CN,zh;q=0.9"}

    attempts = administrator.get("/admin/axes/accessattempt/", headers=zh).text
    failures = administrator.get("/admin/axes/accessfailurelog/", headers=zh).text

    assert "登录失败计数" in attempts and "失败次数" in attempts and "IP 地址" in attempts
    assert "登录失败记录" in failures


def test_an_administrator_lets_someone_try_again_by_deleting_their_count(alice, django_user_model):
    fail_logins(client_at(OFFICE), "alice", 5)
    administrator = Client()
    administrator.force_login(staff_in(django_user_model, "adam", "Administrator"))
    attempt = AccessAttempt.objects.get(username="alice")

    administrator.post(f"/admin/axes/accessattempt/{attempt.pk}/delete/", {"post": "yes"})

    assert log_in(client_at(OFFICE), "alice").status_code == 302


def log_in_over_http(client: httpx.Client, password: str, headers=None) -> httpx.Response:
    client.get("/login/")
    return client.post(
        "/login/",
        data={
            "username": "alice",
            "password": password,
            "csrfmiddlewaretoken": client.cookies["csrftoken"],
        },
        headers=headers,
    )


def fail_over_http(server, headers) -> None:
    with httpx.Client(base_url=server.url, timeout=10) as client:
        log_in_over_http(client, "wrong", headers)


def test_the_server_refuses_with_the_login_page_and_its_sentence(asgi_server, alice):
    with httpx.Client(base_url=asgi_server.url, timeout=10) as client:
        for _ in range(5):
            log_in_over_http(client, "wrong")

        response = log_in_over_http(client, PASSWORD)

    assert response.status_code == 429 and response.headers["Retry-After"] == "900"
    assert LOCKED_OUT in response.text and 'value="alice"' in response.text


@pytest.mark.parametrize("trusted", [[], ["10.9.9.9"]])
def test_a_forged_forwarded_for_does_not_change_the_counted_address(
    trusted, settings, transactional_db
):
    settings.TRUSTED_PROXIES = trusted
    from tests.conftest import UvicornThread

    server = UvicornThread().start()
    try:
        fail_over_http(server, {"X-Forwarded-For": "198.51.100.77"})
    finally:
        server.stop()

    assert list(AccessAttempt.objects.values_list("ip_address", flat=True)) == ["127.0.0.1"]


def test_a_trusted_proxy_names_the_client(settings, transactional_db):
    settings.TRUSTED_PROXIES = ["127.0.0.1"]
    from tests.conftest import UvicornThread

    server = UvicornThread().start()
    try:
        fail_over_http(server, {"X-Forwarded-For": "192.0.2.1, 198.51.100.77"})
    finally:
        server.stop()

    # The proxy's own client is the last address before it; earlier ones are the client's say.
    assert list(AccessAttempt.objects.values_list("ip_address", flat=True)) == ["198.51.100.77"]


def test_deactivating_a_user_ends_their_session(alice, alice_client):
    assert alice_client.get("/").status_code == 200
    alice.is_active = False
    alice.save()
    response = alice_client.get("/")
    assert response.status_code == 302 and response["Location"].startswith("/login/")


@pytest.mark.django_db(transaction=True)
def test_deactivating_a_user_cuts_their_open_stream(asgi_server, alice):
    # (A reply stored as generating that this process is not writing: the stream waits for it.)
    conversation = Conversation.objects.create(owner=alice, model="gpt-5.5")
    reply = Reply.objects.create(
        conversation=conversation,
        user=alice,
        user_input="hi",
        status=Reply.Status.IN_PROGRESS,
        model="gpt-5.5",
        worker="elsewhere:1",
    )
    Reply.objects.filter(pk=reply.pk).update(heartbeat_at=timezone.now())  # alive elsewhere
    django_client = Client()
    django_client.force_login(alice)
    with httpx.Client(base_url=asgi_server.url, timeout=10) as client:
        client.cookies.set("sessionid", django_client.cookies["sessionid"].value)
        started = time.monotonic()
        with client.stream("GET", f"/r/{reply.pk}/stream/") as response:
            assert response.status_code == 200
            type(alice).objects.filter(pk=alice.pk).update(is_active=False)
            body = "".join(response.iter_lines())
        assert time.monotonic() - started < 5
        assert "You are no longer signed in" in body
