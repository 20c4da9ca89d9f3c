"""An incident from the portal to the desk and back: the caller reports, the desk works
and resolves it (a missing resolution note is refused at its field), the caller confirms."""

import re
import secrets

import pytest

from tests.browser.conftest import expect, sign_in

pytestmark = pytest.mark.browser


def test_report_resolve_and_confirm(new_page, screenshot):
    title = f"Docking station dead {secrets.token_hex(3)}"

    # Given a requester reporting an issue in the portal
    caller = new_page()
    sign_in(caller, "requester")
    caller.get_by_role("link", name="Report an issue").first.click()
    caller.get_by_label("What is wrong?").fill(title)
    caller.get_by_label("Details").fill("No screens since this morning.")
    caller.get_by_role("button", name="Send to the service desk").click()
    expect(caller.locator(".message-success")).to_contain_text("is with the service desk")
    number = re.search(r"INC\d{7}", caller.locator(".message-success").inner_text()).group(0)

    # When the service desk finds it in its queue and starts work
    desk = new_page()
    sign_in(desk, "agent")
    desk.goto("/desk/incidents/?queue=my_groups")
    desk.get_by_role("link", name=number).click()
    expect(desk.get_by_role("heading", level=1)).to_contain_text(title)
    desk.get_by_role("button", name="Start work").click()
    expect(desk.locator(".badge", has_text="In progress").first).to_be_visible()

    # and tries to resolve it without notes: the error is at that field
    resolve = desk.locator("details", has=desk.locator("summary", has_text="Resolve"))
    resolve.locator("summary").click()
    resolve.get_by_label("Resolution code").select_option(label="Solved (permanently)")
    resolve.get_by_role("button", name="Resolve").click()
    resolve = desk.locator("details", has=desk.locator("summary", has_text="Resolve"))
    notes = resolve.locator(".field", has=desk.locator("textarea[name=resolution_notes]"))
    expect(notes.locator(".field-error")).to_be_visible()
    screenshot(desk, "incident-resolve-error")
    notes.locator("textarea").fill("Replaced the docking station.")
    resolve.get_by_role("button", name="Resolve").click()
    expect(desk.locator(".badge", has_text="Resolved").first).to_be_visible()
    screenshot(desk, "incident-detail")

    # Then the caller is asked whether it is fixed, and confirms
    caller.reload()
    expect(caller.get_by_text("The service desk thinks this is fixed")).to_be_visible()
    caller.get_by_role("button", name="Yes, it's fixed").click()
    expect(caller.locator(".message-success")).to_contain_text("closed")
    expect(caller.get_by_text("This issue is closed")).to_be_visible()
    screenshot(caller, "portal-incident-closed")
