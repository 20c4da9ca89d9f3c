"""Service levels as an agent sees them: the demo's at-risk queue, an incident's SLA
panel with its progress bars and pause, and the queue sorted by time to breach."""

import re

import pytest

from demo.sla_demo import PAUSED_TITLE
from tests.browser.conftest import expect, sign_in

pytestmark = pytest.mark.browser


def test_agent_follows_service_levels_from_queue_to_ticket(new_page, screenshot):
    desk = new_page()
    sign_in(desk, "agent")
    # The At risk queue lists incidents past a first warning, with their SLA due time
    desk.goto("/desk/incidents/?queue=at_risk")
    rows = desk.locator("table tbody tr")
    expect(rows.first).to_contain_text(re.compile(r"At risk|Breached"))
    screenshot(desk, "sla-at-risk-queue")

    # Sorting by time to breach keeps the sort in the page's address
    desk.goto("/desk/incidents/?queue=open")
    desk.get_by_label("Sort by").select_option("breach")
    expect(desk.get_by_text("Only incidents whose SLA clock is running")).to_be_visible()
    expect(desk).to_have_url(re.compile(r"sort=breach"))

    # The paused demo incident shows why its resolution clock stopped
    desk.get_by_role("searchbox").fill("laptop swap")
    desk.get_by_label("Sort by").select_option("priority")
    # Its row, once the filtered list has come back (the first link before that is any
    # incident of the unfiltered list).
    row = desk.get_by_role("row").filter(has_text=PAUSED_TITLE)
    expect(row).to_have_count(1)
    row.get_by_role("link", name=re.compile(r"INC\d{7}")).first.click()
    expect(desk.get_by_role("heading", level=1)).to_contain_text(PAUSED_TITLE)
    panel = desk.locator("#sla")
    expect(panel).to_contain_text("Resolution")
    expect(panel).to_contain_text("Paused")
    expect(panel).to_contain_text("On hold: Awaiting caller")
    expect(panel).to_contain_text("not known while paused")
    expect(panel.get_by_role("progressbar").first).to_be_visible()
    screenshot(desk, "sla-incident-panel")
