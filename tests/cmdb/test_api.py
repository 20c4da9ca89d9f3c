import csv
import io
import json

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from audit.models import AuditAction, AuditEntry
from cmdb import licences, selectors, services
from cmdb.models import (
    ConfigurationItem,
    Installation,
    Relationship,
    SoftwareLicence,
    Tag,
)
from tests.cmdb.factories import CIFactory, ci_class, rel_type
from tests.factories import TeamFactory, UserFactory

CIS = "/api/v1/cmdb/cis/"
RELATIONSHIPS = "/api/v1/cmdb/relationships/"
LICENCES = "/api/v1/cmdb/licences/"
INSTALLATIONS = "/api/v1/cmdb/installations/"


@pytest.fixture
def asset_manager(db):
    return UserFactory(username="assets", roles=["asset_manager"])


@pytest.fixture
def as_assets(api, asset_manager):
    api.force_authenticate(asset_manager)
    return api


@pytest.fixture
def as_agent(api, agent):
    api.force_authenticate(agent)
    return api


def assert_error(response, status, code=None, field=None):
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"code", "message", "fields"}
    assert body["message"]
    if code:
        assert body["code"] == code, body
    if field:
        assert field in body["fields"], body
    return body


def server(actor, name="web-01", **fields):
    fields.setdefault("attributes", {"os": "Ubuntu 24.04"})
    return services.ci_create(actor=actor, name=name, ci_class=ci_class("server"), **fields)


def entries(target, action=None):
    found = AuditEntry.objects.filter(object_id=str(target.pk),
                                      content_type__model=target._meta.model_name)
    return found.filter(action=action) if action else found


# --- Access ---------------------------------------------------------------------------

@pytest.mark.parametrize("path", [CIS, "/api/v1/cmdb/classes/", RELATIONSHIPS, LICENCES,
                                  INSTALLATIONS, "/api/v1/cmdb/cis/export/",
                                  "/api/v1/cmdb/licences/compliance/"])
def test_requester_is_refused(api, requester, path):
    api.force_authenticate(requester)
    assert_error(api.get(path), 403, "permission_denied")


def test_anonymous_is_401(api, db):
    assert_error(api.get(CIS), 401, "not_authenticated")


def test_agent_reads_but_cannot_write(as_agent, asset_manager):
    # Given a CI recorded by the asset manager
    ci = server(asset_manager, serial_number="SN-1")
    # When an agent reads, creates, edits and moves it
    assert as_agent.get(f"{CIS}{ci.pk}/").json()["name"] == "web-01"
    created = as_agent.post(CIS, {"name": "x", "ci_class": "application"})
    edited = as_agent.patch(f"{CIS}{ci.pk}/", {"name": "renamed"})
    moved = as_agent.post(f"{CIS}{ci.pk}/transition/", {"to_status": "operational"})
    # Then every write is refused and nothing changed
    for response in (created, edited, moved):
        assert_error(response, 403, "permission_denied")
    ci.refresh_from_db()
    assert (ci.name, ci.status) == ("web-01", "planned")
    assert ConfigurationItem.objects.count() == 1
    assert as_agent.get(f"{CIS}{ci.pk}/").json()["transitions"] == []


# --- Classes and relationship types ---------------------------------------------------

def test_classes_list_their_attribute_schema(as_agent):
    classes = {c["key"]: c for c in as_agent.get("/api/v1/cmdb/classes/").json()}
    assert classes["business_service"]["is_service"] is True
    os_attribute = next(a for a in classes["server"]["attributes"] if a["key"] == "os")
    assert os_attribute["type"] == "choice" and os_attribute["required"] is True
    assert "RHEL 9" in os_attribute["choices"]
    host = next(a for a in classes["virtual_machine"]["attributes"] if a["key"] == "host")
    assert (host["type"], host["reference_class"]) == ("reference", "server")
    one = as_agent.get("/api/v1/cmdb/classes/server/").json()
    assert one["name"] == "Server" and one["is_asset"] is True


def test_relationship_types_list_the_classes_they_join(as_agent):
    types = {t["key"]: t for t in as_agent.get("/api/v1/cmdb/relationship-types/").json()}
    runs_on = types["runs_on"]
    assert (runs_on["name"], runs_on["reverse_name"]) == ("runs on", "hosts")
    assert sorted(runs_on["allowed_targets"]) == ["server", "virtual_machine"]
    assert types["licensed_to"]["propagates_impact"] is False


def test_classes_are_read_only(as_assets):
    assert_error(as_assets.post("/api/v1/cmdb/classes/", {"key": "x", "name": "X"}), 405)


# --- Creating and editing CIs ---------------------------------------------------------

def test_asset_manager_creates_a_ci(as_assets, asset_manager):
    team = TeamFactory(name="Infrastructure")
    # When
    response = as_assets.post(CIS, {
        "name": "db-01", "ci_class": "server", "owner_team": team.pk,
        "serial_number": "5cg-001", "hostname": "db-01", "ip_address": "10.0.0.5",
        "mac_address": "00-1A-2B-3C-4D-5E", "tags": ["Production", "linux"],
        "attributes": {"os": "RHEL 9", "cpu_cores": "16", "hypervisor_host": "yes"},
        "criticality": 1,
    })
    # Then
    assert response.status_code == 201, response.content
    body = response.json()
    ci = ConfigurationItem.objects.get(pk=body["id"])
    assert ci.attributes == {"os": "RHEL 9", "cpu_cores": 16, "hypervisor_host": True}
    assert (ci.status, ci.identity, ci.mac_address) == (
        "planned", "serial:5CG-001", "00:1a:2b:3c:4d:5e")
    assert sorted(ci.tags.values_list("name", flat=True)) == ["linux", "production"]
    assert body["tags"] == ["linux", "production"]
    assert (body["ci_class"], body["class_name"]) == ("server", "Server")
    assert body["owner_team_name"] == "Infrastructure"
    assert body["transitions"] == [
        {"to_status": "in_stock", "label": "Receive into stock"},
        {"to_status": "operational", "label": "Deploy"},
        {"to_status": "retired", "label": "Cancel plan"},
    ]
    created = entries(ci, AuditAction.CREATE).get()
    assert created.actor == asset_manager and created.source == "api"
    assert created.changes["tags"] == [None, ["linux", "production"]]


def test_status_cannot_be_set_by_create_or_edit(as_assets, asset_manager):
    response = as_assets.post(CIS, {"name": "app", "ci_class": "application",
                                    "status": "retired"})
    assert response.status_code == 201
    ci = ConfigurationItem.objects.get(pk=response.json()["id"])
    assert ci.status == "planned"
    as_assets.patch(f"{CIS}{ci.pk}/", {"status": "disposed"})
    ci.refresh_from_db()
    assert ci.status == "planned"


def test_bad_attribute_type_names_the_attribute(as_assets):
    response = as_assets.post(CIS, {"name": "db-01", "ci_class": "server",
                                    "attributes": {"os": "RHEL 9", "cpu_cores": "many"}})
    body = assert_error(response, 400, "invalid", "attributes.cpu_cores")
    assert "number" in body["fields"]["attributes.cpu_cores"][0]
    assert not ConfigurationItem.objects.exists()


def test_missing_required_attribute_names_it(as_assets):
    response = as_assets.post(CIS, {"name": "db-01", "ci_class": "server"})
    assert_error(response, 400, "invalid", "attributes.os")


def test_unknown_class_names_ci_class(as_assets):
    response = as_assets.post(CIS, {"name": "thing", "ci_class": "spaceship"})
    body = assert_error(response, 400, "invalid", "ci_class")
    assert "spaceship" in body["fields"]["ci_class"][0]
    assert not ConfigurationItem.objects.exists()


def test_duplicate_serial_is_409_pointing_at_the_existing_ci(as_assets, asset_manager):
    first = server(asset_manager, serial_number="SN-42")
    response = as_assets.post(CIS, {"name": "web-01 again", "ci_class": "server",
                                    "serial_number": "sn-42",
                                    "attributes": {"os": "RHEL 9"}})
    body = assert_error(response, 409, "duplicate_ci", "serial_number")
    assert f"CI {first.pk}" in body["message"] and "web-01" in body["message"]
    assert f"CI {first.pk}" in body["fields"]["serial_number"][0]
    assert ConfigurationItem.objects.count() == 1


def test_patch_edits_fields_tags_and_attributes_with_an_audit_diff(as_assets, asset_manager):
    ci = server(asset_manager, tags=["linux"])
    response = as_assets.patch(f"{CIS}{ci.pk}/", {
        "location": "DC1", "tags": ["linux", "dmz"],
        "attributes": {"os": "RHEL 9", "memory_gb": 64}})
    assert response.status_code == 200, response.content
    ci.refresh_from_db()
    assert ci.location == "DC1" and ci.attributes == {"os": "RHEL 9", "memory_gb": 64}
    assert response.json()["tags"] == ["dmz", "linux"]
    update = entries(ci, AuditAction.UPDATE).get()
    assert update.actor == asset_manager
    assert update.changes["location"] == ["", "DC1"]
    assert update.changes["tags"] == [["linux"], ["dmz", "linux"]]


def test_patch_to_a_taken_identifier_is_409(as_assets, asset_manager):
    server(asset_manager, name="a", serial_number="SN-A")
    other = server(asset_manager, name="b", serial_number="SN-B")
    response = as_assets.patch(f"{CIS}{other.pk}/", {"serial_number": "SN-A"})
    assert_error(response, 409, "duplicate_ci", "serial_number")
    other.refresh_from_db()
    assert other.serial_number == "SN-B"


def test_put_replaces_the_editable_fields(as_assets, asset_manager):
    ci = server(asset_manager)
    response = as_assets.put(f"{CIS}{ci.pk}/", {
        "name": "web-01.example", "ci_class": "server", "vendor": "Dell",
        "attributes": {"os": "RHEL 8"}, "ip_address": ""})
    assert response.status_code == 200, response.content
    ci.refresh_from_db()
    assert (ci.name, ci.vendor, ci.attributes, ci.ip_address) == (
        "web-01.example", "Dell", {"os": "RHEL 8"}, None)


# --- Lifecycle ------------------------------------------------------------------------

def test_transition_moves_the_ci_and_audits_the_note(as_assets, asset_manager):
    ci = server(asset_manager)
    response = as_assets.post(f"{CIS}{ci.pk}/transition/",
                              {"to_status": "operational", "note": "racked in DC1"})
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "operational"
    assert {t["to_status"] for t in response.json()["transitions"]} == {
        "maintenance", "in_stock", "retired"}
    ci.refresh_from_db()
    assert ci.status == "operational"
    entry = entries(ci, AuditAction.TRANSITION).get()
    assert entry.changes == {"status": ["planned", "operational"]}
    assert entry.message == "Deploy: racked in DC1"


def test_transition_not_in_the_lifecycle_is_refused(as_assets, asset_manager):
    ci = server(asset_manager)
    response = as_assets.post(f"{CIS}{ci.pk}/transition/", {"to_status": "disposed"})
    assert_error(response, 400, "invalid_transition", "status")
    assert_error(as_assets.post(f"{CIS}{ci.pk}/transition/", {"to_status": "lost"}),
                 400, "invalid", "to_status")
    ci.refresh_from_db()
    assert ci.status == "planned"
    assert not entries(ci, AuditAction.TRANSITION).exists()


# --- Lists, filters and export --------------------------------------------------------

def test_filters_by_attribute_class_and_tag(as_agent, asset_manager):
    rhel = server(asset_manager, name="rhel", attributes={"os": "RHEL 9", "cpu_cores": 8},
                  tags=["linux"])
    server(asset_manager, name="ubuntu", attributes={"os": "Ubuntu 24.04", "cpu_cores": 8})
    services.ci_create(actor=asset_manager, name="crm", ci_class=ci_class("application"))

    def names(**params):
        response = as_agent.get(CIS, params)
        assert response.status_code == 200, response.content
        return [row["name"] for row in response.json()["results"]]

    assert names(**{"attr.os": "RHEL 9"}) == ["rhel"]
    assert sorted(names(**{"attr.cpu_cores": "8"})) == ["rhel", "ubuntu"]
    assert names(ci_class="application") == ["crm"]
    assert names(tag="linux") == ["rhel"]
    row = as_agent.get(CIS, {"attr.os": "RHEL 9"}).json()["results"][0]
    assert row["id"] == rhel.pk and row["attributes"]["cpu_cores"] == 8
    assert "transitions" not in row


def test_text_search_does_not_match_every_ci_without_an_ip(as_agent, asset_manager):
    server(asset_manager, name="rhel")
    server(asset_manager, name="ubuntu", serial_number="SN-U")
    response = as_agent.get(CIS, {"q": "rhe"})
    assert [row["name"] for row in response.json()["results"]] == ["rhel"], (
        "ConfigurationItemFilterSet.filter_q adds Q(ip_address=None) for text that is not "
        "an IP, which Django reads as 'ip_address IS NULL'")


def test_bad_filter_value_is_400_naming_the_filter(as_agent):
    assert_error(as_agent.get(CIS, {"status": "lost"}), 400, "invalid", "status")
    assert_error(as_agent.get(CIS, {"ci_class": "spaceship"}), 400, "invalid", "ci_class")
    assert_error(as_agent.get(CIS, {"attr.bad-key": "x"}), 400, "invalid")


def test_malformed_ip_filter_is_400_naming_it(as_agent):
    # ConfigurationItemFilterSet.ip_address is a plain CharFilter: SQLite answers an empty
    # list, PostgreSQL raises (500) adapting "abc" to inet. docs/api.md promises 400.
    assert_error(as_agent.get(CIS, {"ip_address": "abc"}), 400, "invalid", "ip_address")


def test_list_does_not_query_per_ci(api, agent, asset_manager, django_assert_max_num_queries):
    team = TeamFactory()

    def add(count, start):
        for n in range(start, start + count):
            ci = CIFactory(name=f"host-{n:03d}", ci_class=ci_class("server"),
                           owner_team=team, assigned_to=asset_manager,
                           attributes={"os": "RHEL 9"})
            ci.tags.set([Tag.objects.get_or_create(name=f"t{n % 3}")[0]])

    def get_list():
        with CaptureQueriesContext(connection) as queries:
            response = api.get(CIS, {"page_size": 100})
        assert response.status_code == 200
        return response, len(queries)

    def fresh_user():  # as in a real request: nothing cached on the user object
        api.force_authenticate(type(agent).objects.get(pk=agent.pk))

    add(3, 0)
    fresh_user()
    get_list()  # the first ask fills the permission cache
    fresh_user()
    _response, few = get_list()
    add(40, 3)
    fresh_user()
    # the page (1), its tags (1); permissions come from the cache
    with django_assert_max_num_queries(2):
        response, many = get_list()
    assert len(response.json()["results"]) == 43
    assert many == few


def test_cursor_pagination(as_agent):
    CIFactory.create_batch(3)
    first = as_agent.get(CIS, {"page_size": 2}).json()
    assert len(first["results"]) == 2 and first["next"]
    second = as_agent.get(first["next"]).json()
    assert len(second["results"]) == 1 and second["next"] is None


def test_csv_export_uses_the_list_filters(as_agent, asset_manager):
    server(asset_manager, name="rhel", serial_number="SN-1",
           attributes={"os": "RHEL 9", "cpu_cores": 4}, tags=["linux", "dmz"])
    server(asset_manager, name="=cmd|calc", attributes={"os": "Ubuntu 24.04"})
    services.ci_create(actor=asset_manager, name="crm", ci_class=ci_class("application"))

    response = as_agent.get(f"{CIS}export/", {"ci_class": "server"})
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert [r["name"] for r in rows] == ["rhel", "'=cmd|calc"]  # no formula injection
    rhel = rows[0]
    assert (rhel["class"], rhel["serial_number"], rhel["tags"]) == ("server", "SN-1",
                                                                    "dmz linux")
    assert (rhel["attr.os"], rhel["attr.cpu_cores"]) == ("RHEL 9", "4")

    only = as_agent.get(f"{CIS}export/", {"attr.os": "Ubuntu 24.04"},
                        HTTP_ACCEPT="text/csv")
    assert only.status_code == 200
    assert len(b"".join(only.streaming_content).decode().strip().splitlines()) == 2


def test_csv_export_with_a_bad_filter_is_400(as_agent):
    assert_error(as_agent.get(f"{CIS}export/", {"status": "lost"}), 400, "invalid", "status")
    asked_for_csv = as_agent.get(f"{CIS}export/", {"status": "lost"}, HTTP_ACCEPT="text/csv")
    assert asked_for_csv.status_code == 400
    assert json.loads(asked_for_csv.content)["fields"]["status"]


# --- Lookup ---------------------------------------------------------------------------

def test_lookup_by_serial_hostname_and_ip(as_agent, asset_manager):
    by_serial = server(asset_manager, name="a", serial_number="SN-9", hostname="app-01",
                       ip_address="10.1.1.1")
    by_host = server(asset_manager, name="b", hostname="db-01", domain="corp.example")

    def found(**params):
        response = as_agent.get(f"{CIS}lookup/", params)
        assert response.status_code == 200, response.content
        return response.json()["id"]

    assert found(serial="sn-9") == by_serial.pk
    assert found(hostname="db-01", domain="corp.example") == by_host.pk
    assert found(hostname="DB-01") == by_host.pk
    assert found(hostname="app-01") == by_serial.pk  # identified by serial, found by host
    assert found(ip="10.1.1.1") == by_serial.pk
    by_mac = server(asset_manager, name="c", mac_address="00:1a:2b:3c:4d:5e")
    assert found(mac="001A.2B3C.4D5E") == by_mac.pk
    by_tag = server(asset_manager, name="d", asset_tag="AT-7")
    assert found(asset_tag="at-7") == by_tag.pk
    assert "transitions" in as_agent.get(f"{CIS}lookup/", {"serial": "SN-9"}).json()


def test_lookup_errors(as_agent, asset_manager):
    server(asset_manager, name="a", ip_address="10.0.0.1", serial_number="1")
    server(asset_manager, name="b", ip_address="10.0.0.1", serial_number="2")
    body = assert_error(as_agent.get(f"{CIS}lookup/"), 400, "invalid")
    assert "serial" in body["message"] and "hostname" in body["message"]
    body = assert_error(as_agent.get(f"{CIS}lookup/", {"serial": "nope"}), 404, "not_found")
    assert "serial=nope" in body["message"]
    assert_error(as_agent.get(f"{CIS}lookup/", {"ip": "not-an-ip"}), 400, "invalid", "ip")
    assert_error(as_agent.get(f"{CIS}lookup/", {"mac": "zz"}), 400, "invalid", "mac")
    assert_error(as_agent.get(f"{CIS}lookup/", {"serial": "1", "hostname": "h"}), 400,
                 "invalid", "hostname")
    assert_error(as_agent.get(f"{CIS}lookup/", {"serial": "1", "domain": "d"}), 400,
                 "invalid", "domain")
    body = assert_error(as_agent.get(f"{CIS}lookup/", {"ip": "10.0.0.1"}), 409, "ambiguous")
    assert "a (CI" in body["message"] and "b (CI" in body["message"]


# --- Impact and health ----------------------------------------------------------------

@pytest.fixture
def estate(db):
    """shop (service) → app → db → host, and a cycle host → app (depends on)."""
    shop = CIFactory(name="shop", ci_class=ci_class("business_service"))
    app = CIFactory(name="app")
    database = CIFactory(name="db", ci_class=ci_class("database"),
                         attributes={"engine": "PostgreSQL"})
    host = CIFactory(name="host", ci_class=ci_class("server"), criticality=1)
    depends = rel_type("depends_on")
    for source, target in ((shop, app), (app, database), (database, host), (host, app)):
        Relationship.objects.create(source=source, target=target, type=depends)
    return {"shop": shop, "app": app, "db": database, "host": host}


def test_impact_upstream_and_downstream_through_a_cycle(as_agent, estate):
    response = as_agent.get(f"{CIS}{estate['host'].pk}/impact/",
                            {"direction": "up", "depth": 10})
    assert response.status_code == 200, response.content
    up = response.json()
    assert (up["root"], up["direction"], up["depth"], up["truncated"]) == (
        estate["host"].pk, "up", 10, False)
    distances = {node["name"]: node["distance"] for node in up["nodes"]}
    assert distances == {"host": 0, "db": 1, "app": 2, "shop": 3}
    node = next(n for n in up["nodes"] if n["name"] == "host")
    assert (node["class"], node["status"], node["criticality"]) == ("server", "operational", 1)
    edge = {(e["source"], e["target"]): e for e in up["edges"]}
    assert (estate["host"].pk, estate["app"].pk) in edge  # the cycle's link is drawn
    assert edge[estate["shop"].pk, estate["app"].pk]["type"] == "depends_on"
    assert edge[estate["shop"].pk, estate["app"].pk]["label"] == "depends on"

    down = as_agent.get(f"{CIS}{estate['app'].pk}/impact/", {"direction": "down",
                                                              "depth": 1}).json()
    assert {n["name"]: n["distance"] for n in down["nodes"]} == {"app": 0, "db": 1}

    default = as_agent.get(f"{CIS}{estate['db'].pk}/impact/").json()
    assert (default["direction"], default["depth"]) == ("up", 3)


@pytest.mark.parametrize(("params", "field"), [
    ({"direction": "sideways"}, "direction"),
    ({"depth": 0}, "depth"), ({"depth": 11}, "depth"), ({"depth": "deep"}, "depth"),
])
def test_impact_bad_parameters_are_400_naming_them(as_agent, estate, params, field):
    assert_error(as_agent.get(f"{CIS}{estate['app'].pk}/impact/", params), 400, "invalid",
                 field)


def test_impact_of_a_missing_ci_is_404(as_agent, db):
    assert_error(as_agent.get(f"{CIS}999999/impact/"), 404, "not_found")


def test_service_health(as_agent, estate, monkeypatch):
    shop = estate["shop"]
    url = f"{CIS}{shop.pk}/health/"
    assert as_agent.get(url).json() == {"ci": shop.pk, "status": "operational", "causes": []}

    outages = {estate["db"].pk: "INC0000001 (P1)"}
    monkeypatch.setattr(selectors, "_health_providers",
                        [lambda ids: {i: outages[i] for i in ids if i in outages}])
    degraded = as_agent.get(url).json()
    assert degraded["status"] == "degraded"
    assert degraded["causes"] == [{"ci": estate["db"].pk, "name": "db",
                                   "reason": "INC0000001 (P1)"}]
    outages[shop.pk] = "INC0000002 (major)"
    assert as_agent.get(url).json()["status"] == "down"


def test_health_of_a_non_service_is_400(as_agent, estate):
    body = assert_error(as_agent.get(f"{CIS}{estate['host'].pk}/health/"), 400,
                        "not_a_service")
    assert "Server" in body["message"]


# --- Relationships --------------------------------------------------------------------

def test_relationship_create_list_and_delete(as_assets, asset_manager):
    app = CIFactory(name="crm")
    host = CIFactory(name="vm-1", ci_class=ci_class("server"))
    response = as_assets.post(RELATIONSHIPS, {"source": app.pk, "target": host.pk,
                                              "type": "runs_on"})
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["source_name"], body["type_name"], body["target_name"]) == (
        "crm", "runs on", "vm-1")
    relationship = Relationship.objects.get(pk=body["id"])
    assert (relationship.source, relationship.target) == (app, host)
    assert entries(app, AuditAction.UPDATE).get().changes["relationships"][1].startswith(
        "runs on vm-1")
    assert entries(host, AuditAction.UPDATE).get().changes["relationships"][1].startswith(
        "hosts crm")

    listed = as_assets.get(RELATIONSHIPS, {"ci": host.pk}).json()["results"]
    assert [r["id"] for r in listed] == [relationship.pk]
    assert as_assets.get(RELATIONSHIPS, {"type": "depends_on"}).json()["results"] == []

    again = as_assets.post(RELATIONSHIPS, {"source": app.pk, "target": host.pk,
                                           "type": "runs_on"})
    assert_error(again, 409, "conflict", "target")

    assert as_assets.delete(f"{RELATIONSHIPS}{relationship.pk}/").status_code == 204
    assert not Relationship.objects.exists()
    assert entries(app, AuditAction.UPDATE).count() == 2


def test_relationship_the_classes_do_not_allow_is_400(as_assets):
    licence = CIFactory(name="EA", ci_class=ci_class("licence"))
    router = CIFactory(name="rtr-1", ci_class=ci_class("network_device"))
    response = as_assets.post(RELATIONSHIPS, {"source": licence.pk, "target": router.pk,
                                              "type": "runs_on"})
    body = assert_error(response, 400, "class_not_allowed", "source")
    assert "Licence" in body["message"]
    assert not Relationship.objects.exists()


def test_relationship_to_itself_is_400(as_assets):
    app = CIFactory(name="crm")
    response = as_assets.post(RELATIONSHIPS, {"source": app.pk, "target": app.pk,
                                              "type": "depends_on"})
    assert_error(response, 400, "self_relationship", "target")
    assert not Relationship.objects.exists()


def test_relationship_with_unknown_type_or_ci_is_400(as_assets):
    app = CIFactory(name="crm")
    assert_error(as_assets.post(RELATIONSHIPS, {"source": app.pk, "target": 999999,
                                                "type": "depends_on"}), 400, "invalid",
                 "target")
    assert_error(as_assets.post(RELATIONSHIPS, {"source": app.pk, "target": app.pk,
                                                "type": "loves"}), 400, "invalid", "type")


def test_agent_cannot_relate_or_unrelate(as_agent):
    app, other = CIFactory(), CIFactory()
    relationship = Relationship.objects.create(source=app, target=other,
                                               type=rel_type("depends_on"))
    assert_error(as_agent.post(RELATIONSHIPS, {"source": other.pk, "target": app.pk,
                                               "type": "depends_on"}), 403)
    assert_error(as_agent.delete(f"{RELATIONSHIPS}{relationship.pk}/"), 403)
    assert Relationship.objects.count() == 1


# --- Licences and installations -------------------------------------------------------

@pytest.fixture
def office(db):
    return CIFactory(name="Office", ci_class=ci_class("software_product"))


def test_licence_create_edit_and_no_delete(as_assets, asset_manager, office):
    response = as_assets.post(LICENCES, {"product": office.pk, "name": "EA 2026",
                                         "entitlement_count": 10, "metric": "per_device"})
    assert response.status_code == 201, response.content
    licence = SoftwareLicence.objects.get(pk=response.json()["id"])
    assert (licence.product, licence.entitlement_count) == (office, 10)
    assert response.json()["product_name"] == "Office"
    assert entries(licence, AuditAction.CREATE).get().actor == asset_manager

    edited = as_assets.patch(f"{LICENCES}{licence.pk}/", {"entitlement_count": 12})
    assert edited.status_code == 200 and edited.json()["entitlement_count"] == 12
    licence.refresh_from_db()
    assert licence.entitlement_count == 12
    assert entries(licence, AuditAction.UPDATE).get().changes == {
        "entitlement_count": [10, 12]}

    assert_error(as_assets.delete(f"{LICENCES}{licence.pk}/"), 405)
    assert SoftwareLicence.objects.filter(pk=licence.pk).exists()
    assert [r["id"] for r in as_assets.get(LICENCES, {"product": office.pk}).json()[
        "results"]] == [licence.pk]


def test_licence_for_something_not_a_product_is_400(as_assets):
    app = CIFactory(name="crm")
    response = as_assets.post(LICENCES, {"product": app.pk, "name": "x",
                                         "entitlement_count": 1})
    assert_error(response, 400, "invalid", "product")
    assert not SoftwareLicence.objects.exists()


def test_compliance_shows_over_deployment(as_agent, asset_manager, office):
    licences.licence_create(actor=asset_manager, product=office, name="EA",
                            entitlement_count=2)
    for n in range(3):
        device = CIFactory(name=f"pc-{n}", ci_class=ci_class("workstation"))
        licences.installation_add(actor=asset_manager, product=office, device=device)
    visio = CIFactory(name="Visio", ci_class=ci_class("software_product"))
    licences.licence_create(actor=asset_manager, product=visio, name="Visio",
                            entitlement_count=5)

    response = as_agent.get(f"{LICENCES}compliance/")
    assert response.status_code == 200, response.content
    rows = {row["product_name"]: row for row in response.json()}
    assert {k: rows["Office"][k] for k in ("product", "metric", "entitled", "installed",
                                           "available", "over_deployed")} == {
        "product": office.pk, "metric": "per_device", "entitled": 2, "installed": 3,
        "available": -1, "over_deployed": True}
    assert rows["Visio"]["over_deployed"] is False and rows["Visio"]["available"] == 5
    over = as_agent.get(f"{LICENCES}compliance/", {"over_deployed": "true"}).json()
    assert [row["product_name"] for row in over] == ["Office"]
    assert_error(as_agent.get(f"{LICENCES}compliance/", {"over_deployed": "maybe"}), 400,
                 "invalid", "over_deployed")


def test_installations_add_list_and_remove(as_assets, asset_manager, office):
    laptop = CIFactory(name="pc-1", ci_class=ci_class("workstation"))
    response = as_assets.post(INSTALLATIONS, {"product": office.pk, "device": laptop.pk,
                                              "version": "16.0"})
    assert response.status_code == 201, response.content
    installation = Installation.objects.get(pk=response.json()["id"])
    assert (installation.version, installation.source) == ("16.0", "manual")
    assert entries(laptop, AuditAction.UPDATE).get().changes == {
        "installed_software": [None, "Office 16.0"]}

    assert [r["id"] for r in as_assets.get(INSTALLATIONS, {"device": laptop.pk}).json()[
        "results"]] == [installation.pk]
    assert as_assets.get(INSTALLATIONS, {"device": office.pk}).json()["results"] == []

    again = as_assets.post(INSTALLATIONS, {"product": office.pk, "device": laptop.pk})
    assert_error(again, 409, "conflict", "device")

    assert as_assets.delete(f"{INSTALLATIONS}{installation.pk}/").status_code == 204
    assert not Installation.objects.exists()


def test_installation_on_a_non_device_is_400(as_assets, office):
    service = CIFactory(name="shop", ci_class=ci_class("business_service"))
    response = as_assets.post(INSTALLATIONS, {"product": office.pk, "device": service.pk})
    assert_error(response, 400, "invalid", "device")
    assert not Installation.objects.exists()


def test_agent_cannot_write_licences_or_installations(as_agent, office):
    laptop = CIFactory(ci_class=ci_class("workstation"))
    assert_error(as_agent.post(LICENCES, {"product": office.pk, "name": "x",
                                          "entitlement_count": 1}), 403)
    assert_error(as_agent.post(INSTALLATIONS, {"product": office.pk, "device": laptop.pk}),
                 403)
    assert not SoftwareLicence.objects.exists() and not Installation.objects.exists()
