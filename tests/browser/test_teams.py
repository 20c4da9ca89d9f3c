"""An administrator creates a team (after a mistake) and adds a member in place."""

import re

import pytest

from tests.browser.conftest import expect, sign_in

pytestmark = pytest.mark.browser


def test_admin_creates_a_team_and_adds_a_member_without_a_reload(page, app_server, screenshot):
    # Given the administrator on the team list
    sign_in(page, "admin")
    page.get_by_role("navigation", name="Desk").get_by_role("link", name="Teams").click()
    page.get_by_role("link", name="New team").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("New team")

    # When they name the new team like an existing one
    page.get_by_label("Name").fill("Service Desk")
    page.get_by_label("Description").fill("Engineers who visit sites.")
    page.get_by_role("button", name="Save").click()

    # then the error is at the name field, and what they typed is kept
    name_field = page.locator(".field").filter(has=page.locator("#id_name"))
    expect(name_field.locator(".field-error")).to_contain_text("already exists")
    expect(page.locator(".field-error")).to_have_count(1)
    expect(page.get_by_label("Name")).to_have_value("Service Desk")
    expect(page.get_by_label("Description")).to_have_value("Engineers who visit sites.")
    screenshot(page, "form-error-team-name")

    # When they choose a free name
    page.get_by_label("Name").fill("Field Engineering")
    page.get_by_role("button", name="Save").click()

    # then the team exists and its page opens, with no members yet
    expect(page).to_have_url(re.compile(r"/desk/teams/\d+/$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Field Engineering")
    expect(page.get_by_role("status").filter(has_text="Team Field Engineering created.")
           ).to_be_visible()
    members = page.locator("#members")
    expect(members.get_by_role("heading", level=2)).to_have_text("Members (0)")

    # When they press Add without choosing anyone, the error comes back into the card
    page.evaluate("window.notReloaded = true")
    members.get_by_role("button", name="Add", exact=True).click()
    person_field = members.locator(".field").filter(has=page.locator("#id_user"))
    expect(person_field.locator(".field-error")).to_have_text("This field is required.")

    # When they choose a person and add them
    members.get_by_label("Person").select_option(label="Tomás Ferreira (resolver)")
    with page.expect_response(lambda r: r.request.method == "POST") as added:
        members.get_by_role("button", name="Add", exact=True).click()
    assert added.value.request.headers.get("hx-request") == "true"

    # then the member list is updated in place, without a full page load
    expect(members.get_by_role("heading", level=2)).to_have_text("Members (1)")
    expect(members.locator(".member-row")).to_have_count(1)
    expect(members.locator(".member-row")).to_contain_text("Tomás Ferreira")
    expect(members.get_by_role("status")).to_contain_text(
        "Tomás Ferreira joined Field Engineering.")
    expect(members.locator(".field-error")).to_have_count(0)
    assert page.evaluate("window.notReloaded") is True
    screenshot(page, "team-detail")

    # and the team list counts them
    page.goto("/desk/teams/")
    row = page.locator("tbody tr").filter(has=page.get_by_role("link", name="Field Engineering"))
    expect(row.locator("td").nth(2)).to_have_text("1")
