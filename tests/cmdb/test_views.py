"""The CMDB desk pages: list, filters, saved views, export, detail, impact graph data,
schema-generated forms, lifecycle, relationships, licences and who may do what."""

import csv
import datetime
import io

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from audit.models import AuditAction, AuditEntry
from cmdb import licences, services
from cmdb.models import (
    AttributeDefinition,
    ConfigurationItem,
    Relationship,
)
from cmdb.views import PAGE_SIZE
from desk.models import SavedView
from tests.cmdb.factories import CIFactory, ci_class, rel_type
from tests.factories import TeamFactory, UserFactory

LIST = reverse("cmdb:ci_list")


@pytest.fixture
def asset_manager(db):
    return UserFactory(username="assets", roles=["asset_manager"])


@pytest.fixture
def manager_client(client, asset_manager):
    client.force_login(asset_manager)
    return client


def server(actor, name, os="Ubuntu 24.04", **fields):
    return services.ci_create(actor=actor, name=name, ci_class=ci_class("server"),
                              attributes={"os": os, **fields.pop("attributes", {})}, **fields)


def names_in(response):
    return [ci.name for ci in response.context["items"]]


# --- List, filters, paging, export ----------------------------------------------------

def test_list_filters_on_common_fields_and_on_the_chosen_class_attributes(
        manager_client, asset_manager):
    # Given servers with different operating systems and an application
    team = TeamFactory(name="Server & Cloud")
    server(asset_manager, "rhel-01", os="RHEL 9", owner_team=team)
    server(asset_manager, "ubuntu-01", owner_team=team, attributes={"cpu_cores": 8})
    server(asset_manager, "ubuntu-02", attributes={"cpu_cores": 16})
    CIFactory(name="billing")

    # When the list is filtered by class: the class's attribute filters appear
    response = manager_client.get(LIST, {"ci_class": "server"})
    assert names_in(response) == ["rhel-01", "ubuntu-01", "ubuntu-02"]
    assert 'name="attr.os"' in response.text
    assert 'name="attr.cpu_cores"' in response.text

    # and filtering on an attribute keeps only the matching CIs
    response = manager_client.get(LIST, {"ci_class": "server", "attr.os": "Ubuntu 24.04"})
    assert names_in(response) == ["ubuntu-01", "ubuntu-02"]
    response = manager_client.get(LIST, {"ci_class": "server", "attr.cpu_cores": "16"})
    assert names_in(response) == ["ubuntu-02"]

    # and the named filters combine with them
    response = manager_client.get(LIST, {"ci_class": "server", "attr.os": "Ubuntu 24.04",
                                         "owner_team": team.pk})
    assert names_in(response) == ["ubuntu-01"]
    assert names_in(manager_client.get(LIST, {"q": "rhel"})) == ["rhel-01"]


def test_searches_and_attribute_filters_match_what_people_type(manager_client, asset_manager):
    # Given a server with an address and databases whose text version looks like a number
    server(asset_manager, "web-01", ip_address="10.0.0.5", hostname="web-01")
    server(asset_manager, "no-address")
    for name, version in (("pg-16", "16"), ("pg-15", "15")):
        services.ci_create(actor=asset_manager, name=name, ci_class=ci_class("database"),
                           attributes={"engine": "PostgreSQL", "version": version})

    # A search for a name or an address finds only those (not every CI without an IP)
    assert names_in(manager_client.get(LIST, {"q": "web"})) == ["web-01"]
    assert names_in(manager_client.get(LIST, {"q": "10.0.0.5"})) == ["web-01"]
    # A text attribute matches as text; empty filters (an untouched form) are no filter
    response = manager_client.get(LIST, {"ci_class": "database", "attr.version": "16",
                                         "attr.size_gb": "", "status": ""})
    assert names_in(response) == ["pg-16"]


def test_list_without_a_class_offers_no_attribute_filters(manager_client):
    response = manager_client.get(LIST)
    assert response.status_code == 200
    assert "attr." not in response.text.split("</form>")[0]
    assert "Choose one class to filter on its attributes too." in response.text


def test_a_bad_filter_is_a_400_with_the_reason(manager_client):
    response = manager_client.get(LIST, {"attr.bad-key": "x"})
    assert response.status_code == 400
    assert "is not an attribute name" in response.text


def test_the_list_pages_by_keyset_and_never_counts(manager_client):
    # Given more CIs than fit on a page
    for number in range(PAGE_SIZE + 5):
        CIFactory(name=f"app-{number:03d}")

    # When the first page is read
    with CaptureQueriesContext(connection) as queries:
        first = manager_client.get(LIST)
    assert not [q for q in queries.captured_queries if "COUNT(" in q["sql"].upper()]

    # then it has a page of CIs and a link to the next one
    assert len(first.context["items"]) == PAGE_SIZE
    cursor = first.context["next_cursor"]
    assert cursor and f"after={cursor}" in first.text

    # and the next page continues where the first stopped
    second = manager_client.get(LIST, {"after": cursor})
    assert names_in(second) == [f"app-{n:03d}" for n in range(PAGE_SIZE, PAGE_SIZE + 5)]
    assert second.context["next_cursor"] is None
    assert manager_client.get(LIST, {"after": "not-a-cursor"}).status_code == 400


def test_the_list_query_count_is_pinned(manager_client, django_assert_num_queries):
    # Given a page with tags, teams and a filtered class
    team = TeamFactory()
    for number in range(5):
        ci = CIFactory(name=f"srv-{number}", ci_class=ci_class("server"), owner_team=team,
                       attributes={"os": "RHEL 9"})
        ci.tags.set(services.tags_get_or_create(["prod"]))
    params = {"ci_class": "server", "attr.os": "RHEL 9"}
    manager_client.get(LIST, params)  # warm the session and permission caches

    # the number of queries does not depend on the number of rows (16: the page's 15 and
    # the header bell's unread count)
    with django_assert_num_queries(12):
        manager_client.get(LIST, params)
    for number in range(20):
        CIFactory(name=f"more-{number}", ci_class=ci_class("server"), owner_team=team,
                  attributes={"os": "RHEL 9"})
    with django_assert_num_queries(12):
        manager_client.get(LIST, params)


def test_htmx_filtering_returns_only_the_list_body(manager_client):
    response = manager_client.get(LIST, {"q": "x"}, HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    assert "<html" not in response.text
    assert 'class="cmdb-list"' in response.text


def test_csv_export_has_the_filtered_list_with_attribute_columns(manager_client, asset_manager):
    server(asset_manager, "rhel-01", os="RHEL 9", serial_number="SN-1")
    server(asset_manager, "ubuntu-01", serial_number="=cmd")  # a formula is defused
    CIFactory(name="billing")

    # The list page links to the export of what it shows
    page = manager_client.get(LIST, {"ci_class": "server"})
    assert f'{reverse("cmdb:ci_export")}?ci_class=server' in page.text

    response = manager_client.get(reverse("cmdb:ci_export"), {"ci_class": "server"})
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert [row["name"] for row in rows] == ["rhel-01", "ubuntu-01"]
    assert rows[0]["class"] == "server" and rows[0]["attr.os"] == "RHEL 9"
    assert rows[1]["serial_number"] == "'=cmd"


# --- Saved views (the desk's one mechanism; tests/desk/test_saved_views.py has the rest) --

SAVE = reverse("desk:saved_view_create")


def test_saved_views_are_created_used_shared_and_deleted_by_their_owner(
        client, asset_manager, agent):
    client.force_login(asset_manager)
    server(asset_manager, "rhel-01", os="RHEL 9")
    server(asset_manager, "ubuntu-01")

    # The list page offers to save its filters under its own list key
    page = client.get(LIST, {"ci_class": "server"})
    assert page.context["save_form"].initial == {"list_key": "cmdb.ci",
                                                 "query": "ci_class=server"}
    assert 'value="cmdb.ci"' in page.text

    # When the asset manager saves the current filters as a shared view
    response = client.post(SAVE, {
        "list_key": "cmdb.ci", "name": "RHEL servers", "shared": "on",
        "query": "ci_class=server&attr.os=RHEL+9&after=abc&status=",
    })
    view = SavedView.objects.get()
    assert response.status_code == 302
    assert (view.list_key, view.query) == ("cmdb.ci", "attr.os=RHEL+9&ci_class=server")
    assert AuditEntry.objects.filter(action=AuditAction.CREATE, object_id=str(view.pk),
                                     content_type__model="savedview").exists()

    # then using it shows the filtered list, and it is marked as the current view
    response = client.get(response["Location"])
    assert names_in(response) == ["rhel-01"]
    assert response.context["current_view"] == view
    assert 'aria-current="true">RHEL servers</a>' in response.text

    # and the same name again is refused at the name field
    response = client.post(SAVE, {"list_key": "cmdb.ci", "name": "rhel servers",
                                  "query": "ci_class=server"})
    assert response.status_code == 400
    assert response.context["save_form"].errors["name"] == ["Already used by one of your views."]

    # Another desk person sees the shared view but cannot delete it
    client.force_login(agent)
    assert "RHEL servers" in client.get(LIST).text
    delete = reverse("desk:saved_view_delete", args=[view.pk])
    assert client.post(delete).status_code == 403

    # Its owner can, and is back on the CI list
    client.force_login(asset_manager)
    response = client.post(delete)
    assert (response.status_code, response["Location"]) == (302, LIST)
    assert not SavedView.objects.exists()
    assert AuditEntry.objects.filter(action=AuditAction.DELETE, object_id=str(view.pk)).exists()


def test_private_views_are_only_listed_for_their_owner(client, asset_manager, agent):
    SavedView.objects.create(list_key="cmdb.ci", owner=asset_manager, name="Mine",
                             query="status=planned")
    client.force_login(agent)
    assert "Mine" not in client.get(LIST).text


def test_invalid_filters_cannot_be_saved(manager_client):
    response = manager_client.post(SAVE, {"list_key": "cmdb.ci", "name": "Bad",
                                          "query": "status=nonsense"})
    assert response.status_code == 400
    assert "These filters are not valid" in response.text
    response = manager_client.post(SAVE, {"list_key": "cmdb.ci", "name": "Bad",
                                          "query": "attr.bad-key=1"})
    assert response.status_code == 400
    assert "Not a filter of this list: attr.bad-key" in response.text
    assert not SavedView.objects.exists()


# --- Detail, impact graph -------------------------------------------------------------

@pytest.fixture
def estate(asset_manager):
    """portal (service) depends on web (app) runs on vm-01, which runs on esx-01."""
    esx = server(asset_manager, "esx-01", serial_number="ESX1", attributes={"cpu_cores": 32})
    vm = services.ci_create(actor=asset_manager, name="vm-01",
                            ci_class=ci_class("virtual_machine"),
                            attributes={"os": "RHEL 9", "host": esx.pk})
    web = CIFactory(name="web")
    portal = CIFactory(name="portal", ci_class=ci_class("business_service"))
    for source, target, key in ((portal, web, "depends_on"), (web, vm, "runs_on"),
                                (vm, esx, "runs_on")):
        Relationship.objects.create(source=source, target=target, type=rel_type(key))
    return {"esx": esx, "vm": vm, "web": web, "portal": portal}


def test_detail_shows_attributes_relationships_impact_and_history(manager_client, estate):
    vm = estate["vm"]
    response = manager_client.get(reverse("cmdb:ci_detail", args=[vm.pk]))
    assert response.status_code == 200
    text = response.text
    # attributes with the schema's labels; the reference is a link to the host
    assert "Runs on host" in text
    assert f'href="{reverse("cmdb:ci_detail", args=[estate["esx"].pk])}">esx-01</a>' in text
    # outgoing links by name, incoming by reverse name
    assert [link.target.name for link in response.context["outgoing"]] == ["esx-01"]
    assert [link.source.name for link in response.context["incoming"]] == ["web"]
    assert "<td>runs on</td>" in text and "<td>hosts</td>" in text
    # the impact section: a graph fed by the JSON endpoint, and a table of the same CIs
    graph_url = reverse("cmdb:ci_impact_json", args=[vm.pk]) + "?direction=up&amp;depth=3"
    assert f'data-url="{graph_url}"' in text
    assert [(item.name, distance) for item, distance in response.context["impact_nodes"]] == [
        ("web", 1), ("portal", 2)]
    assert "vendor/cytoscape-3.34.4.min.js" in text
    # the history of this CI
    assert [entry.action for entry in response.context["history"]] == [AuditAction.CREATE]


def test_the_detail_query_count_is_pinned(manager_client, django_assert_num_queries):
    # Given a host with two levels of CIs linked to it (VMs on it, apps on the VMs)
    host = CIFactory(name="esx", ci_class=ci_class("server"), attributes={"os": "RHEL 9"})
    url = reverse("cmdb:ci_detail", args=[host.pk])

    def link_more(count, start):
        for number in range(start, start + count):
            vm = CIFactory(name=f"vm-{number}", ci_class=ci_class("virtual_machine"),
                           attributes={"os": "RHEL 9", "host": host.pk})
            Relationship.objects.create(source=vm, target=host, type=rel_type("runs_on"))
            app = CIFactory(name=f"app-{number}")
            Relationship.objects.create(source=app, target=vm, type=rel_type("runs_on"))

    link_more(3, 0)
    manager_client.get(url)
    # The impact walk costs a query per level it reaches, not per CI (23 with the header
    # bell's unread count):
    with django_assert_num_queries(19):
        manager_client.get(url)
    link_more(12, 3)
    with django_assert_num_queries(19):
        response = manager_client.get(url)
    assert len(response.context["impact_nodes"]) == 30


def test_impact_json_has_the_nodes_and_links_in_both_directions(manager_client, estate):
    url = reverse("cmdb:ci_impact_json", args=[estate["vm"].pk])

    up = manager_client.get(url, {"direction": "up", "depth": "5"}).json()
    assert up["root"] == estate["vm"].pk and up["direction"] == "up"
    assert {(n["name"], n["distance"]) for n in up["nodes"]} == {
        ("vm-01", 0), ("web", 1), ("portal", 2)}
    portal = next(n for n in up["nodes"] if n["name"] == "portal")
    assert portal["is_service"] and portal["url"] == reverse("cmdb:ci_detail",
                                                             args=[estate["portal"].pk])
    assert {(e["source"], e["target"], e["label"]) for e in up["edges"]} == {
        (estate["web"].pk, estate["vm"].pk, "runs on"),
        (estate["portal"].pk, estate["web"].pk, "depends on")}

    down = manager_client.get(url, {"direction": "down", "depth": "1"}).json()
    assert [n["name"] for n in down["nodes"]] == ["vm-01", "esx-01"]

    bad = manager_client.get(url, {"direction": "sideways", "depth": "99"})
    assert bad.status_code == 400
    assert set(bad.json()["fields"]) == {"direction", "depth"}


def test_the_impact_section_reloads_alone_for_htmx(manager_client, estate):
    response = manager_client.get(reverse("cmdb:ci_detail", args=[estate["esx"].pk]),
                                  {"direction": "up", "depth": "2"},
                                  HTTP_HX_REQUEST="true", HTTP_HX_TARGET="impact")
    assert response.status_code == 200
    assert response.text.lstrip().startswith("<section")
    assert [item.name for item, _d in response.context["impact_nodes"]] == ["vm-01", "web"]


def test_a_service_shows_its_health(manager_client, estate):
    response = manager_client.get(reverse("cmdb:ci_detail", args=[estate["portal"].pk]))
    assert response.context["health"]["status"] == "operational"
    assert "Service health" in response.text


# --- Forms generated from the schema --------------------------------------------------

def test_the_create_form_is_generated_from_the_class_schema(manager_client, estate):
    # Without a class, the page asks for one
    response = manager_client.get(reverse("cmdb:ci_create"))
    assert "?class=virtual_machine" in response.text
    assert manager_client.get(reverse("cmdb:ci_create"), {"class": "nope"}).status_code == 400

    form = manager_client.get(reverse("cmdb:ci_create"),
                              {"class": "virtual_machine"}).context["form"]
    assert form.fields["attr_os"].required
    assert ("RHEL 9", "RHEL 9") in form.fields["attr_os"].choices
    assert form.fields["attr_cpu_cores"].widget.input_type == "number"
    # a reference is a choice of CIs of the referenced class only
    assert [label for value, label in form.fields["attr_host"].choices if value] == ["esx-01"]
    assert "purchase_date" not in form.fields  # a VM is not an asset

    server_form = manager_client.get(reverse("cmdb:ci_create"),
                                     {"class": "server"}).context["form"]
    assert {"purchase_date", "warranty_end", "assigned_to"} <= set(server_form.fields)
    assert server_form.fields["attr_hypervisor_host"].widget.__class__.__name__ == (
        "NullBooleanSelect")
    date_form = manager_client.get(reverse("cmdb:ci_create"),
                                   {"class": "certificate"}).context["form"]
    assert date_form.fields["attr_expires_on"].widget.input_type == "date"


def vm_data(**overrides):
    return {"name": "vm-new", "status": "planned", "criticality": "3", "environment": "prod",
            "attr_os": "Ubuntu 22.04", **overrides}


def test_a_missing_attribute_is_shown_at_its_field_and_nothing_is_created(manager_client):
    url = reverse("cmdb:ci_create") + "?class=virtual_machine"
    response = manager_client.post(url, vm_data(attr_os=""))
    assert response.status_code == 400
    assert response.context["form"].errors == {"attr_os": ["This field is required."]}
    assert 'aria-invalid="true"' in response.text
    assert not ConfigurationItem.objects.filter(name="vm-new").exists()

    response = manager_client.post(url, vm_data(tags="linux, web"))
    vm = ConfigurationItem.objects.get(name="vm-new")
    assert response.status_code == 302 and response["Location"] == reverse(
        "cmdb:ci_detail", args=[vm.pk])
    assert vm.attributes == {"os": "Ubuntu 22.04"} and vm.status == "planned"
    assert sorted(vm.tags.values_list("name", flat=True)) == ["linux", "web"]


def test_a_service_refusal_of_an_attribute_is_shown_at_the_generated_field(manager_client):
    # Given a reference attribute to any class: the form takes an id, the service checks it
    AttributeDefinition.objects.create(ci_class=ci_class("virtual_machine"), key="backup_of",
                                       label="Backup of", type="reference")
    url = reverse("cmdb:ci_create") + "?class=virtual_machine"

    response = manager_client.post(url, vm_data(attr_backup_of="999999"))

    assert response.status_code == 400
    assert response.context["form"].errors["attr_backup_of"] == [
        "Backup of: No such configuration item of the right class."]
    assert not response.context["form"].non_field_errors()
    assert not ConfigurationItem.objects.filter(name="vm-new").exists()


def test_a_duplicate_identifier_is_refused_at_the_field_with_a_link(manager_client, estate):
    response = manager_client.post(reverse("cmdb:ci_create") + "?class=server", {
        "name": "esx-copy", "status": "planned", "criticality": "3", "environment": "prod",
        "attr_os": "RHEL 9", "serial_number": "esx1"})
    assert response.status_code == 400
    form = response.context["form"]
    assert form.errors["serial_number"] == [f"Matches esx-01 (CI {estate['esx'].pk})."]
    assert response.context["duplicate"] == estate["esx"]
    assert reverse("cmdb:ci_detail", args=[estate["esx"].pk]) in response.text


def test_edit_saves_through_the_service_and_is_audited(manager_client, estate):
    esx = estate["esx"]
    url = reverse("cmdb:ci_edit", args=[esx.pk])
    form = manager_client.get(url).context["form"]
    assert form.initial["attr_cpu_cores"] == 32 and "status" not in form.fields

    data = {name: value for name, value in form.initial.items()
            if value is not None and name != "assigned_to"}
    data.update({"attr_cpu_cores": "48", "location": "Leeds DC2", "owner_team": ""})
    response = manager_client.post(url, data)

    assert response.status_code == 302
    esx.refresh_from_db()
    assert esx.attributes["cpu_cores"] == 48 and esx.location == "Leeds DC2"
    entry = AuditEntry.objects.get(object_id=str(esx.pk), action=AuditAction.UPDATE,
                                   content_type__model="configurationitem")
    assert entry.changes["location"] == ["", "Leeds DC2"]
    assert entry.changes["attributes"][1]["cpu_cores"] == 48


# --- Lifecycle ------------------------------------------------------------------------

def test_lifecycle_buttons_move_the_ci_and_are_audited(manager_client, asset_manager):
    ci = server(asset_manager, "srv-new")
    detail = reverse("cmdb:ci_detail", args=[ci.pk])
    response = manager_client.get(detail)
    assert [t.target for t in response.context["transitions"]] == [
        "in_stock", "operational", "retired"]
    assert 'name="to_status" value="operational"' in response.text

    response = manager_client.post(reverse("cmdb:ci_transition", args=[ci.pk]),
                                   {"to_status": "operational"})

    assert response.status_code == 302
    ci.refresh_from_db()
    assert ci.status == "operational"
    entry = AuditEntry.objects.get(object_id=str(ci.pk), action=AuditAction.TRANSITION)
    assert entry.changes == {"status": ["planned", "operational"]}
    assert entry.actor_label == "assets" and entry.message == "Deploy"


def test_a_move_the_lifecycle_does_not_allow_is_refused_with_a_message(
        manager_client, asset_manager):
    ci = server(asset_manager, "srv-new")
    response = manager_client.post(reverse("cmdb:ci_transition", args=[ci.pk]),
                                   {"to_status": "disposed"}, follow=True)
    ci.refresh_from_db()
    assert ci.status == "planned"
    assert "Cannot move from Planned to Disposed." in response.text


# --- Relationships --------------------------------------------------------------------

def test_a_relationship_is_added_and_removed_with_htmx(manager_client, estate):
    esx = estate["esx"]
    db = CIFactory(name="pg-01", ci_class=ci_class("database"),
                   attributes={"engine": "PostgreSQL"})
    url = reverse("cmdb:relationship_create", args=[db.pk])

    # The other CI can be named as a suggestion, an id or an exact name
    response = manager_client.post(url, {"relation": "runs_on:out",
                                         "other": f"esx-01 (CI {esx.pk})"},
                                   HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    assert response["HX-Trigger"] == "relationshipsChanged"
    assert "<html" not in response.text and "esx-01" in response.text
    link = Relationship.objects.get(source=db, target=esx)
    assert AuditEntry.objects.filter(object_id=str(db.pk), changes__has_key="relationships"
                                     ).exists()

    # and the incoming direction: the web app is "used by"… no: web depends on pg-01
    response = manager_client.post(url, {"relation": "depends_on:in", "other": "web"})
    assert response.status_code == 302
    assert Relationship.objects.filter(source=estate["web"], target=db).exists()

    response = manager_client.post(
        reverse("cmdb:relationship_delete", args=[db.pk, link.pk]), HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    assert not Relationship.objects.filter(pk=link.pk).exists()


def test_a_relationship_the_classes_do_not_allow_shows_an_error_at_the_field(
        manager_client, estate):
    # Given an application and a router: an application cannot run on a router
    router = CIFactory(name="core-rtr", ci_class=ci_class("network_device"),
                       attributes={"device_type": "router"})
    url = reverse("cmdb:relationship_create", args=[estate["web"].pk])

    response = manager_client.post(url, {"relation": "runs_on:out", "other": str(router.pk)},
                                   HTTP_HX_REQUEST="true")

    assert response.status_code == 400
    form = response.context["relationship_form"]
    assert form.errors["other"] == ["Class not allowed here."]
    assert "cannot" in form.non_field_errors()[0]
    assert not Relationship.objects.filter(target=router).exists()


def test_the_relationship_choices_fit_the_class_and_unknown_cis_are_explained(
        manager_client, estate):
    response = manager_client.get(reverse("cmdb:ci_detail", args=[estate["web"].pk]))
    choices = dict(response.context["relationship_form"].fields["relation"].choices)
    assert "runs_on:out" in choices and "runs_on:in" not in choices  # an app hosts nothing
    assert choices["depends_on:in"] == "used by"

    url = reverse("cmdb:relationship_create", args=[estate["web"].pk])
    response = manager_client.post(url, {"relation": "depends_on:out", "other": "nothing"})
    assert response.status_code == 400
    assert "No configuration item is called" in response.context[
        "relationship_form"].errors["other"][0]
    response = manager_client.post(url, {"relation": "depends_on:in",
                                         "other": str(estate["web"].pk)})
    assert response.context["relationship_form"].errors["other"] == ["Choose another CI."]


def test_the_lookup_suggests_cis_by_name(manager_client, estate):
    response = manager_client.get(reverse("cmdb:ci_lookup"),
                                  {"other": "esx", "exclude": estate["vm"].pk})
    assert f'value="esx-01 (CI {estate["esx"].pk})"' in response.text


# --- Licences -------------------------------------------------------------------------

def test_licence_compliance_shows_over_deployment(manager_client, asset_manager):
    # Given a product with one per-device licence and two installations
    product = services.ci_create(actor=asset_manager, name="Acrobat",
                                 ci_class=ci_class("software_product"))
    licences.licence_create(actor=asset_manager, product=product, name="Adobe VIP",
                            metric="per_device", entitlement_count=1,
                            expiry_date=datetime.date(2099, 1, 1))
    for number in range(2):
        laptop = services.ci_create(actor=asset_manager, name=f"LT-{number}",
                                    ci_class=ci_class("workstation"),
                                    attributes={"os": "Windows 11"})
        licences.installation_add(actor=asset_manager, product=product, device=laptop)

    response = manager_client.get(reverse("cmdb:licence_list"))

    row = response.context["compliance"][0]
    assert (row["entitled"], row["installed"], row["available"]) == (1, 2, -1)
    assert '<tr class="over-deployed">' in response.text
    assert "Over-deployed by 1" in response.text
    assert "2099-01-01" in response.text
    # the product's own page says so too
    detail = manager_client.get(reverse("cmdb:ci_detail", args=[product.pk]))
    assert "Over-deployed by 1" in detail.text


def test_licences_are_added_and_edited_through_the_form(manager_client, asset_manager):
    product = CIFactory(name="Office", ci_class=ci_class("software_product"))
    not_a_product = CIFactory(name="web")
    url = reverse("cmdb:licence_create")
    data = {"product": product.pk, "name": "EA", "metric": "per_user",
            "entitlement_count": "50", "expiry_date": "2030-12-31"}

    response = manager_client.post(url, {**data, "product": not_a_product.pk})
    assert response.status_code == 400 and "product" in response.context["form"].errors

    assert manager_client.post(url, data).status_code == 302
    licence = product.licences.get()
    edit = reverse("cmdb:licence_edit", args=[licence.pk])
    assert manager_client.get(edit).context["form"].initial["product"] == product.pk
    assert manager_client.post(edit, {**data, "entitlement_count": "60"}).status_code == 302
    licence.refresh_from_db()
    assert licence.entitlement_count == 60


def test_software_is_recorded_on_a_device(manager_client, asset_manager):
    product = CIFactory(name="Office", ci_class=ci_class("software_product"))
    laptop = services.ci_create(actor=asset_manager, name="LT-1",
                                ci_class=ci_class("workstation"),
                                attributes={"os": "Windows 11"})
    response = manager_client.post(reverse("cmdb:installation_create", args=[laptop.pk]),
                                   {"product": product.pk, "version": "2408"},
                                   HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    assert laptop.installed_software.get().version == "2408"


# --- Who may do what ------------------------------------------------------------------

def test_an_agent_reads_the_cmdb_but_cannot_change_it(client, agent, estate):
    client.force_login(agent)
    esx = estate["esx"]
    detail = client.get(reverse("cmdb:ci_detail", args=[esx.pk]))
    assert detail.status_code == 200
    assert detail.context["transitions"] == []
    assert reverse("cmdb:ci_edit", args=[esx.pk]) not in detail.text
    assert detail.context["relationship_form"] is None
    listing = client.get(LIST)
    assert listing.status_code == 200 and reverse("cmdb:ci_create") not in listing.text
    assert client.get(reverse("cmdb:licence_list")).status_code == 200
    assert client.get(reverse("cmdb:ci_impact_json", args=[esx.pk])).status_code == 200

    for url in (reverse("cmdb:ci_create"), reverse("cmdb:ci_edit", args=[esx.pk]),
                reverse("cmdb:licence_create")):
        assert client.get(url).status_code == 403, url
    assert client.post(reverse("cmdb:ci_transition", args=[esx.pk]),
                       {"to_status": "retired"}).status_code == 403
    assert client.post(reverse("cmdb:relationship_create", args=[esx.pk]),
                       {"relation": "depends_on:out", "other": "web"}).status_code == 403
    esx.refresh_from_db()
    assert esx.status == "planned"


def test_a_requester_gets_403_and_a_stranger_the_sign_in_page(client, requester, estate):
    client.force_login(requester)
    for url in (LIST, reverse("cmdb:ci_detail", args=[estate["esx"].pk]),
                reverse("cmdb:licence_list"), reverse("cmdb:ci_export"),
                reverse("cmdb:ci_impact_json", args=[estate["esx"].pk])):
        assert client.get(url).status_code == 403, url
    client.logout()
    assert client.get(LIST)["Location"].startswith("/accounts/login/")
