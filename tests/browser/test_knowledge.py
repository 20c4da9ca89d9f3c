"""The knowledge base: a caller reporting an issue in the portal is offered articles as
they type, opens one and says it helped; an agent working an incident finds an article in
the knowledge panel and inserts it in the reply."""

import re

import pytest

from tests.browser.conftest import expect, sign_in

pytestmark = pytest.mark.browser

ARTICLE = "Till will not print receipts"  # demo/knowledge_demo.py
DEMO_INCIDENT = "Outlook keeps asking for my password"  # demo/incidents_demo.py
OUTLOOK_ARTICLE = "Outlook keeps asking for your password"


def test_portal_suggests_articles_and_takes_a_vote(new_page, screenshot):
    # Given a store colleague reporting an issue
    portal = new_page()
    sign_in(portal, "requester")
    portal.goto("/portal/incidents/report/")

    # When they type what is wrong
    portal.get_by_label("What is wrong?").press_sequentially("receipt printer on till",
                                                             delay=15)

    # Then articles that may help appear under the form
    panel = portal.locator("#kb-suggest")
    expect(panel).to_contain_text("These articles may help")
    link = panel.get_by_role("link", name=ARTICLE)
    expect(link).to_be_visible()
    screenshot(portal, "knowledge-portal-suggestions")

    # and they open it and say it helped
    portal.goto(link.get_attribute("href"))
    expect(portal.get_by_role("heading", level=1)).to_have_text(ARTICLE)
    expect(portal.locator(".kb-body")).to_contain_text("thermal paper")
    portal.get_by_label("Comment (optional)").fill("The roll was the wrong way round.")
    portal.get_by_role("button", name=re.compile("Yes, it helped")).click()
    expect(portal.locator(".message-success")).to_contain_text("Thank you for your feedback")
    expect(portal.locator("#feedback")).to_contain_text("You said this helped.")
    screenshot(portal, "knowledge-portal-article")

    # and the knowledge base is in the portal's navigation, with its categories
    portal.get_by_role("navigation", name="Portal").get_by_role(
        "link", name="Knowledge base").click()
    expect(portal.get_by_role("heading", name="Browse by category")).to_be_visible()


def test_agent_inserts_an_article_in_the_reply(new_page, screenshot):
    # Given an agent on an open incident about Outlook password prompts
    desk = new_page()
    sign_in(desk, "agent")
    desk.goto("/desk/incidents/?queue=open&q=" + DEMO_INCIDENT.replace(" ", "+"))
    desk.locator("table a", has_text=re.compile(r"INC\d{7}")).first.click()
    expect(desk.get_by_role("heading", level=1)).to_contain_text("Outlook")

    # When the knowledge panel has searched with the incident's title
    panel = desk.locator("#knowledge")
    result = panel.locator("li", has_text=OUTLOOK_ARTICLE)
    expect(result).to_be_visible()
    screenshot(desk, "knowledge-desk-panel")

    # and they insert the article in the reply
    result.get_by_role("button", name="Insert in reply").click()

    # Then the reply holds its title, link and summary
    reply = desk.locator("#id_body")
    expect(reply).to_have_value(re.compile(OUTLOOK_ARTICLE))
    expect(reply).to_have_value(re.compile(r"/portal/knowledge/KB\d{7}/"))
