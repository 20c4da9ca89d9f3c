"""A major incident from the desk to the portal: the incident manager declares it (a
missing reason is refused at its field) and posts a stakeholder update; a requester sees
the banner on the portal and asks for updates; the next update reaches them (their
notification is written and emailed) and shows on the incident's portal page."""

import re
import secrets
import time

import pytest

from tests.browser.conftest import expect, sign_in

pytestmark = pytest.mark.browser

TITLE = "Online ordering checkout times out"  # demo/incidents_demo.py, on Online Ordering


def _wait_for(predicate, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return False


def test_declare_update_and_follow_from_the_portal(new_page, app_server, screenshot):
    tag = secrets.token_hex(2)
    first_update = f"Checkout fails for all customers; payments team engaged ({tag})."
    second_update = f"Fix deployed, orders are going through again ({tag})."

    # Given the incident manager on an open incident on a business service
    desk = new_page()
    sign_in(desk, "incident.manager")
    desk.goto("/desk/incidents/?queue=open&q=checkout")
    desk.get_by_role("link", name=re.compile(r"INC\d{7}")).first.click()
    expect(desk.get_by_role("heading", level=1)).to_contain_text(TITLE)
    number = re.search(r"INC\d{7}", desk.get_by_role("heading", level=1).inner_text()).group(0)

    # When they declare it major without a reason, the error is at the field
    panel = desk.locator("section.major-panel")
    panel.locator("summary", has_text="Declare a major incident").click()
    panel.get_by_label("Major incident manager").select_option(
        label="Grace Okafor (incident.manager)")
    panel.get_by_role("button", name="Declare major incident").click()
    panel = desk.locator("section.major-panel")
    reason = panel.locator(".field", has=desk.locator("textarea[name=reason]"))
    expect(reason.locator(".field-error")).to_be_visible()

    # and with one, it becomes a major incident
    reason.locator("textarea").fill("Customers cannot buy: revenue-impacting outage.")
    panel.get_by_role("button", name="Declare major incident").click()
    expect(desk.locator(".message-success")).to_contain_text("is now a major incident")
    expect(desk.locator(".header-actions .badge", has_text="Major incident")).to_be_visible()
    expect(desk.locator("section.major-panel")).to_contain_text("Grace Okafor")

    # and they post a stakeholder update
    desk.get_by_label("Update for stakeholders").fill(first_update)
    desk.get_by_role("button", name="Post update").click()
    expect(desk.locator(".message-success")).to_contain_text("Update posted")
    expect(desk.locator(".updates-log")).to_contain_text(first_update)
    screenshot(desk, "major-incident-desk")

    # Then a requester sees the banner on the portal, with the latest update
    portal = new_page()
    sign_in(portal, "requester")
    banner = portal.locator(".major-banner")
    expect(banner).to_contain_text(f"Online Ordering: {TITLE}")
    expect(banner).to_contain_text(first_update)
    screenshot(portal, "major-incident-portal-banner")

    # and asks for updates
    portal.get_by_role("button", name="Get updates on Online Ordering").click()
    expect(portal.locator(".message-success")).to_contain_text("You will get updates")
    expect(portal.get_by_role("button", name="Stop updates on Online Ordering")).to_be_visible()

    # When the manager posts the next update
    desk.get_by_label("Update for stakeholders").fill(second_update)
    desk.get_by_role("button", name="Post update").click()
    expect(desk.locator(".message-success")).to_contain_text("Update posted")

    # then it reaches the requester: their notification row is written and emailed (the
    # embedded profile prints email to the server's console)
    def emailed() -> bool:
        log = app_server.output()
        return (f"Subject: Update on {number}: {TITLE}" in log
                and "To: requester@aldermoor.example" in log and second_update in log)

    assert _wait_for(emailed), "the update was not emailed to the requester"

    # and the portal shows it on the banner and on the incident's page
    portal.reload()
    expect(portal.locator(".major-banner")).to_contain_text(second_update)
    portal.locator(".major-banner").get_by_role("link", name="All updates").first.click()
    updates = portal.locator("section", has=portal.get_by_role("heading", name="Status updates"))
    expect(updates).to_contain_text(first_update)
    expect(updates).to_contain_text(second_update)
    screenshot(portal, "major-incident-portal-updates")


def test_the_review_of_a_past_major_incident(page, screenshot):
    # Given the incident manager, and the demo's payroll outage (resolved, reviewed)
    sign_in(page, "incident.manager")
    found = page.request.get("/api/v1/incidents/?q=Payroll system unavailable").json()
    number = found["results"][0]["number"]

    # When they open its review from the incident page
    page.goto(f"/desk/incidents/{number}/")
    expect(page.locator("section.major-panel")).to_contain_text("Grace Okafor")
    children = page.get_by_role("list", name="Child incidents")
    expect(children.get_by_role("listitem")).to_have_count(3)
    page.get_by_role("link", name="Post-incident review").click()

    # Then the review shows what happened, why, the actions and the timeline
    expect(page.get_by_role("heading", level=1)).to_contain_text("Post-incident review")
    expect(page.locator(".header-actions .badge", has_text="Completed")).to_be_visible()
    expect(page.get_by_text("connection pool limit", exact=False).first).to_be_visible()
    actions = page.locator("section", has=page.get_by_role("heading", name="Actions"))
    expect(actions).to_contain_text("Alert when the payroll database refuses connections")
    expect(actions.locator(".action-done")).to_have_count(1)
    timeline = page.locator(".review-timeline")
    expect(timeline).to_contain_text("Declared a major incident")
    expect(timeline).to_contain_text("Stakeholder update")
    expect(timeline.locator("li.kind-state").filter(has_text="New → Resolved")).to_have_count(3)
    screenshot(page, "major-incident-review")
