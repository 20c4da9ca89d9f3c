"""Change enablement in the browser: an engineer raises a normal change (the end before
the start is refused at its field), assesses its risk and asks for authorisation; the
change manager approves it from the inbox and finds it scheduled on the change calendar.
A business approver decides on the portal."""

import datetime
import re
import secrets

import pytest

from tests.browser.conftest import expect, sign_in

pytestmark = pytest.mark.browser


def _local(days: int, hour: int) -> str:
    moment = (datetime.datetime.now() + datetime.timedelta(days=days)).replace(
        hour=hour, minute=0, second=0, microsecond=0)
    return moment.strftime("%Y-%m-%dT%H:%M")


def test_a_normal_change_from_request_to_the_calendar(new_page, screenshot):
    title = f"Resize the build agents {secrets.token_hex(3)}"

    # Given an engineer raising a normal change, the end before the start at first
    engineer = new_page()
    sign_in(engineer, "resolver")
    engineer.goto("/desk/changes/new/")
    engineer.get_by_label("Title").fill(title)
    engineer.get_by_label("Justification").fill("Builds queue for 40 minutes at peak.")
    engineer.get_by_label("Implementation plan").fill("Resize the VMs to 8 vCPU.")
    engineer.get_by_label("Backout plan").fill("Resize back to 4 vCPU.")
    engineer.get_by_label("Planned start").fill(_local(3, 21))
    engineer.get_by_label("Planned end").fill(_local(3, 20))
    engineer.get_by_role("button", name="Create change").click()
    expect(engineer.locator(".field-error").first).to_contain_text(
        "The planned end must be after the planned start.")
    engineer.get_by_label("Planned end").fill(_local(3, 23))
    engineer.get_by_role("button", name="Create change").click()
    heading = engineer.get_by_role("heading", level=1)
    expect(heading).to_contain_text(title)
    number = re.search(r"CHG\d{7}", heading.inner_text()).group(0)

    # When they submit it, answer the risk questions carefully and ask for authorisation
    engineer.get_by_role("button", name="Submit for assessment").click()
    expect(engineer.locator(".badge", has_text="Assess").first).to_be_visible()
    panel = engineer.locator("#risk-panel")
    if not panel.locator("form").is_visible():
        panel.locator("summary").click()
    for fieldset in panel.locator("fieldset").all():
        fieldset.locator("input[type=radio]").first.check()
    # Each answer asks for a preview, swapped in above the button: click once they are
    # all in, or the button moves under the click.
    expect(panel.locator(".risk-preview")).not_to_be_empty()
    engineer.wait_for_function("!document.querySelector('.htmx-request')")
    panel.get_by_role("button", name="Assess risk").click()
    expect(engineer.locator("#risk-panel .risk-summary")).to_contain_text("points")
    engineer.get_by_role("button", name="Request authorisation").click()
    expect(engineer.locator(".badge", has_text="Authorize").first).to_be_visible()
    screenshot(engineer, "change-awaiting-approval")

    # Then the change manager approves it from the approval inbox
    manager = new_page()
    sign_in(manager, "change.manager")
    manager.get_by_role("link", name="Approvals", exact=True).click()
    row = manager.locator("tr", has_text=number)
    row.get_by_role("textbox").fill("Fine, outside business hours.")
    row.get_by_role("button", name="Approve").click()
    expect(manager.locator("tr", has_text=number)).to_contain_text(
        "Your decision is recorded: approved.")

    # and the change is scheduled, on the calendar's week
    manager.goto(f"/desk/changes/?queue=all&q={number}")
    manager.get_by_role("link", name=number).click()
    expect(manager.locator(".badge", has_text="Scheduled").first).to_be_visible()
    manager.get_by_role("link", name="Change calendar").click()
    manager.get_by_role("link", name="Week").click()
    if not manager.get_by_text(number).count():
        manager.get_by_role("link", name="Next").click()
    expect(manager.get_by_text(number).first).to_be_visible()
    screenshot(manager, "change-calendar-week")


def test_a_business_approver_decides_on_the_portal(page, screenshot):
    # Given the demo's business representative with changes waiting on them
    sign_in(page, "requester")
    page.get_by_role("link", name="Approvals").click()
    cards = page.locator("article, .card").filter(has_text="CHG")
    expect(cards.first).to_be_visible()
    first = cards.first
    number = re.search(r"CHG\d{7}", first.inner_text()).group(0)

    # When they reject one without a reason, then with one
    first.get_by_role("button", name="Reject").click()
    expect(page.get_by_text("Say why", exact=False).first).to_be_visible()
    card = page.locator("article, .card").filter(has_text=number).first
    card.get_by_role("textbox").fill("Month-end close: not this week, please.")
    card.get_by_role("button", name="Reject").click()

    # Then it is no longer waiting on them
    expect(page.locator("article, .card").filter(has_text=number)).to_have_count(0)
    screenshot(page, "portal-approvals")
