"""Access control and request hygiene: another user's things are 404 everywhere with nothing
changed and no upstream call; CSRF and Origin are enforced; no GET changes state; malformed
bodies get 400 with a message (failure-cases.md 8, 13-15)."""

import uuid

import pytest
from django.test import Client

from conversations.models import Conversation, Reply

pytestmark = pytest.mark.django_db


@pytest.fixture
def alices_reply(alice):
    conversation = Conversation.objects.create(
        owner=alice, title="Alice's secret plan", model="gpt-5.5"
    )
    return Reply.objects.create(
        conversation=conversation,
        user=alice,
        user_input="secret question",
        text="secret answer",
        status=Reply.Status.FAILED,
        model="gpt-5.5",
    )


def owner_urls(reply):
    c = reply.conversation_id
    r = reply.pk
    return [
        ("get", f"/c/{c}/"),
        ("get", f"/c/{c}/delete/"),
        ("post", f"/c/{c}/delete/"),
        ("post", f"/c/{c}/rename/"),
        ("post", f"/c/{c}/settings/"),
        ("get", f"/r/{r}/stream/"),
        ("post", f"/r/{r}/stop/"),
        ("post", f"/r/{r}/retry/"),
    ]


def test_another_users_conversation_and_replies_are_404_everywhere(
    alices_reply, bob_client, fake_upstream
):
    for method, url in owner_urls(alices_reply):
        data = {"title": "pwned", "model": "gpt-5.5", "truncation": "auto"}
        response = getattr(bob_client, method)(url, data if method == "post" else None)
        assert response.status_code == 404, (method, url)
        assert b"secret" not in response.content

    conversation = Conversation.objects.get(pk=alices_reply.conversation_id)
    assert conversation.title == "Alice's secret plan"
    assert Reply.objects.count() == 1
    assert fake_upstream.requests == []


def test_sending_into_another_users_conversation_is_404(alices_reply, bob_client, fake_upstream):
    response = bob_client.post(
        "/send/",
        {
            "message": "hi",
            "conversation": str(alices_reply.conversation_id),
            "client_token": str(uuid.uuid4()),
            "model": "gpt-5.5",
            "truncation": "auto",
        },
    )
    assert response.status_code == 404
    assert Reply.objects.count() == 1
    assert fake_upstream.requests == []


def test_anonymous_visitors_are_sent_to_log_in(alices_reply):
    client = Client()
    for method, url in [("get", "/"), ("post", "/send/"), *owner_urls(alices_reply)]:
        response = getattr(client, method)(url)
        assert response.status_code == 302, (method, url)
        assert response["Location"].startswith("/login/")


def test_post_without_csrf_token_is_refused(alice):
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)
    response = client.post("/send/", {"message": "hi"})
    assert response.status_code == 403
    assert Reply.objects.count() == 0


def test_post_from_a_foreign_origin_is_refused(alice):
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)
    client.get("/")
    token = client.cookies["csrftoken"].value
    response = client.post(
        "/send/",
        {"message": "hi", "csrfmiddlewaretoken": token},
        headers={"Origin": "https://evil.example"},
    )
    assert response.status_code == 403
    assert Reply.objects.count() == 0


@pytest.mark.parametrize("url", ["/send/", "/r/{r}/stop/", "/r/{r}/retry/", "/c/{c}/rename/"])
def test_state_changing_urls_refuse_get(alice_client, alices_reply, url):
    url = url.format(r=alices_reply.pk, c=alices_reply.conversation_id)
    assert alice_client.get(url).status_code == 405


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"message": "hi"},
        {"message": "hi", "client_token": "not-a-uuid", "model": "gpt-5.5", "truncation": "auto"},
        {
            "message": "hi",
            "client_token": str(uuid.uuid4()),
            "model": "no-such-model",
            "truncation": "auto",
        },
        {
            "message": "hi",
            "client_token": str(uuid.uuid4()),
            "model": "gpt-5.5",
            "truncation": "auto",
            "temperature": "hot",
        },
        {
            "message": "hi",
            "client_token": str(uuid.uuid4()),
            "model": "gpt-5.5",
            "truncation": "auto",
            "temperature": "9",
        },
        {
            "message": "hi",
            "client_token": str(uuid.uuid4()),
            "model": "gpt-5.5",
            "truncation": "sideways",
        },
        {
            "message": "   ",
            "client_token": str(uuid.uuid4()),
            "model": "gpt-5.5",
            "truncation": "auto",
        },
        {
            "message": "hi",
            "client_token": str(uuid.uuid4()),
            "model": "gpt-5.5",
            "truncation": "auto",
            "conversation": "zzz",
        },
    ],
)
def test_malformed_send_bodies_get_400_with_a_message(alice_client, body, fake_upstream):
    response = alice_client.post("/send/", body, headers={"HX-Request": "true"})
    assert response.status_code == 400
    assert response.text.strip()
    assert Reply.objects.count() == 0
    assert fake_upstream.requests == []


def test_malformed_rename_and_settings_get_400(alice_client, alices_reply):
    c = alices_reply.conversation_id
    assert alice_client.post(f"/c/{c}/rename/", {"title": ""}).status_code == 400
    assert alice_client.post(f"/c/{c}/settings/", {"model": "x", "top_p": "2"}).status_code == 400


def test_non_utf8_and_json_bodies_get_400(alice_client):
    response = alice_client.post(
        "/send/", b"\xff\xfe\x00garbage", content_type="application/octet-stream"
    )
    assert response.status_code == 400
    response = alice_client.post("/send/", '{"message": "hi"}', content_type="application/json")
    assert response.status_code == 400


def test_api_key_and_upstream_host_never_reach_the_browser(alice_client, alices_reply, settings):
    pages = [alice_client.get("/"), alice_client.get(f"/c/{alices_reply.conversation_id}/")]
    for response in pages:
        assert settings.RESPONSES_API_KEY.encode() not in response.content
        assert b"127.0.0.1:" not in response.content
        assert b"elkapi" not in response.content


def test_every_page_has_a_strict_csp_with_a_fresh_nonce(alice_client, alices_reply, admin_client):
    seen = set()
    pages = [
        alice_client.get("/"),
        alice_client.get(f"/c/{alices_reply.conversation_id}/"),
        Client().get("/login/"),
        admin_client.get("/admin/"),
    ]
    for response in pages:
        policy = response["Content-Security-Policy"]
        assert "default-src 'self'" in policy
        assert "img-src 'self' data:" in policy
        assert "object-src 'none'" in policy and "frame-ancestors 'none'" in policy
        assert "unsafe-inline" not in policy and "unsafe-eval" not in policy
        nonce = policy.split("'nonce-")[1].split("'")[0]
        assert f'nonce="{nonce}"' in response.text
        seen.add(nonce)
    assert len(seen) == len(pages)
