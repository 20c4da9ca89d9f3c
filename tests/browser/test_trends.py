"""Trends in the desk: the problem manager reads the open proposals, is told at the field
that dismissing needs a reason, then accepts the warehouse server's cluster and lands on
the new problem with its incidents linked."""

import re

import pytest

from demo.trends_demo import WAREHOUSE
from tests.browser.conftest import expect, sign_in

pytestmark = pytest.mark.browser


def test_a_problem_manager_accepts_a_proposal_and_lands_on_the_problem(page, screenshot):
    # Given the demo's open proposals
    sign_in(page, "problem.manager")
    page.get_by_role("navigation", name="Desk").get_by_role("link", name="Trends").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Trends")
    card = page.locator("article.proposal").filter(
        has=page.get_by_role("heading", name="Recurring incidents on wms-app-01"))
    expect(card).to_contain_text("5 incidents on the configuration item wms-app-01")
    for title, *_rest in WAREHOUSE:
        expect(card).to_contain_text(title)
    screenshot(page, "trends-open")

    # When they dismiss it without a reason, they are told so at the field
    card.get_by_role("button", name="Dismiss").click()
    expect(page.locator(".field-error")).to_have_text("Say why the proposal is dismissed.")

    # and when they accept it with a title of their own
    card = page.locator("article.proposal")
    card.get_by_label("Problem title").fill("Warehouse application server unstable")
    card.get_by_role("button", name="Accept: open a problem").click()

    # Then they are on the new problem, with the cluster's incidents linked
    expect(page.get_by_role("heading", level=1)).to_have_text(
        re.compile(r"PRB\d+ · Warehouse application server unstable"))
    for title, *_rest in WAREHOUSE:
        expect(page.locator("main")).to_contain_text(title)
    screenshot(page, "trends-accepted-problem")

    # and the proposal is in the accepted history, linking to it
    page.goto("/desk/trends/?state=accepted")
    accepted = page.locator("article.proposal").filter(has_text="wms-app-01")
    expect(accepted).to_contain_text("Accepted by Henrik Lund")
    expect(accepted.get_by_role("link", name=re.compile(r"PRB\d+"))).to_be_visible()
