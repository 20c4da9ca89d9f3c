"""Errors are shown where the person is looking: at the field, in words."""

import re

import pytest

from tests.browser.conftest import expect, sign_in

pytestmark = pytest.mark.browser


def test_a_field_error_is_shown_inside_its_field_and_nothing_is_created(page, screenshot):
    # Given an agent on their profile page in the desk
    sign_in(page, "agent")
    page.goto("/desk/profile/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Your profile")
    screenshot(page, "profile-desk")
    tokens = page.locator("#tokens")
    token_rows = tokens.locator("tbody tr")
    expect(token_rows.first).to_be_visible()
    rows_before = token_rows.all_inner_texts()

    # When they create an API token without a name
    tokens.get_by_role("button", name="Create token").click()

    # then the error is inside the name field's container, and only there
    name_field = tokens.locator(".field").filter(has=page.locator("#id_name"))
    expect(name_field).to_have_class(re.compile(r"\bfield-invalid\b"))
    expect(name_field.locator(".field-error")).to_have_text("This field is required.")
    expect(page.locator(".field-error")).to_have_count(1)
    expect(page.locator("#id_name")).to_have_attribute("aria-invalid", "true")
    expect(page.locator(".form-errors")).to_have_count(0)

    # and no token was created or revealed
    assert token_rows.all_inner_texts() == rows_before
    expect(page.locator("#new-token")).to_have_count(0)
    screenshot(page, "form-error-profile-token")


def test_a_wrong_password_gets_a_readable_error(page, app_server, screenshot):
    # Given the sign-in page (a username of its own: failures are rate-limited per name)
    page.goto("/")
    expect(page).to_have_url(f"{app_server.url}/accounts/login/?next=/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Sign in")
    screenshot(page, "login")

    # When someone signs in with a wrong password
    page.get_by_label("Username").fill("typo.tester")
    page.get_by_label("Password").fill("not-the-password")
    page.get_by_role("button", name="Sign in").click()

    # then they stay on the page with an error a person can act on
    alert = page.get_by_role("alert")
    expect(alert).to_contain_text("Please enter a correct username and password.")
    expect(page).to_have_url(re.compile(r"/accounts/login/"))
    expect(page.get_by_label("Username")).to_have_value("typo.tester")
    expect(page.get_by_label("Password")).to_have_value("")
    screenshot(page, "login-error")
