"""The desk on a phone, and the desk with JavaScript switched off."""

import re

import pytest

from tests.browser.conftest import expect, sign_in

pytestmark = pytest.mark.browser
PHONE = {"width": 390, "height": 844}


def test_desk_home_fits_a_phone_and_its_menu_opens(new_page, app_server, screenshot):
    # Given an agent on a phone-sized screen
    page = new_page(viewport=PHONE, is_mobile=True, has_touch=True)
    sign_in(page, "agent")
    expect(page).to_have_url(f"{app_server.url}/desk/")

    # then the page fits the width, the navigation folds behind a Menu button
    expect(page.get_by_role("heading", level=1)).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    navigation = page.get_by_role("navigation", name="Desk")
    menu = page.get_by_role("button", name="Menu")
    expect(navigation).to_be_hidden()
    expect(menu).to_have_attribute("aria-expanded", "false")
    screenshot(page, "desk-home-mobile")

    # When they open the menu, the navigation shows and leads on
    menu.click()
    expect(menu).to_have_attribute("aria-expanded", "true")
    expect(navigation).to_be_visible()
    screenshot(page, "desk-home-mobile-menu")
    navigation.get_by_role("link", name="People").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("People")
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]


def test_desk_works_without_javascript(new_page, app_server):
    # Given an administrator whose browser runs no JavaScript
    page = new_page(java_script_enabled=False)
    sign_in(page, "admin")
    expect(page).to_have_url(f"{app_server.url}/desk/")

    # When they filter people with the Filter button
    page.goto("/desk/people/")
    page.get_by_label("Search").fill("Ferreira")
    page.get_by_role("button", name="Filter").click()

    # then the page reloads with the match
    expect(page).to_have_url(re.compile(r"q=Ferreira"))
    expect(page.locator("#people-rows tbody tr")).to_have_count(1)
    expect(page.locator("#people-rows tbody tr")).to_contain_text("Tomás Ferreira")

    # When they add a member to a team and remove them again, by plain form posts
    page.goto("/desk/teams/")
    page.get_by_role("link", name="Database Administration").click()
    members = page.locator("#members")
    expect(members.get_by_role("heading", level=2)).to_have_text("Members (0)")
    members.get_by_label("Person").select_option(label="Sofia Romano (approver)")
    members.get_by_role("button", name="Add", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Database Administration")
    expect(members.get_by_role("heading", level=2)).to_have_text("Members (1)")
    expect(members.locator(".member-row")).to_contain_text("Sofia Romano")

    members.get_by_role("button", name="Remove approver").click()
    expect(members.get_by_role("heading", level=2)).to_have_text("Members (0)")
    expect(page.get_by_role("status").filter(has_text="Sofia Romano left")).to_be_visible()

    # and on a phone the desk navigation is still reachable
    page.set_viewport_size(PHONE)
    page.goto("/desk/")
    page.get_by_role("navigation", name="Desk").get_by_role("link", name="Teams").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Teams")
