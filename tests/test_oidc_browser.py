"""The company sign-in in a real browser (Chromium through Playwright, the site served by
uvicorn, the provider oidc-provider-mock on 127.0.0.1): the button, the provider's page and
back, the account made with its groups and the reviewer role, the admin opening for it, and
signing out through the provider's end-session page; then a refused consent, and the password
form refusing a staff member's password when only superusers may use it."""

import re

import pytest
from django.contrib.auth.models import Group
from django.utils.csp import CSP
from playwright.sync_api import expect

from conversations.models import User
from tests.conftest import PASSWORD
from tests.review_fixtures import role

pytest_plugins = ["tests.browser_fixtures", "tests.oidc_fixtures"]
pytestmark = [pytest.mark.browser]


@pytest.fixture
def provider(company_sign_in, settings, asgi_server):
    # As settings.py does with OIDC_ISSUER set (test_oidc_settings.py proves it does): sign-out
    # is a form answered by a redirect to the provider.
    settings.SECURE_CSP = {
        **settings.SECURE_CSP,
        "form-action": [CSP.SELF, company_sign_in.url],
    }
    role("Reviewer")
    return company_sign_in


def sign_in_through_the_provider(page, sub: str) -> None:
    page.goto("/login/")
    button = page.get_by_role("link", name="Sign in with your company account")
    # First on the page, before the password form.
    assert page.locator("main a, main input").first.get_attribute("class").startswith("button")
    button.click()
    page.get_by_label("Subject").fill(sub)
    page.get_by_role("button", name="Authorize", exact=True).click()


def test_first_sign_in_makes_a_reviewer_who_signs_out_at_the_provider(
    provider, watched_page, asgi_server
):
    provider.set_person(
        "sub-rita",
        preferred_username="rita",
        email="rita@example.com",
        given_name="Rita",
        family_name="Reyes",
        groups=["chat-reviewers", "chat-sales", "all-staff"],
    )
    page = watched_page.page
    sign_in_through_the_provider(page, "sub-rita")
    expect(page).to_have_url(f"{asgi_server.url}/")
    expect(page.get_by_label("Message")).to_be_visible()

    rita = User.objects.get(username="rita")
    assert (rita.get_full_name(), rita.email) == ("Rita Reyes", "rita@example.com")
    assert sorted(rita.groups.values_list("name", flat=True)) == ["Reviewer", "chat-sales"]
    assert rita.is_staff and not Group.objects.filter(name="all-staff").exists()

    page.goto("/admin/conversations/conversation/")
    expect(page.locator("#result_list, .paginator").first).to_be_visible()

    page.goto("/")
    page.locator(".account-button").click()
    page.get_by_role("button", name="Log out").click()
    expect(page).to_have_url(re.compile(re.escape(provider.url) + r"/oauth2/end_session\?"))
    assert "id_token_hint=" in page.url and "post_logout_redirect_uri=" in page.url
    page.get_by_role("button", name="End session").click()
    expect(page).to_have_url(f"{asgi_server.url}/login/")
    page.goto("/")
    expect(page).to_have_url(re.compile(r"/login/\?next=/$"))
    assert watched_page.csp_violations() == []


def test_a_refused_consent_says_so_and_leads_back_to_the_login_page(provider, watched_page):
    provider.set_person("sub-dora", preferred_username="dora", groups=["chat-sales"])
    page = watched_page.page
    page.goto("/login/")
    page.get_by_role("link", name="Sign in with your company account").click()
    page.get_by_role("button", name="Deny access").click()
    expect(page.get_by_role("alert")).to_contain_text("access was not allowed")
    page.get_by_role("link", name="Back to the login page").click()
    expect(page.get_by_role("link", name="Sign in with your company account")).to_be_visible()
    assert not User.objects.filter(username="dora").exists()


def test_only_superusers_may_use_a_password_when_local_login_is_off(
    provider, settings, watched_page, asgi_server, django_user_model
):
    settings.LOCAL_LOGIN = "superusers"
    django_user_model.objects.create_user("stan", password=PASSWORD, is_staff=True)
    django_user_model.objects.create_superuser("sue", "sue@example.com", PASSWORD)
    page = watched_page.page
    for username in ("stan", "sue"):
        page.goto("/login/")
        page.get_by_label("Username").fill(username)
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Log in").click()
        if username == "stan":
            expect(page.get_by_role("alert")).to_contain_text(
                "Everyone else signs in with the company account"
            )
    expect(page).to_have_url(f"{asgi_server.url}/")
