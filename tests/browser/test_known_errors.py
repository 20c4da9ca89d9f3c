"""The known error database in the browser: the agent logging a call sees the demo's
known error with its workaround as they type, links the new incident to it so the caller
is sent the workaround; the known errors page finds a known error by its words; the
operator opens "Fix everywhere" on a problem."""

import re
import secrets

import pytest

from tests.browser.conftest import expect, sign_in

pytestmark = pytest.mark.browser

PRINTER_KE = "Floor printers jam on double-sided jobs"  # demo/problems_demo.py
PRINTER_WORKAROUND = "feed paper from tray 2"
VPN_KE = "VPN sessions drop after about an hour for home workers"


def test_agent_links_a_new_incident_to_the_known_error_it_matches(new_page, screenshot):
    tag = secrets.token_hex(3)
    # Given an agent logging a call
    desk = new_page()
    sign_in(desk, "agent")
    desk.goto("/desk/incidents/new/")
    panel = desk.locator("#known-errors")
    expect(panel).to_contain_text("Type a title")
    desk.get_by_label("Caller").fill("requester")

    # When they type what the caller says
    desk.get_by_label("Title").press_sequentially(f"Printer jams on double-sided jobs {tag}",
                                                  delay=15)

    # Then the known error shows with its workaround
    suggestion = panel.locator(".dup", has_text=PRINTER_KE)
    expect(suggestion).to_be_visible()
    expect(suggestion).to_contain_text("similar text")
    expect(suggestion).to_contain_text(PRINTER_WORKAROUND)
    number = re.search(r"PRB\d{7}", suggestion.inner_text()).group(0)

    # and choosing it links the incident once logged, sending the caller the workaround
    suggestion.get_by_label("Link to this known error once logged").check()
    desk.get_by_label("Description").fill("Every double-sided job on floor 2.")
    expect(suggestion.get_by_label("Link to this known error once logged")).to_be_checked()
    screenshot(desk, "known-errors-new-incident-panel")
    desk.get_by_role("button", name="Log incident").click()
    expect(desk.locator(".messages")).to_contain_text(f"Linked to known error {number}")
    expect(desk.locator("#incident-problems")).to_contain_text(number)
    expect(desk.locator("#timeline")).to_contain_text(PRINTER_WORKAROUND)
    box = desk.locator("#incident-known-errors")
    expect(box).to_contain_text(PRINTER_WORKAROUND)
    screenshot(desk, "known-errors-incident-box")


def test_the_known_errors_page_finds_a_known_error_by_its_words(new_page, screenshot):
    desk = new_page()
    sign_in(desk, "agent")
    desk.get_by_role("link", name="Known errors").click()
    expect(desk.get_by_role("heading", level=1)).to_have_text("Known errors")
    desk.get_by_label("Search").press_sequentially("vpn drop", delay=15)
    results = desk.locator("#known-error-results")
    expect(results.locator(".dup", has_text=VPN_KE)).to_be_visible()
    expect(results).to_contain_text("Aldermoor TCP 443")
    expect(results).not_to_contain_text(PRINTER_KE)
    expect(desk).to_have_url(re.compile(r"q=vpn"))
    screenshot(desk, "known-errors-search")


def test_the_operator_opens_fix_everywhere_from_a_problem(new_page, screenshot):
    desk = new_page()
    sign_in(desk, "operator")
    desk.goto("/desk/problems/known-errors/?q=vpn")
    link = desk.locator("#known-error-results .dup", has_text=VPN_KE).get_by_role(
        "link", name=re.compile(r"PRB\d{7}")).first
    desk.goto(link.get_attribute("href"))  # the list opens problems in a new tab
    panel = desk.locator("#fix-everywhere")
    expect(panel).to_contain_text("behind this problem")
    screenshot(desk, "fix-everywhere-panel")
