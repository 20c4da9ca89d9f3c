import pytest

from audit.models import AuditEntry
from cmdb import selectors, services
from cmdb.models import ConfigurationItem, Relationship
from itsm.errors import Conflict, DomainError, NotPermitted
from tests.cmdb.factories import CIFactory, ci_class, rel_type
from tests.factories import UserFactory


@pytest.fixture
def asset_manager(db):
    return UserFactory(username="assets", roles=["asset_manager"])


def server(actor, name="web-01", **fields):
    fields.setdefault("attributes", {"os": "Ubuntu 24.04"})
    return services.ci_create(actor=actor, name=name, ci_class=ci_class("server"), **fields)


# --- Attributes -----------------------------------------------------------------------

def test_attributes_are_validated_and_normalised(asset_manager):
    ci = server(asset_manager, attributes={"os": "RHEL 9", "cpu_cores": "16",
                                           "memory_gb": 64.5, "hypervisor_host": "yes"})
    assert ci.attributes == {"os": "RHEL 9", "cpu_cores": 16, "memory_gb": 64.5,
                             "hypervisor_host": True}


@pytest.mark.parametrize(("attributes", "field"), [
    ({}, "attributes.os"),                                   # required missing
    ({"os": "Windows 95"}, "attributes.os"),                 # not a choice
    ({"os": "RHEL 9", "cpu_cores": "many"}, "attributes.cpu_cores"),
    ({"os": "RHEL 9", "colour": "red"}, "attributes.colour"),  # not in the schema
    ({"os": "RHEL 9", "hypervisor_host": "maybe"}, "attributes.hypervisor_host"),
])
def test_bad_attributes_are_refused_naming_the_attribute(asset_manager, attributes, field):
    with pytest.raises(DomainError) as error:
        server(asset_manager, attributes=attributes)
    assert field in error.value.fields
    assert not ConfigurationItem.objects.exists()


def test_reference_and_date_attributes(asset_manager):
    host = server(asset_manager, name="esx-01")
    vm = services.ci_create(actor=asset_manager, name="vm-01",
                            ci_class=ci_class("virtual_machine"),
                            attributes={"os": "Ubuntu 22.04", "host": host.pk})
    assert vm.attributes["host"] == host.pk
    with pytest.raises(DomainError):  # a reference must point at the right class
        services.ci_create(actor=asset_manager, name="vm-02",
                           ci_class=ci_class("virtual_machine"),
                           attributes={"os": "Ubuntu 22.04", "host": vm.pk})
    cert = services.ci_create(actor=asset_manager, name="*.example.com",
                              ci_class=ci_class("certificate"),
                              attributes={"expires_on": "2027-02-01"})
    assert cert.attributes["expires_on"] == "2027-02-01"
    with pytest.raises(DomainError) as error:
        services.ci_create(actor=asset_manager, name="bad", ci_class=ci_class("certificate"),
                           attributes={"expires_on": "01/02/2027"})
    assert "YYYY-MM-DD" in error.value.fields["attributes.expires_on"][0]


# --- Identification -------------------------------------------------------------------

def test_identification_prefers_serial_then_tag_then_host_then_mac(asset_manager):
    assert services.identity_of(serial_number="abc", asset_tag="T1")[0] == "serial:ABC"
    assert services.identity_of(asset_tag="t1", hostname="h")[0] == "tag:T1"
    assert services.identity_of(hostname="Web01.", domain="Corp.Example")[0] == (
        "host:web01.corp.example")
    assert services.identity_of(mac_address="00-1A-2B-3C-4D-5E")[0] == "mac:00:1a:2b:3c:4d:5e"
    assert services.identity_of() == (None, None)


def test_duplicate_is_refused_with_a_pointer_to_the_existing_ci(asset_manager):
    first = server(asset_manager, serial_number="SN-1")
    with pytest.raises(Conflict) as error:
        server(asset_manager, name="web-01 again", serial_number="sn-1")
    assert error.value.code == "duplicate_ci"
    assert f"CI {first.pk}" in error.value.message
    assert "serial_number" in error.value.fields
    assert ConfigurationItem.objects.count() == 1


def test_hostname_identity_includes_domain(asset_manager):
    server(asset_manager, name="a", hostname="web01", domain="eu.example")
    server(asset_manager, name="b", hostname="web01", domain="us.example")
    with pytest.raises(Conflict):
        server(asset_manager, name="c", hostname="WEB01", domain="eu.example.")


def test_upsert_updates_the_identified_ci_instead_of_duplicating(asset_manager):
    first = server(asset_manager, serial_number="SN-9", attributes={"os": "RHEL 9",
                                                                   "rack": "A1"})
    ci, created = services.ci_upsert_identified(actor=asset_manager, values={
        "name": "renamed", "ci_class": ci_class("server"), "serial_number": "SN-9",
        "attributes": {"cpu_cores": 8}})
    assert not created and ci.pk == first.pk and ci.name == "renamed"
    assert ci.attributes == {"os": "RHEL 9", "rack": "A1", "cpu_cores": 8}


def test_bad_mac_is_refused(asset_manager):
    with pytest.raises(DomainError) as error:
        server(asset_manager, mac_address="zz:zz")
    assert "mac_address" in error.value.fields


def test_only_permitted_roles_write(db):
    agent = UserFactory(roles=["service_desk_agent"])
    with pytest.raises(NotPermitted):
        server(agent)


def test_create_and_update_are_audited(asset_manager):
    ci = server(asset_manager, tags=["Linux", "dmz"])
    created = AuditEntry.objects.get(action="create", object_id=str(ci.pk),
                                     content_type__model="configurationitem")
    assert created.changes["tags"] == [None, ["dmz", "linux"]]
    services.ci_update(actor=asset_manager, ci=ci, location="DC2", tags=["linux"])
    entry = AuditEntry.objects.filter(object_id=str(ci.pk), action="update").latest("id")
    assert entry.changes == {"location": ["", "DC2"], "tags": [["dmz", "linux"], ["linux"]]}


# --- Lifecycle ------------------------------------------------------------------------

def test_lifecycle_is_declared_and_enforced(asset_manager):
    ci = server(asset_manager)
    assert ci.status == "planned"
    services.ci_transition(actor=asset_manager, ci=ci, to_status="in_stock")
    with pytest.raises(DomainError) as error:
        services.ci_transition(actor=asset_manager, ci=ci, to_status="disposed")
    assert error.value.code == "invalid_transition" and "status" in error.value.fields
    services.ci_transition(actor=asset_manager, ci=ci, to_status="operational")
    entry = AuditEntry.objects.filter(action="transition", object_id=str(ci.pk)).latest("id")
    assert entry.changes == {"status": ["in_stock", "operational"]}


# --- Relationships --------------------------------------------------------------------

def test_relationships_are_checked_against_classes(asset_manager):
    app = services.ci_create(actor=asset_manager, name="CRM", ci_class=ci_class("application"))
    host = server(asset_manager)
    router = services.ci_create(actor=asset_manager, name="rtr-1",
                                ci_class=ci_class("network_device"),
                                attributes={"device_type": "router"})
    licence = services.ci_create(actor=asset_manager, name="EA", ci_class=ci_class("licence"))
    services.relationship_create(actor=asset_manager, source=app, target=host,
                                 type=rel_type("runs_on"))
    with pytest.raises(DomainError) as error:
        services.relationship_create(actor=asset_manager, source=licence, target=router,
                                     type=rel_type("runs_on"))
    assert error.value.code == "class_not_allowed"
    with pytest.raises(DomainError) as error:
        services.relationship_create(actor=asset_manager, source=app, target=app,
                                     type=rel_type("depends_on"))
    assert error.value.code == "self_relationship"
    with pytest.raises(Conflict):
        services.relationship_create(actor=asset_manager, source=app, target=host,
                                     type=rel_type("runs_on"))
    assert Relationship.objects.count() == 1


# --- Impact ---------------------------------------------------------------------------

def link(source, target, key="depends_on"):
    return Relationship.objects.create(source=source, target=target, type=rel_type(key))


def test_impact_up_and_down_with_depth(db):
    service, app, db_ci, host = (CIFactory(name=n) for n in ("svc", "app", "db", "host"))
    link(service, app)
    link(app, db_ci)
    link(db_ci, host, "depends_on")
    up = selectors.ci_impact(host, direction="up", depth=5)
    assert [(ci.name, d) for ci, d in up.nodes] == [("host", 0), ("db", 1), ("app", 2),
                                                     ("svc", 3)]
    assert len(up.edges) == 3
    shallow = selectors.ci_impact(host, direction="up", depth=2)
    assert [ci.name for ci, _d in shallow.nodes] == ["host", "db", "app"]
    down = selectors.ci_impact(service, direction="down", depth=5)
    assert [ci.name for ci, _d in down.nodes] == ["svc", "app", "db", "host"]


def test_impact_survives_cycles_and_reports_shortest_distance(db):
    a, b, c = (CIFactory(name=n) for n in "abc")
    link(a, b)
    link(b, c)
    link(c, a)  # a cycle
    link(a, c)  # and a shortcut
    result = selectors.ci_impact(a, direction="down", depth=10)
    assert sorted((ci.name, d) for ci, d in result.nodes) == [("a", 0), ("b", 1), ("c", 1)]


def test_non_propagating_links_are_not_followed(db):
    device, group = CIFactory(name="pc"), CIFactory(name="group")
    link(device, group, "member_of")
    assert [ci.name for ci, _d in selectors.ci_impact(group, direction="up").nodes] == ["group"]


def test_admin_edits_of_the_data_model_are_validated_and_audited(client, admin_user):
    client.force_login(admin_user)
    server_class = ci_class("server")
    page = client.get(f"/admin/cmdb/ciclass/{server_class.pk}/change/")
    assert page.status_code == 200
    response = client.post("/admin/cmdb/cmdbsettings/1/change/",
                           {"expiry_warning_days": "[30, -1]"})
    assert response.status_code == 200 and b"whole numbers of days" in response.content
    client.post("/admin/cmdb/cmdbsettings/1/change/", {"expiry_warning_days": "[60, 14]"})
    from cmdb.models import CmdbSettings

    assert CmdbSettings.objects.get().expiry_warning_days == [60, 14]
    entry = AuditEntry.objects.filter(content_type__model="cmdbsettings").latest("id")
    assert entry.actor == admin_user and entry.changes["expiry_warning_days"][1] == [60, 14]


def test_choice_attributes_need_choices(db):
    from django.core.exceptions import ValidationError

    from cmdb.models import AttributeDefinition

    definition = AttributeDefinition(ci_class=ci_class("server"), key="tier", label="Tier",
                                     type="choice", choices=[])
    with pytest.raises(ValidationError):
        definition.full_clean()


def test_a_lower_priority_identifier_finds_the_ci_recorded_by_serial(asset_manager):
    first = server(asset_manager, serial_number="SN1", hostname="web-01")
    found, created = services.ci_upsert_identified(actor=asset_manager, values={
        "name": "web-01", "ci_class": ci_class("server"), "hostname": "WEB-01",
        "attributes": {"rack": "B2"}})
    assert not created and found.pk == first.pk
    with pytest.raises(Conflict) as error:  # and creating it again by hostname is refused
        server(asset_manager, name="web-01 (again)", hostname="web-01")
    assert f"CI {first.pk}" in error.value.message


def test_a_contradicting_serial_means_a_different_device(asset_manager):
    server(asset_manager, name="a", serial_number="SN1", hostname="web-01")
    other = server(asset_manager, name="b", serial_number="SN2", hostname="web-01")
    assert other.identity == "serial:SN2"


def test_upsert_without_identifiers_matches_class_and_name(asset_manager):
    service = services.ci_create(actor=asset_manager, name="Payroll",
                                 ci_class=ci_class("business_service"))
    again, created = services.ci_upsert_identified(actor=asset_manager, values={
        "name": "payroll", "ci_class": ci_class("business_service"), "location": "HQ"})
    assert not created and again.pk == service.pk and again.location == "HQ"
    other, created = services.ci_upsert_identified(actor=asset_manager, values={
        "name": "Payroll", "ci_class": ci_class("application")})
    assert created and other.pk != service.pk
