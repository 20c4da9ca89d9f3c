"""An agent works the queue in bulk: logs three incidents (picking the caller), filters
the queue down to them, saves that as a view, ticks them all and assigns them to another
team in one go; one was resolved meanwhile, so the result page says it was refused and
why. Then they correct one incident's affected service through the picker."""

import re
import secrets

import pytest

from tests.browser.conftest import expect, sign_in

pytestmark = pytest.mark.browser


def log_incident(page, title, caller_typed, pick_suggestion=False, screenshot=None):
    page.goto("/desk/incidents/new/")
    caller = page.get_by_role("combobox", name="Caller")
    if pick_suggestion:
        caller.press_sequentially(caller_typed, delay=40)
        suggestion = page.locator("#id_requester_options option").first
        expect(suggestion).to_be_attached()
        expect(page.locator("#id_requester_status")).to_contain_text("suggestion")
        caller.fill(suggestion.get_attribute("value"))
    else:
        caller.fill(caller_typed)  # typed as without JavaScript: the server resolves it
    page.get_by_label("Title").fill(title)
    if screenshot is not None:
        screenshot(page, "desk-log-picker")
    page.get_by_role("button", name="Log incident").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(title)
    return re.search(r"INC\d{7}", page.get_by_role("heading", level=1).inner_text()).group(0)


def test_filter_save_view_bulk_assign_and_edit_through_the_picker(new_page, screenshot):
    tag = f"kiosk-{secrets.token_hex(3)}"  # the server's database lives for the whole run
    page = new_page()
    sign_in(page, "agent")

    # Given three incidents about the kiosks, logged for a caller picked from suggestions
    numbers = [log_incident(page, f"Lobby {tag} screen frozen", "Oliver Ben",
                            pick_suggestion=True, screenshot=screenshot),
               log_incident(page, f"Lobby {tag} card reader", "requester"),
               log_incident(page, f"Lobby {tag} printer", "requester")]
    expect(page.get_by_text("Oliver Bennett").first).to_be_visible()

    # When the agent filters the open queue down to them
    page.goto("/desk/incidents/?queue=open")
    page.get_by_role("searchbox", name="Search").fill(tag)
    expect(page).to_have_url(re.compile(rf"q={tag}"))
    rows = page.locator("#incident-list tbody tr")
    expect(rows).to_have_count(3)

    # and saves the filters as a view, which then shows as the current one
    page.get_by_text("Save these filters…").click()
    page.get_by_role("textbox", name="Name").fill(f"Kiosks {tag}")
    screenshot(page, "desk-save-view")
    page.get_by_role("button", name="Save view").click()
    expect(page.locator(".message-success")).to_contain_text(f"View “Kiosks {tag}” saved.")
    current = page.get_by_role("navigation", name="Saved views").get_by_role(
        "link", name=f"Kiosks {tag}")
    expect(current).to_have_attribute("aria-current", "true")
    expect(rows).to_have_count(3)

    # Meanwhile a colleague resolves one of them
    other = new_page()
    sign_in(other, "incident.manager")
    other.goto(f"/desk/incidents/{numbers[2]}/")
    resolve = other.locator("details", has=other.locator("summary", has_text="Resolve"))
    resolve.locator("summary").click()
    resolve.get_by_label("Resolution code").select_option(label="Solved (permanently)")
    resolve.get_by_label("Resolution notes").fill("Paper jam cleared.")
    resolve.get_by_role("button", name="Resolve").click()
    expect(other.locator(".badge", has_text="Resolved").first).to_be_visible()

    # When the agent ticks all on the page and assigns them to Network Operations
    page.get_by_role("checkbox", name="Select all on this page").check()
    expect(page.locator("[data-selected-count]")).to_have_text("3 selected")
    page.get_by_text("Assign…").click()
    page.get_by_label("Assignment group").select_option(label="Network Operations")
    assignee = page.get_by_label("Assignee (optional)")
    expect(assignee.locator("option")).to_have_count(2)  # "—" and the team's one member
    assignee.select_option(label="Daniel Brooks (cab)")
    screenshot(page, "desk-bulk-queue")
    page.get_by_role("button", name="Assign selected").click()

    # Then the result page says what was done, and why the resolved one was refused
    expect(page.get_by_role("heading", level=1)).to_have_text("Bulk assign")
    expect(page.get_by_role("status")).to_contain_text("2 incidents changed, 1 refused.")
    done = page.locator("section", has=page.get_by_role("heading", name="Done"))
    for number in numbers[:2]:
        expect(done).to_contain_text(f"{number}: Assigned to Network Operations · Daniel Brooks")
    refused = page.locator("section", has=page.get_by_role("heading", name="Refused"))
    expect(refused).to_contain_text(f"{numbers[2]}: Only open incidents can be assigned.")
    screenshot(page, "desk-bulk-result")

    # and back on the queue (the saved view) the two are with Network Operations
    page.get_by_role("link", name="Back to the queue").click()
    expect(rows.filter(has_text="Network Operations")).to_have_count(2)

    # When they correct the first one's affected service through the picker
    page.get_by_role("link", name=numbers[0]).click()
    page.get_by_role("link", name="Edit details").click()
    edit = page.locator("#incident-edit")
    expect(edit.get_by_role("heading", name="Edit details")).to_be_visible()
    expect(edit.get_by_role("textbox", name="Title")).to_be_focused()
    service = edit.get_by_role("combobox", name="Affected service")
    service.click()  # as a person does; typing only once the field has the focus
    expect(service).to_be_focused()
    service.press_sequentially("Payr", delay=40)
    suggestion = page.locator("#edit_service_options option").first
    expect(suggestion).to_be_attached()
    expect(suggestion).to_have_text("Business service")
    value = suggestion.get_attribute("value")
    assert value.startswith("Payroll (CI ")
    service.fill(value)
    screenshot(page, "desk-edit-picker")
    edit.get_by_role("button", name="Save changes").click()

    # Then the detail page shows the service, linked to the CMDB
    expect(page.locator(".message-success")).to_contain_text(f"{numbers[0]} updated.")
    details = page.locator("section", has=page.get_by_role("heading", name="Details"))
    service_link = details.get_by_role("link", name="Payroll", exact=True)
    expect(service_link).to_have_attribute("href", re.compile(r"^/desk/cmdb/\d+/$"))
    expect(details).to_contain_text("Business service")
    expect(page.locator("#timeline")).to_contain_text("Payroll")
    screenshot(page, "desk-edit-done")
