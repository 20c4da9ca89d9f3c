"""Problem management in the browser: a caller reports an incident; the service desk
agent links it to a problem from the incident's page; the problem manager writes down the
root cause, starts the analysis and resolves the problem together with its open linked
incident, whose caller is told."""

import re
import secrets

import pytest

from tests.browser.conftest import expect, sign_in

pytestmark = pytest.mark.browser


def test_link_an_incident_and_resolve_it_with_the_problem(new_page, screenshot):
    tag = secrets.token_hex(3)
    # Given a caller's incident
    caller = new_page()
    sign_in(caller, "requester")
    caller.get_by_role("link", name="Report an issue").first.click()
    caller.get_by_label("What is wrong?").fill(f"Scanner uploads fail {tag}")
    caller.get_by_label("Details").fill("Scans never reach my inbox.")
    caller.get_by_role("button", name="Send to the service desk").click()
    incident = re.search(r"INC\d{7}",
                         caller.locator(".message-success").inner_text()).group(0)

    # and a problem the problem manager opens from the problem queue
    manager = new_page()
    sign_in(manager, "problem.manager")
    manager.get_by_role("link", name="Problems", exact=True).click()
    expect(manager.get_by_role("heading", level=1)).to_have_text("Problems")
    manager.get_by_role("link", name="New problem").click()
    manager.get_by_label("Problem statement").fill(f"Scan-to-email fails {tag}")
    manager.get_by_role("button", name="Create problem").click()
    heading = manager.get_by_role("heading", level=1)
    expect(heading).to_contain_text(f"Scan-to-email fails {tag}")
    problem = re.search(r"PRB\d{7}", heading.inner_text()).group(0)

    # When the desk agent links the incident to it from the incident's page
    agent = new_page()
    sign_in(agent, "agent")
    agent.goto(f"/desk/incidents/{incident}/")
    box = agent.locator("#incident-problems")
    box.get_by_label("Link to problem").fill(problem)
    box.get_by_role("button", name="Link").click()
    expect(agent.locator("#incident-problems")).to_contain_text(problem)

    # and the problem manager finds it linked, writes the root cause and resolves both
    manager.reload()
    expect(manager.locator("#linked-incidents")).to_contain_text(incident)
    manager.get_by_role("button", name="Start root cause analysis").click()
    expect(manager.locator("#problem-state")).to_have_text("Root cause analysis")
    manager.get_by_role("link", name="Edit the problem").first.click()
    manager.get_by_label("Root cause", exact=True).fill(
        "The SMTP relay rejects the scanners' old TLS.")
    manager.get_by_role("button", name="Save").click()
    dialog = manager.locator("#resolve-dialog")
    dialog.locator("summary").click()
    dialog.get_by_role("textbox", name="Resolution").fill("TLS 1.2 enabled on the scanners.")
    expect(dialog).to_contain_text("Also resolve 1 open linked incident")
    dialog.get_by_label("Also resolve 1 open linked incident").check()
    dialog.get_by_label("Note to the callers").fill("Scanning works again: please retry.")
    screenshot(manager, "problem-resolve-dialog")
    dialog.get_by_role("button", name="Resolve").click()

    # Then the problem is resolved, and so is the incident, with the note to its caller
    expect(manager.locator(".message-success")).to_contain_text("1 linked incident(s) resolved")
    expect(manager.locator("#problem-state")).to_have_text("Resolved")
    expect(manager.locator("#linked-incidents")).to_contain_text("Resolved")
    agent.reload()
    expect(agent.locator(".badge", has_text="Resolved").first).to_be_visible()
    expect(agent.locator("#timeline")).to_contain_text("Scanning works again")
