"""An agent works in the staff desk: home, people, a person, teams; and signs out."""

import re

import pytest

from tests.browser.conftest import assert_columns_aligned, expect, sign_in

pytestmark = pytest.mark.browser


def test_agent_lands_on_the_desk_and_browses_people_and_teams(page, app_server, screenshot):
    # Given the demo agent, when they sign in
    sign_in(page, "agent")

    # then they land on the desk home, welcomed by name, with their team listed
    expect(page).to_have_url(f"{app_server.url}/desk/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Welcome, Priya Shah")
    expect(page.locator(".user-menu .avatar")).to_have_text("P")
    your_teams = page.locator("section.card").filter(
        has=page.get_by_role("heading", name="Your teams"))
    expect(your_teams.get_by_role("link", name="Service Desk")).to_be_visible()
    service_desk = page.locator("section.card").filter(
        has=page.get_by_role("heading", name="Service desk", exact=True))
    expect(service_desk).to_contain_text("+44 20 7946 0100")
    screenshot(page, "desk-home")

    # When they open People from the side navigation
    navigation = page.get_by_role("navigation", name="Desk")
    navigation.get_by_role("link", name="People").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("People")
    expect(navigation.get_by_role("link", name="People")).to_have_attribute(
        "aria-current", "page")
    rows = page.locator("#people-rows tbody tr")
    expect(rows.first).to_be_visible()
    assert_columns_aligned(page.locator("#people-rows table"))
    screenshot(page, "people-list")

    # and filter by a name
    page.get_by_label("Search").fill("Bennett")
    page.get_by_role("button", name="Filter").click()

    # then only that person is listed, and the address can be shared
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("Oliver Bennett")
    expect(rows.first).to_contain_text("Accounts Payable Clerk")
    expect(page).to_have_url(re.compile(r"/desk/people/\?.*q=Bennett"))
    screenshot(page, "people-list-filtered")

    # When they open the person
    rows.first.get_by_role("link", name="Oliver Bennett").click()

    # then their details are shown
    expect(page).to_have_url(re.compile(r"/desk/people/\d+/$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Oliver Bennett")
    facts = page.locator("dl.facts")
    expect(facts).to_contain_text("requester")
    expect(facts).to_contain_text("Accounts Payable Clerk")
    expect(facts.get_by_role("link", name="Catherine Ashford")).to_be_visible()
    screenshot(page, "person-detail")

    # When they open Teams
    navigation.get_by_role("link", name="Teams").click()

    # then every demo team is listed, the service desk marked as such
    expect(page.get_by_role("heading", level=1)).to_have_text("Teams")
    team_rows = page.locator("table tbody tr")
    expect(team_rows).to_have_count(8)
    assert_columns_aligned(page.locator("table.table"))
    service_desk_row = team_rows.filter(has=page.get_by_role("link", name="Service Desk"))
    expect(service_desk_row.locator(".badge")).to_have_text("Service desk")
    screenshot(page, "teams-list")


def test_sign_out_from_the_user_menu_returns_to_the_sign_in_page(page, app_server):
    # Given a signed-in agent
    sign_in(page, "agent")
    expect(page).to_have_url(f"{app_server.url}/desk/")

    # When they open the user menu and sign out
    page.locator(".user-menu summary").click()
    page.get_by_role("button", name="Sign out").click()

    # then they are on the sign-in page
    expect(page).to_have_url(f"{app_server.url}/accounts/login/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Sign in")

    # and the desk asks them to sign in again
    page.goto("/desk/")
    expect(page).to_have_url(f"{app_server.url}/accounts/login/?next=/desk/")
