"""A requester uses the self-service portal and is kept out of the desk politely."""

import pytest

from tests.browser.conftest import expect, sign_in

pytestmark = pytest.mark.browser


def test_requester_lands_on_the_portal_and_gets_a_way_back_from_the_desk(
    page, app_server, screenshot
):
    # Given the demo requester, when they sign in
    sign_in(page, "requester")

    # then they land on the portal, with the service desk's contact details
    expect(page).to_have_url(f"{app_server.url}/portal/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Hello, Oliver Bennett")
    contact = page.locator("section.card").filter(
        has=page.get_by_role("heading", name="Contact the service desk"))
    expect(contact).to_contain_text("Service Desk")
    expect(contact.get_by_role("link", name="service-desk@aldermoor.example")).to_have_attribute(
        "href", "mailto:service-desk@aldermoor.example")
    expect(contact.get_by_role("link", name="+44 20 7946 0100")).to_be_visible()
    page.locator(".user-menu summary").click()
    expect(page.get_by_role("link", name="Switch to desk")).to_have_count(0)
    page.locator(".user-menu summary").click()
    screenshot(page, "portal-home")

    # When they try the desk
    response = page.goto("/desk/")

    # then they get the 403 page, not a sign-in loop, with a way to the portal
    assert response is not None and response.status == 403
    expect(page.get_by_role("heading", level=1)).to_have_text(
        "You do not have access to this page")
    to_portal = page.get_by_role("link", name="Go to the portal")
    expect(to_portal).to_have_attribute("href", "/portal/")
    screenshot(page, "error-403")

    to_portal.click()
    expect(page).to_have_url(f"{app_server.url}/portal/")
