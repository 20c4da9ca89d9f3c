"""Escalation and the inbox, as people use them: the agent escalates an incident in the
desk; the incident manager sees the bell count go up, opens the notification and lands
on the incident. The requester reads their notices in the portal and clears them."""

import re
import secrets

import pytest

from tests.browser.conftest import expect, sign_in

pytestmark = pytest.mark.browser

BELL = re.compile(r"^Notifications: ")


def unread(page) -> int:
    label = page.get_by_role("link", name=BELL).get_attribute("aria-label")
    found = re.search(r"(\d+)\+? unread", label)
    return int(found.group(1)) if found else 0


def test_escalate_then_the_incident_manager_follows_the_bell(new_page, screenshot):
    title = f"Finance app freezes on save {secrets.token_hex(3)}"

    # Given an incident reported in the portal, routed to the service desk
    caller = new_page()
    sign_in(caller, "requester")
    caller.goto("/portal/incidents/report/")
    caller.get_by_label("What is wrong?").fill(title)
    caller.get_by_role("button", name="Send to the service desk").click()
    number = re.search(r"INC\d{7}",
                       caller.locator(".message-success").inner_text()).group(0)

    # and the incident manager (who manages the service desk team) at their desk
    manager = new_page()
    sign_in(manager, "incident.manager")
    manager.goto("/desk/")
    before = unread(manager)

    # When the agent escalates it, first forgetting the reason
    agent = new_page()
    sign_in(agent, "agent")
    agent.goto(f"/desk/incidents/{number}/")
    escalation = agent.locator("section", has=agent.get_by_role("heading", name="Escalation"))
    expect(escalation).to_contain_text("Not escalated")
    expect(escalation).to_contain_text(
        "Escalating tells Grace Okafor, manager of Service Desk.")
    escalation.get_by_role("button", name="Escalate").click()
    escalation = agent.locator("section", has=agent.get_by_role("heading", name="Escalation"))
    expect(escalation.locator(".field-error")).to_have_text("A reason is required.")
    escalation.get_by_label("Reason").fill("Month-end close blocked for the finance team.")
    escalation.get_by_role("button", name="Escalate").click()
    expect(agent.locator(".message-success")).to_contain_text(f"{number} escalated")
    escalation = agent.locator("section", has=agent.get_by_role("heading", name="Escalation"))
    expect(escalation).to_contain_text("Told: Grace Okafor")
    expect(escalation).to_contain_text("Month-end close blocked")
    expect(agent.locator(".page-header .badge", has_text="Escalated L1")).to_be_visible()
    screenshot(agent, "escalation-detail")

    # and it carries the badge in the queue
    agent.goto("/desk/incidents/?queue=open&escalated=true")
    row = agent.locator("tr", has=agent.get_by_role("link", name=number))
    expect(row.locator(".badge", has_text="Escalated L1")).to_be_visible()
    screenshot(agent, "escalation-queue")

    # Then the incident manager's bell shows one more
    manager.reload()
    assert unread(manager) == before + 1
    screenshot(manager, "notifications-bell")
    manager.get_by_role("link", name=BELL).click()
    expect(manager.get_by_role("heading", level=1, name="Notifications")).to_be_visible()
    item = manager.locator(".inbox-unread", has_text=f"{number} escalated to you")
    expect(item).to_be_visible()
    screenshot(manager, "notifications-inbox-desk")

    # and opening it marks it read and lands on the incident
    item.get_by_role("button").click()
    expect(manager.get_by_role("heading", level=1)).to_contain_text(title)
    assert manager.url.endswith(f"/desk/incidents/{number}/")
    assert unread(manager) == before
    manager.goto("/notifications/")
    expect(manager.locator(".inbox-item:not(.inbox-unread)",
                           has_text=f"{number} escalated to you")).to_be_visible()

    # On a phone the bell stays in the header, next to the menu button
    phone = new_page(viewport={"width": 390, "height": 800})
    sign_in(phone, "incident.manager")
    phone.goto("/desk/")
    bell = phone.get_by_role("link", name=BELL)
    expect(bell).to_be_visible()
    box, menu = bell.bounding_box(), phone.get_by_role("button", name="Menu").bounding_box()
    assert box["x"] + box["width"] <= 390 and box["x"] > menu["x"] + menu["width"]
    screenshot(phone, "notifications-bell-phone")


def test_the_requester_reads_and_clears_their_inbox_in_the_portal(new_page, screenshot):
    requester = new_page()
    sign_in(requester, "requester")
    requester.goto("/portal/")
    assert unread(requester) > 0  # the demo answered and resolved some of their issues
    requester.get_by_role("link", name=BELL).click()
    expect(requester.locator("body.layout-portal")).to_be_visible()
    resolved = requester.locator(".inbox-item", has_text="is resolved").first
    expect(resolved).to_be_visible()
    screenshot(requester, "notifications-inbox-portal")

    # Opening a resolution notice leads to the portal page that asks "is it fixed?"
    inbox = requester.url
    resolved.get_by_role("button").click()
    requester.wait_for_url(re.compile(r"/portal/incidents/\d+/$"))
    requester.wait_for_load_state()
    requester.goto(inbox)  # back to the inbox (not history: the POST's page is gone)
    requester.get_by_role("button", name="Mark all read").click()
    expect(requester.locator(".message-success")).to_contain_text("marked read")
    expect(requester.locator(".inbox-unread")).to_have_count(0)
    assert unread(requester) == 0
