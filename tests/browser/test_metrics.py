"""The desk's incident metrics: from the queue to the dashboard, a quick range, and a
period that ends before it starts refused at its field."""

import re

import pytest

from tests.browser.conftest import expect, sign_in

pytestmark = pytest.mark.browser


def test_metrics_dashboard(page, screenshot):
    # Given an agent on the incident queue
    sign_in(page, "agent")
    page.goto("/desk/incidents/")

    # When they open the metrics and choose the last 90 days
    page.get_by_role("link", name="Metrics").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Incident metrics")
    page.get_by_role("link", name="Last 90 days").click()
    expect(page.get_by_role("link", name="Last 90 days")).to_have_attribute("aria-current",
                                                                          "true")

    # Then the summary and the three tables show the demo's history
    tiles = page.locator(".metric-tile")
    expect(tiles).to_have_count(4)
    expect(tiles.filter(has_text="MTTR").locator(".metric-value")).to_have_text(
        re.compile(r"\d+ (h|d) "))
    for heading in ("By priority", "By team", "By category"):
        table = page.locator("section", has=page.get_by_role("heading", name=heading))
        expect(table.locator("tbody tr").first).to_be_visible()
    by_priority = page.locator("section", has=page.get_by_role("heading", name="By priority"))
    expect(by_priority.locator("tbody tr", has_text="P1 – Critical")).to_be_visible()
    expect(by_priority.locator(".metric-bar span").first).to_be_visible()
    screenshot(page, "incident-metrics")

    # And a period that ends before it starts is refused at "From"
    page.get_by_label("From").fill("2026-03-31")
    page.get_by_label("To").fill("2026-03-01")
    page.get_by_role("button", name="Show").click()
    field = page.locator(".field", has=page.get_by_label("From"))
    expect(field.locator(".field-error")).to_contain_text("on or before")
    expect(page.locator(".metric-tile")).to_have_count(0)
    screenshot(page, "incident-metrics-bad-period")
