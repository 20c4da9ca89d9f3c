"""Finding duplicates: the agent logging an incident sees the similar open one from the
demo as they type and logs the new one as its child; the caller reporting the same thing
in the portal is sent to the incident they already have."""

import re

import pytest

from tests.browser.conftest import expect, sign_in

pytestmark = pytest.mark.browser

DEMO_TITLE = "Outlook keeps asking for my password"  # demo/incidents_demo.py
DEMO_TWIN = "Outlook asks for my password again and again"  # the demo requester's


def test_agent_logs_a_duplicate_as_a_child(new_page, screenshot):
    # Given an agent logging a call
    desk = new_page()
    sign_in(desk, "agent")
    desk.goto("/desk/incidents/new/")
    panel = desk.locator("#duplicates")
    expect(panel).to_contain_text("Type a title")
    desk.get_by_label("Caller").fill("requester")  # the picker reads a username too

    # When they type what the caller says and pick the service
    desk.get_by_label("Title").press_sequentially("Outlook keeps prompting for my password",
                                                  delay=15)
    service = desk.get_by_label("Affected service")
    service.fill("Email & Collaboration")  # a service's exact name, as the picker reads it
    service.press("Tab")  # leaving the field fires its change, as for a person

    # Then the panel shows the similar open incidents, with why and a way to open them
    suggestion = panel.locator(".dup", has_text=DEMO_TITLE)
    expect(suggestion).to_be_visible()
    expect(suggestion).to_contain_text("same service")
    expect(suggestion).to_contain_text("similar text")
    expect(suggestion).to_contain_text("Application Support")  # the service's owner team
    expect(panel.locator(".dup", has_text=DEMO_TWIN)).to_be_visible()
    link = suggestion.get_by_role("link", name=re.compile(r"INC\d{7}"))
    expect(link).to_have_attribute("target", "_blank")
    parent_number = link.inner_text().split()[0]

    # and they log it as a child of the first one
    suggestion.get_by_label("Log as a child of this incident").check()
    desk.get_by_label("Description").fill("Since the password change this morning.")
    expect(suggestion.get_by_label("Log as a child of this incident")).to_be_checked()
    screenshot(desk, "duplicates-new-incident-panel")
    desk.get_by_role("button", name="Log incident").click()

    # The new incident names its parent
    expect(desk.locator(".message-success")).to_contain_text(
        f"logged as a child of {parent_number}")
    facts = desk.locator(".facts")
    expect(facts).to_contain_text("Parent incident")
    expect(facts.get_by_role("link", name=parent_number)).to_be_visible()
    expect(desk.locator("#similar")).to_contain_text(f"Already a child of {parent_number}")
    screenshot(desk, "duplicates-child-detail")

    # and the parent's page, in its similar box, offers the demo twin
    facts.get_by_role("link", name=parent_number).click()
    similar = desk.locator("#similar")
    expect(similar.locator(".dup", has_text=DEMO_TWIN)).to_be_visible()
    expect(similar.get_by_role("button", name=re.compile("Make this a child of"))).to_have_count(
        0)  # the parent has a child now, so it cannot become one
    screenshot(desk, "duplicates-parent-similar-box")


def test_caller_is_sent_to_the_incident_they_already_reported(page, screenshot):
    sign_in(page, "requester")
    page.goto("/portal/incidents/report/")
    page.get_by_label("What is wrong?").press_sequentially("Outlook asks for password",
                                                           delay=15)
    known = page.locator("#known")
    expect(known).to_contain_text("Is this already known?")
    expect(known).to_contain_text("You reported this on")
    expect(known).to_contain_text(DEMO_TWIN)
    expect(known).not_to_contain_text(DEMO_TITLE)  # someone else's: never shown
    screenshot(page, "duplicates-portal-known")
    twin = known.locator(".dup", has_text=DEMO_TWIN)
    twin.get_by_role("link", name=re.compile(r"Go to INC\d{7}")).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(DEMO_TWIN)
