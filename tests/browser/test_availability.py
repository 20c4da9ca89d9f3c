"""Service availability in the desk: an asset manager sets a service's target, records an
outage (a refusal first, at the field), and reads the figures on the service's page and
in the monthly report."""

import datetime
import re
import secrets

import pytest

from tests.browser.conftest import expect, sign_in

pytestmark = pytest.mark.browser


def test_an_asset_manager_sets_a_target_records_an_outage_and_reads_the_report(page,
                                                                               screenshot):
    name = f"Mail service {secrets.token_hex(3)}"
    today = datetime.datetime.now(datetime.UTC).date()
    last_month = (today.replace(day=1) - datetime.timedelta(days=1)).replace(day=10)
    label = last_month.strftime("%B %Y")

    # Given a business service in the CMDB
    sign_in(page, "asset.manager")
    page.goto("/desk/cmdb/new/?class=business_service")
    page.get_by_role("textbox", name="Name", exact=True).fill(name)
    page.get_by_role("combobox", name="Status").select_option(label="Deployed / operational")
    page.get_by_role("button", name="Add", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(name)
    section = page.locator("#availability")
    expect(section).to_contain_text("No outage recorded.")

    # When they set a target above 100, then a good one
    section.get_by_role("link", name="Set target").click()
    page.get_by_role("textbox", name="Availability target (%)").fill("100.5")
    page.get_by_role("button", name="Save").click()
    expect(page.locator(".field-error")).to_have_text(
        "The target must be above 0 and at most 100 (%).")
    page.get_by_role("textbox", name="Availability target (%)").fill("99.9")
    page.get_by_role("button", name="Save").click()
    expect(section).to_contain_text("99.9%")

    # and record a two-hour outage last month, end before start first
    section.get_by_role("link", name="Record an outage").click()
    day = last_month.isoformat()
    page.get_by_label("Start").fill(f"{day}T10:00")
    page.get_by_label("End").fill(f"{day}T09:00")
    page.get_by_role("button", name="Save").click()
    expect(page.locator(".field-error")).to_have_text("The end must be after the start.")
    page.get_by_label("End").fill(f"{day}T12:00")
    page.get_by_label("Description").fill("Relay down")
    page.get_by_role("button", name="Save").click()

    # then the service's page shows last month missed and the outage
    expect(page.get_by_text("Outage recorded.")).to_be_visible()
    row = section.locator("tbody tr").filter(has_text=label)
    expect(row).to_contain_text("Missed")
    expect(row).to_contain_text("2 h 00 min")
    expect(section).to_contain_text("Relay down")
    screenshot(page, "availability-service")

    # and the report lists it among the services, worst first
    page.goto(f"/desk/availability/?month={last_month:%Y-%m}")
    expect(page.get_by_role("heading", level=1)).to_have_text(
        re.compile(f"Service availability, {label}"))
    first = page.locator("table tbody tr").first
    expect(first).to_contain_text(name)
    expect(first).to_contain_text("Missed")
    screenshot(page, "availability-report")
