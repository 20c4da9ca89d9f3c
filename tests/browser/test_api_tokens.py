"""A personal API token made in the UI works for a script, until it is revoked in the UI."""

import pytest

from tests.browser.conftest import api_get, expect, sign_in

pytestmark = pytest.mark.browser


def test_token_created_in_the_profile_works_against_the_api_until_revoked(
    page, app_server, screenshot
):
    # Given a requester on their profile page
    sign_in(page, "requester")
    page.goto("/portal/profile/")
    tokens = page.locator("#tokens")
    screenshot(page, "profile-portal")
    expect(tokens).to_contain_text("“Authorization: Bearer <token>”")

    # When they create a token
    tokens.get_by_label("Name").fill("Expense report script")
    tokens.get_by_role("button", name="Create token").click()

    # then it is shown once, to copy
    expect(page.get_by_role("status").filter(has_text="Token created")).to_be_visible()
    revealed = page.locator("#new-token")
    expect(revealed).to_be_visible()
    token = revealed.inner_text().strip()
    assert len(token) > 30 and " " not in token
    row = tokens.locator("tbody tr").filter(has_text="Expense report script")
    expect(row).to_contain_text("active")
    screenshot(page, "profile-token-created")

    page.goto("/portal/profile/")
    expect(page.locator("#new-token")).to_have_count(0)
    prefix = row.locator("code").inner_text().rstrip("…")
    assert token.startswith(prefix)
    assert token not in page.content()

    # and its Revoke button is in sight, not scrolled off the side of the table
    expect(row.get_by_role("button", name="Revoke")).to_be_in_viewport(ratio=1)

    # and a script can use it as the requester
    response = api_get(app_server, "/api/v1/users/me/", token=token)
    assert response.status == 200, response.body
    assert response.body["username"] == "requester"

    # When they revoke it in the UI
    row.get_by_role("button", name="Revoke").click()

    # then the page says so and the token is marked revoked
    expect(page.get_by_role("status").filter(has_text="Token “Expense report script” revoked.")
           ).to_be_visible()
    expect(row).to_contain_text("revoked")
    expect(row.get_by_role("button", name="Revoke")).to_have_count(0)

    # and the API refuses it, in the API's one error shape
    response = api_get(app_server, "/api/v1/users/me/", token=token)
    assert response.status == 401
    assert set(response.body) == {"code", "message", "fields"}
    assert response.body["code"] and response.body["message"]
    assert response.body["fields"] == {}
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
