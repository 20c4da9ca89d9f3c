"""The CMDB in the desk: an asset manager records a CI, relates it and reads its impact."""

import re
import secrets

import pytest

from tests.browser.conftest import expect, sign_in

pytestmark = pytest.mark.browser


def test_an_asset_manager_records_a_ci_relates_it_and_sees_its_impact_graph(page, screenshot):
    name = f"vm-e2e-{secrets.token_hex(3)}"  # the server's database lives for the whole run

    # Given the asset manager on the CI list
    sign_in(page, "asset.manager")
    page.goto("/desk/cmdb/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Configuration items")
    screenshot(page, "cmdb-list")

    # When they add a virtual machine: the form is the class's schema
    page.get_by_role("link", name="Add CI").click()
    page.get_by_role("link", name=re.compile(r"^Virtual machine")).click()
    expect(page.get_by_role("group", name="Virtual machine attributes")).to_be_visible()
    page.get_by_role("textbox", name="Name", exact=True).fill(name)
    page.get_by_role("combobox", name="Status").select_option(label="Deployed / operational")
    page.get_by_role("spinbutton", name="vCPUs").fill("4")

    # and leave out the operating system, which the schema requires
    page.get_by_role("button", name="Add", exact=True).click()

    # then the error is at that field, and only there
    os_field = page.locator(".field").filter(has=page.locator("#id_attr_os"))
    expect(os_field).to_have_class(re.compile(r"\bfield-invalid\b"))
    expect(os_field.locator(".field-error")).to_have_text("This field is required.")
    expect(page.locator(".field-error")).to_have_count(1)
    expect(page.locator("#id_attr_os")).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_role("spinbutton", name="vCPUs")).to_have_value("4")
    screenshot(page, "cmdb-form-error")

    # When they choose one and save
    page.get_by_role("combobox", name="Operating system").select_option("Ubuntu 22.04")
    page.get_by_role("button", name="Add", exact=True).click()

    # then its detail page shows what they entered
    expect(page.get_by_role("heading", level=1)).to_have_text(name)
    expect(page.get_by_text(f"{name} was added.")).to_be_visible()
    attributes = page.locator("section", has=page.get_by_role(
        "heading", name="Virtual machine attributes"))
    expect(attributes).to_contain_text("Ubuntu 22.04")

    # When they relate it to a host, picking it from the suggestions
    relationships = page.locator("#relationships")
    relationships.get_by_role("combobox", name="Relationship").select_option(label="runs on")
    other = relationships.get_by_role("combobox", name="Other CI")
    other.press_sequentially("esx-", delay=30)
    suggestions = page.locator("#ci-suggestions option")
    expect(suggestions.first).to_be_attached()
    host = suggestions.first.get_attribute("value")
    other.fill(host)
    relationships.get_by_role("button", name="Add", exact=True).click()

    # then the link is listed (swapped in place, no page load)
    host_name = host.rsplit(" (CI ", 1)[0]
    expect(page.locator("#relationships tbody tr").filter(has_text=host_name)).to_contain_text(
        "runs on")

    # and the CI's history shows it without a reload
    expect(page.locator("#history")).to_contain_text(f"runs on {host_name}")

    # and the impact graph downstream draws what the VM needs into a canvas
    page.get_by_role("combobox", name="Direction").select_option("down")
    graph = page.locator("#impact-graph")
    expect(graph.locator("canvas").first).to_be_attached()
    expect(page.locator("#impact tbody tr").filter(has_text=host_name)).to_have_count(1)
    assert graph.evaluate("element => Boolean(element.impactGraph)"), "Cytoscape did not draw"
    nodes = graph.evaluate("element => element.impactGraph.nodes().length")
    assert nodes >= 2, f"expected the VM and its host in the graph, got {nodes} nodes"
    expect(page).to_have_url(re.compile(r"direction=down"))
    screenshot(page, "cmdb-detail-impact")


def test_licence_compliance_is_readable_to_an_agent(page, screenshot):
    # Given an agent (who reads the CMDB but does not change it)
    sign_in(page, "agent")
    page.goto("/desk/cmdb/licences/")

    # then the compliance table is there, without the buttons to change licences
    expect(page.get_by_role("heading", name="Compliance")).to_be_visible()
    expect(page.get_by_role("link", name="Add licence")).to_have_count(0)
    screenshot(page, "cmdb-licences")
