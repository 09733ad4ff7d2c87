"""Company sign-in (OpenID Connect) against a real provider on 127.0.0.1 (tests/oidc_fixtures.py),
with Django's test client as the browser: accounts made and kept in step with the directory,
its groups and the reviewer role, and each failure refused with a sentence, nothing half-made.
The browser's own run is tests/test_oidc_browser.py."""

from datetime import timedelta

import pytest
from asgiref.sync import async_to_sync
from django.contrib.auth.models import Group
from django.core.management import call_command
from django.test import Client

from conversations.models import DirectoryAccount, UsageEntry, User
from tests.chat_helpers import latest_reply, logged_in, send
from tests.conftest import PASSWORD, wait_for_reply
from tests.oidc_provider import CLIENT_ID, Provider, query_of
from tests.review_fixtures import client_of, role, staff_in

pytest_plugins = ["tests.oidc_fixtures"]
pytestmark = pytest.mark.django_db


def sign_in(provider, sub: str, client=None, deny=False):
    """The whole flow: the site's button, the provider's page, back to the site."""
    client = client or Client()
    start = client.get("/oidc/authenticate/")
    assert start.status_code == 302, start.content
    callback = provider.consent(start["Location"], sub, deny=deny)
    return client, client.get(callback.removeprefix("http://testserver"))


def carol(provider, groups=("chat-sales", "payroll")):
    provider.set_person(
        "sub-carol",
        preferred_username="carol",
        email="carol@example.com",
        given_name="Carol",
        family_name="Chen",
        groups=list(groups),
    )


def test_the_request_to_the_provider_carries_state_nonce_and_pkce(company_sign_in):
    start = Client().get("/oidc/authenticate/")
    sent = query_of(start["Location"])
    assert start["Location"].startswith(f"{company_sign_in.url}/oauth2/authorize?")
    assert sent["client_id"] == CLIENT_ID
    assert sent["scope"] == "openid email profile"
    assert sent["code_challenge_method"] == "S256" and len(sent["code_challenge"]) >= 43
    assert len(sent["state"]) >= 32 and len(sent["nonce"]) >= 32
    assert sent["redirect_uri"] == "http://testserver/oidc/callback/"


def test_first_sign_in_makes_the_account_with_its_directory_groups(company_sign_in):
    carol(company_sign_in)
    client, answer = sign_in(company_sign_in, "sub-carol")
    assert answer.status_code == 302 and answer["Location"] == "/"
    user = User.objects.get(username="carol")
    assert (user.first_name, user.last_name, user.email) == ("Carol", "Chen", "carol@example.com")
    assert not user.has_usable_password()
    # Only the groups with the prefix: the directory's others stay out.
    assert sorted(user.groups.values_list("name", flat=True)) == ["chat-sales"]
    assert client.get("/").status_code == 200
    assert DirectoryAccount.objects.get(user=user).subject == "sub-carol"
    assert client.session.get_expiry_age() == 12 * 3600  # OIDC_SESSION_HOURS


def test_the_admin_shows_an_accounts_link_to_the_provider_read_only(
    company_sign_in, django_user_model, alice
):
    carol(company_sign_in)
    sign_in(company_sign_in, "sub-carol")
    user = User.objects.get(username="carol")
    administrator = client_of(staff_in(django_user_model, "adam", "Administrator"))
    page = administrator.get(f"/admin/conversations/user/{user.pk}/change/").content.decode()
    assert "Company account link" in page
    assert "sub-carol" in page and company_sign_in.url in page
    assert "chat-sales" in page  # the groups the directory gave
    assert 'name="directory_account-0-subject"' not in page  # shown, never edited here
    saved = administrator.post(
        f"/admin/conversations/user/{user.pk}/change/",
        {
            "username": "carol",
            "first_name": "Caroline",
            "is_active": "on",
            "groups": list(user.groups.values_list("pk", flat=True)),
            "date_joined_0": "2026-01-05",
            "date_joined_1": "09:00:00",
            "directory_account-TOTAL_FORMS": "1",
            "directory_account-INITIAL_FORMS": "1",
            "directory_account-MIN_NUM_FORMS": "0",
            "directory_account-MAX_NUM_FORMS": "0",
        },
    )
    assert saved.status_code == 302, saved.content.decode()[:3000]
    account = DirectoryAccount.objects.get(user__username="carol")
    assert account.subject == "sub-carol" and account.user.first_name == "Caroline"
    local = administrator.get(f"/admin/conversations/user/{alice.pk}/change/").content.decode()
    assert "Company account link" not in local


def test_groups_follow_the_directory_and_hand_made_ones_stay(company_sign_in):
    carol(company_sign_in)
    sign_in(company_sign_in, "sub-carol")
    user = User.objects.get(username="carol")
    by_hand = Group.objects.create(name="Project X")
    user.groups.add(by_hand)
    carol(company_sign_in, groups=["chat-legal"])
    sign_in(company_sign_in, "sub-carol")
    assert sorted(user.groups.values_list("name", flat=True)) == ["Project X", "chat-legal"]
    assert User.objects.filter(username="carol").count() == 1


def test_a_membership_given_by_hand_stays_when_the_directory_drops_it(company_sign_in):
    sales = Group.objects.create(name="chat-sales")  # made beforehand, e.g. for its quota
    user = User.objects.create_user("carol")
    user.groups.add(sales)
    carol(company_sign_in, groups=["chat-sales", "chat-legal"])
    sign_in(company_sign_in, "sub-carol")
    assert sorted(user.groups.values_list("name", flat=True)) == ["chat-legal", "chat-sales"]
    carol(company_sign_in, groups=[])
    sign_in(company_sign_in, "sub-carol")
    assert list(user.groups.values_list("name", flat=True)) == ["chat-sales"]


def test_the_reviewer_group_makes_a_reviewer_and_leaving_it_unmakes_one(company_sign_in):
    role("Reviewer")
    carol(company_sign_in, groups=["chat-reviewers", "chat-sales"])
    client, _answer = sign_in(company_sign_in, "sub-carol")
    user = User.objects.get(username="carol")
    assert user.is_staff and user.has_perm("conversations.view_conversation")
    assert client.get("/admin/conversations/conversation/").status_code == 200
    carol(company_sign_in, groups=["chat-sales"])
    sign_in(company_sign_in, "sub-carol")
    user = User.objects.get(username="carol")
    assert not user.is_staff and not user.has_perm("conversations.view_conversation")


def test_a_reviewer_made_by_hand_stays_one(company_sign_in):
    reviewer = role("Reviewer")
    user = User.objects.create_user("carol", is_staff=True)
    user.groups.add(reviewer)
    carol(company_sign_in, groups=["chat-sales"])
    sign_in(company_sign_in, "sub-carol")  # links the existing account by its username
    user.refresh_from_db()
    assert user.is_staff and user.groups.filter(name="Reviewer").exists()


@pytest.mark.django_db(transaction=True)
def test_a_changed_group_moves_the_chargeback_group_from_the_next_reply(company_sign_in):
    carol(company_sign_in, groups=["chat-sales"])
    sign_in(company_sign_in, "sub-carol")
    user = User.objects.get(username="carol")
    assert charged_group_of_a_reply(user) == "chat-sales"
    carol(company_sign_in, groups=["chat-legal"])
    sign_in(company_sign_in, "sub-carol")
    assert charged_group_of_a_reply(user) == "chat-legal"
    assert sorted(UsageEntry.objects.values_list("group_name", flat=True)) == [
        "chat-legal",
        "chat-sales",
    ]


def charged_group_of_a_reply(user) -> str:
    async def reply():
        client = await logged_in(user)
        answer = await send(client, "Hello")
        assert answer.status_code == 200
        return await wait_for_reply((await latest_reply(user)).pk)

    return UsageEntry.objects.get(reply=async_to_sync(reply)()).group_name


def test_a_deactivated_account_cannot_sign_in_through_the_provider(company_sign_in):
    carol(company_sign_in, groups=["chat-sales"])
    sign_in(company_sign_in, "sub-carol")
    User.objects.filter(username="carol").update(is_active=False)
    carol(company_sign_in, groups=["chat-legal"])
    client, answer = sign_in(company_sign_in, "sub-carol")
    assert answer.status_code == 403
    assert "deactivated" in answer.text and 'href="/login/"' in answer.text
    assert "_auth_user_id" not in client.session
    # Refused before anything changed: still the old groups.
    user = User.objects.get(username="carol")
    assert list(user.groups.values_list("name", flat=True)) == ["chat-sales"]


def test_deactivating_someone_ends_their_company_session_at_once(company_sign_in):
    carol(company_sign_in)
    client, _answer = sign_in(company_sign_in, "sub-carol")
    assert client.get("/").status_code == 200
    User.objects.filter(username="carol").update(is_active=False)
    answer = client.get("/")
    assert answer.status_code == 302 and answer["Location"].startswith("/login/")


def test_refused_consent_is_a_sentence_and_makes_nothing(company_sign_in):
    carol(company_sign_in)
    _client, answer = sign_in(company_sign_in, "sub-carol", deny=True)
    assert answer.status_code == 403
    assert "access was not allowed" in answer.text and 'href="/login/"' in answer.text
    assert not User.objects.filter(username="carol").exists()


def test_a_wrong_state_is_refused(company_sign_in):
    carol(company_sign_in)
    client = Client()
    start = client.get("/oidc/authenticate/")
    callback = company_sign_in.consent(start["Location"], "sub-carol")
    code = query_of(callback)["code"]
    answer = client.get("/oidc/callback/", {"code": code, "state": "not-the-one-sent"})
    assert answer.status_code == 400 and "Sign in again" in answer.text
    assert not User.objects.filter(username="carol").exists()
    # Nor can another browser use this one's answer.
    answer = Client().get(callback.removeprefix("http://testserver"))
    assert answer.status_code == 400
    assert not User.objects.filter(username="carol").exists()


def test_a_token_signed_with_another_key_is_refused(company_sign_in, caplog):
    carol(company_sign_in)
    company_sign_in.forge_keys = True
    client, answer = sign_in(company_sign_in, "sub-carol")
    assert answer.status_code == 400
    assert "could not be verified" in answer.text and 'href="/login/"' in answer.text
    assert "_auth_user_id" not in client.session
    assert not User.objects.filter(username="carol").exists()
    assert "token refused" in caplog.text


@pytest.fixture
def expiring_provider(settings, monkeypatch):
    """A provider whose ID tokens expired two minutes before they were issued."""
    from django.core.cache import cache

    monkeypatch.setenv("AUTHLIB_INSECURE_TRANSPORT", "1")
    provider = Provider(token_age=timedelta(minutes=-2)).start()
    settings.OIDC_ISSUER = provider.url
    settings.OIDC_RP_CLIENT_ID, settings.OIDC_RP_CLIENT_SECRET = CLIENT_ID, "secret"
    cache.clear()
    yield provider
    provider.stop()
    cache.clear()


def test_an_expired_token_is_refused(expiring_provider, caplog):
    carol(expiring_provider)
    _client, answer = sign_in(expiring_provider, "sub-carol")
    assert answer.status_code == 400 and "could not be verified" in answer.text
    assert "ExpiredSignatureError" in caplog.text
    assert not User.objects.filter(username="carol").exists()


def test_a_provider_that_is_down_is_a_sentence(settings):
    from tests.conftest import free_port

    settings.OIDC_ISSUER = f"http://127.0.0.1:{free_port()}"
    settings.OIDC_RP_CLIENT_ID, settings.OIDC_RP_CLIENT_SECRET = CLIENT_ID, "secret"
    answer = Client().get("/oidc/authenticate/")
    assert answer.status_code == 503
    assert "did not answer" in answer.text and 'href="/login/"' in answer.text


def test_without_a_username_claim_nothing_is_made(company_sign_in):
    company_sign_in.set_person("sub-dan", email="dan@example.com", groups=["chat-sales"])
    _client, answer = sign_in(company_sign_in, "sub-dan")
    assert answer.status_code == 403 and "no username" in answer.text
    assert not User.objects.filter(email="dan@example.com").exists()
    assert not Group.objects.filter(name="chat-sales").exists()


def test_someone_else_with_a_linked_username_is_refused(company_sign_in):
    carol(company_sign_in)
    sign_in(company_sign_in, "sub-carol")
    company_sign_in.set_person("sub-impostor", preferred_username="carol")
    client, answer = sign_in(company_sign_in, "sub-impostor")
    assert answer.status_code == 403 and "_auth_user_id" not in client.session


def test_a_local_superuser_is_never_taken_over_through_the_provider(company_sign_in):
    User.objects.create_superuser("root", "root@example.com", PASSWORD)
    company_sign_in.set_person("sub-root", preferred_username="root")
    client, answer = sign_in(company_sign_in, "sub-root")
    assert answer.status_code == 403 and "_auth_user_id" not in client.session
    assert not DirectoryAccount.objects.exists()


def test_the_login_page_shows_the_button_first(company_sign_in, settings):
    settings.OIDC_BUTTON_LABEL = "Sign in with Example Corp"
    page = Client().get("/login/?next=/usage/").text
    assert page.index("Sign in with Example Corp") < page.index('name="password"')
    assert 'href="/oidc/authenticate/?next=/usage/"' in page


def test_without_an_issuer_nothing_changes():
    page = Client().get("/login/").text
    assert "/oidc/authenticate/" not in page and 'name="password"' in page
    assert Client().get("/oidc/authenticate/").status_code == 404
    assert Client().get("/oidc/callback/?code=x&state=y").status_code == 404


@pytest.mark.parametrize("login_url", ["/login/", "/admin/login/"])
def test_local_login_for_superusers_refuses_staff_passwords(settings, login_url):
    settings.LOCAL_LOGIN = "superusers"
    User.objects.create_user("stan", password=PASSWORD, is_staff=True)
    User.objects.create_superuser("sue", "sue@example.com", PASSWORD)
    staff = Client()
    answer = staff.post(login_url, {"username": "stan", "password": PASSWORD})
    assert answer.status_code == 200 and "_auth_user_id" not in staff.session
    assert "signs in with the company account" in answer.text
    superuser = Client()
    answer = superuser.post(login_url, {"username": "sue", "password": PASSWORD})
    assert answer.status_code == 302 and "_auth_user_id" in superuser.session


def test_local_login_for_superusers_still_counts_failures(settings):
    settings.LOCAL_LOGIN = "superusers"
    settings.AXES_FAILURE_LIMIT = 2
    User.objects.create_superuser("sue", "sue@example.com", PASSWORD)
    client = Client()
    for _try in range(2):
        client.post("/login/", {"username": "sue", "password": "wrong"})
    answer = client.post("/login/", {"username": "sue", "password": PASSWORD})
    assert answer.status_code == 429 and "_auth_user_id" not in client.session


def test_an_address_throttled_for_passwords_still_signs_in_with_the_company(
    company_sign_in, settings
):
    from axes.models import AccessAttempt

    settings.LOGIN_ADDRESS_FAILURE_LIMIT = 2
    for name in ("x", "y"):
        Client().post("/login/", {"username": name, "password": "guess"})
    assert Client().post("/login/", {"username": "z", "password": "guess"}).status_code == 429
    carol(company_sign_in)
    client, answer = sign_in(company_sign_in, "sub-carol")
    assert answer.status_code == 302 and "_auth_user_id" in client.session
    # Nor does a refused company sign-in count as a failed login.
    User.objects.filter(username="carol").update(is_active=False)
    before = list(AccessAttempt.objects.values_list("username", "failures_since_start"))
    _client, answer = sign_in(company_sign_in, "sub-carol")
    assert answer.status_code == 403
    assert list(AccessAttempt.objects.values_list("username", "failures_since_start")) == before


def test_a_missing_client_secret_stops_the_start(settings):
    settings.OIDC_ISSUER = "https://login.example.com"
    settings.OIDC_RP_CLIENT_ID, settings.OIDC_RP_CLIENT_SECRET = CLIENT_ID, ""
    with pytest.raises(Exception, match="OIDC_CLIENT_SECRET"):
        call_command("check", fail_level="ERROR")


@pytest.mark.parametrize("where", ["/logout/", "/admin/logout/"])
def test_sign_out_ends_the_providers_session(company_sign_in, where):
    carol(company_sign_in)
    client, _answer = sign_in(company_sign_in, "sub-carol")
    id_token = client.session["oidc_id_token"]
    answer = client.post(where)
    assert answer.status_code == 302
    assert answer["Location"].startswith(f"{company_sign_in.url}/oauth2/end_session?")
    sent = query_of(answer["Location"])
    assert sent["id_token_hint"] == id_token
    assert sent["post_logout_redirect_uri"] == "http://testserver/login/"
    assert "_auth_user_id" not in client.session


def test_settings_with_an_issuer_ask_the_provider_nothing_and_let_sign_out_reach_it():
    """Loading the settings and the URLs fetches nothing (the issuer here answers nothing), and
    the pages' CSP lets the sign-out form's answer lead to the provider (test_oidc_browser)."""
    import os
    import subprocess
    import sys

    from tests.conftest import free_port

    issuer = f"http://127.0.0.1:{free_port()}/realms/staff"
    code = (
        "import django; django.setup(); import chatsite.urls; from django.conf import settings; "
        "print(settings.SECURE_CSP['form-action'])"
    )
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "chatsite.settings", "OIDC_ISSUER": issuer}
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert "'self'" in done.stdout and issuer.removesuffix("/realms/staff") in done.stdout


def test_the_admin_login_page_offers_the_company_sign_in_first(company_sign_in):
    page = Client().get("/admin/login/?next=/admin/").text
    assert page.index("Sign in with your company account") < page.index('name="password"')
    assert 'href="/oidc/authenticate/?next=/admin/"' in page


def test_a_provider_gone_down_during_the_sign_in_is_a_sentence(settings, monkeypatch):
    """Discovery answered (and is cached, so the button works without asking again), then the
    provider went away before the site could exchange the code."""
    from django.core.cache import cache

    monkeypatch.setenv("AUTHLIB_INSECURE_TRANSPORT", "1")
    provider = Provider().start()
    settings.OIDC_ISSUER = provider.url
    settings.OIDC_RP_CLIENT_ID, settings.OIDC_RP_CLIENT_SECRET = CLIENT_ID, "secret"
    cache.clear()
    try:
        carol(provider)
        client = Client()
        start = client.get("/oidc/authenticate/")
        callback = provider.consent(start["Location"], "sub-carol")
        assert cache.get(f"oidc-discovery:{provider.url}")["issuer"] == provider.url
    finally:
        provider.stop()
    answer = client.get(callback.removeprefix("http://testserver"))
    assert answer.status_code == 503 and "did not answer" in answer.text
    assert not User.objects.filter(username="carol").exists()
    cache.clear()
