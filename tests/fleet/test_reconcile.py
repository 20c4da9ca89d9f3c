"""Inventory → CMDB: the device's fields and class attributes, installations of known
software products; an unchanged inventory writes nothing; queries stay bounded."""

import copy

import pytest
from django.contrib.contenttypes.models import ContentType

from audit.models import AuditEntry
from cmdb.models import AttributeDefinition, CIClass, ConfigurationItem, Installation
from cmdb.services import ci_create
from fleet.inventory import inventory_record
from fleet.models import Agent
from fleet.reconcile import reconcile_device

INVENTORY = {
    "os": {"name": "Ubuntu", "version": "24.04", "kernel": "6.8.0-31-generic"},
    "hostname": "lap-0042", "domain": "corp.example", "serial_number": "PF3XYZ42",
    "ip_addresses": ["10.1.2.99", "fe80::1"], "mac_addresses": ["AA-BB-CC-DD-EE-99"],
    "cpu": {"model": "Intel Core i7", "cores": 8}, "memory_mb": 16384,
    "disks": [{"mount": "/", "total_gb": 512, "used_percent": 71.5}],
    "uptime_seconds": 3600,
    "software": [{"name": "firefox", "version": "126.0", "vendor": "Mozilla"},
                 {"name": "LibreOffice", "version": "24.2", "vendor": "TDF"},
                 {"name": "bash", "version": "5.2", "vendor": "GNU"}],
    "processes": [], "services": [], "sessions": [],
}


@pytest.fixture
def products(fleet_manager):
    cls = CIClass.objects.get(key="software_product")
    return {name: ci_create(actor=fleet_manager, name=name, ci_class=cls, status="operational")
            for name in ("Firefox", "LibreOffice", "Slack")}


def device_entries(device):
    return AuditEntry.objects.filter(
        content_type=ContentType.objects.get_for_model(ConfigurationItem),
        object_id=str(device.pk))


def agent_of(enrolled):
    return Agent.objects.select_related("device", "device__ci_class").get(pk=enrolled.agent.pk)


def test_the_device_gets_its_fields_and_class_attributes(enrolled):
    reconcile_device(agent_of(enrolled), copy.deepcopy(INVENTORY))
    device = ConfigurationItem.objects.get(pk=enrolled.agent.device_id)
    assert (device.hostname, device.domain, device.serial_number) == (
        "lap-0042", "corp.example", "PF3XYZ42")
    assert device.ip_address == "10.1.2.99"
    assert device.mac_address == "aa:bb:cc:dd:ee:99"
    # a workstation has os and memory_gb, not cpu_cores
    assert device.attributes["os"] == "Ubuntu 24.04"
    assert device.attributes["memory_gb"] == 16
    assert "cpu_cores" not in device.attributes
    agent = Agent.objects.get(pk=enrolled.agent.pk)
    assert agent.os_name == "Ubuntu 24.04"
    entry = device_entries(device).filter(action="update", changes__has_key="ip_address").get()
    assert entry.actor_id is None and entry.actor_label.startswith("system (agent inventory")


def test_a_server_gets_cpu_cores_and_a_new_os_joins_the_choices(enrolled):
    device = enrolled.agent.device
    ConfigurationItem.objects.filter(pk=device.pk).update(
        ci_class=CIClass.objects.get(key="server"), attributes={"os": "RHEL 9"})
    data = {**copy.deepcopy(INVENTORY), "os": {"name": "Debian", "version": "12"}}
    reconcile_device(agent_of(enrolled), data)
    device.refresh_from_db()
    assert device.attributes == {"os": "Debian 12", "cpu_cores": 8, "memory_gb": 16}
    assert "Debian 12" in AttributeDefinition.objects.get(ci_class__key="server",
                                                          key="os").choices


def test_an_unchanged_inventory_writes_nothing(enrolled, products,
                                               django_assert_max_num_queries):
    reconcile_device(agent_of(enrolled), copy.deepcopy(INVENTORY))
    device = enrolled.agent.device
    entries = device_entries(device).count()
    installs = list(Installation.objects.values_list("pk", "version"))
    before = ConfigurationItem.objects.get(pk=device.pk).updated_at
    agent = agent_of(enrolled)
    # reads only: class attributes, product names, installations (+ the savepoint pair)
    with django_assert_max_num_queries(5):
        reconcile_device(agent, {**copy.deepcopy(INVENTORY), "uptime_seconds": 7200})
    assert device_entries(device).count() == entries
    assert list(Installation.objects.values_list("pk", "version")) == installs
    assert ConfigurationItem.objects.get(pk=device.pk).updated_at == before


def test_software_of_known_products_becomes_installations_added_and_removed(
        enrolled, products, fleet_manager):
    device = enrolled.agent.device
    reconcile_device(agent_of(enrolled), copy.deepcopy(INVENTORY))
    rows = {i.product.name: i for i in Installation.objects.filter(device=device)}
    assert set(rows) == {"Firefox", "LibreOffice"}  # bash is no product; Slack not here
    assert rows["Firefox"].version == "126.0" and rows["Firefox"].source == "agent"
    entry = device_entries(device).filter(changes__has_key="installed_software").get()
    assert entry.changes["installed_software"] == [None, ["Firefox 126.0",
                                                          "LibreOffice 24.2"]]
    # a hand-entered row the agent does not report stays
    from cmdb.licences import installation_add

    installation_add(actor=fleet_manager, product=products["Slack"], device=device)
    # the next report: Firefox upgraded, LibreOffice gone, SLACK reported (any case)
    data = copy.deepcopy(INVENTORY)
    data["software"] = [{"name": "Firefox", "version": "127.0", "vendor": ""},
                        {"name": "SLACK", "version": "4.38", "vendor": ""},
                        {"name": "firefox", "version": "127.0", "vendor": ""}]
    reconcile_device(agent_of(enrolled), data)
    rows = {i.product.name: i for i in Installation.objects.filter(device=device)}
    assert set(rows) == {"Firefox", "Slack"}
    assert rows["Firefox"].version == "127.0"
    assert rows["Slack"].source == "manual"  # never duplicated, never taken over
    last = device_entries(device).filter(changes__has_key="installed_software").latest("id")
    assert last.changes["installed_software"] == [["Firefox 126.0", "LibreOffice 24.2"],
                                                  ["Firefox 127.0"]]
    # the same report again: nothing more
    count = device_entries(device).count()
    reconcile_device(agent_of(enrolled), data)
    assert device_entries(device).count() == count
    assert Installation.objects.filter(device=device).count() == 2


def test_a_large_software_list_costs_a_bounded_number_of_queries(
        enrolled, products, django_assert_max_num_queries):
    data = copy.deepcopy(INVENTORY)
    data["software"] = [{"name": f"pkg-{n}", "version": "1.0", "vendor": ""}
                        for n in range(1200)] + [{"name": "firefox", "version": "1",
                                                  "vendor": ""}]
    agent = agent_of(enrolled)
    with django_assert_max_num_queries(30):
        reconcile_device(agent, data)
    assert Installation.objects.filter(device=enrolled.agent.device).count() == 1


def test_an_identifier_another_ci_holds_does_not_stop_the_rest(enrolled, fleet_manager):
    ci_create(actor=fleet_manager, name="other", ci_class=CIClass.objects.get(key="server"),
              serial_number="TAKEN1", attributes={"os": "RHEL 9"})
    data = {**copy.deepcopy(INVENTORY), "serial_number": "TAKEN1"}
    reconcile_device(agent_of(enrolled), data)
    device = ConfigurationItem.objects.get(pk=enrolled.agent.device_id)
    assert device.serial_number == "PF3XYZ42"  # refused by the identification rule
    assert device.ip_address == "10.1.2.99"  # the rest applied
    assert ConfigurationItem.objects.filter(serial_number__iexact="TAKEN1").count() == 1


def test_inventory_intake_reconciles_and_a_diff_of_uptime_changes_nothing(enrolled,
                                                                          products):
    agent_id = enrolled.agent.pk
    reply = inventory_record(agent_id, {"full": copy.deepcopy(INVENTORY)})
    assert reply["type"] == "inventory_ack"
    device = enrolled.agent.device
    assert Installation.objects.filter(device=device).count() == 2
    count = device_entries(device).count()
    again = inventory_record(agent_id, {"base": reply["digest"],
                                        "diff": {"set": {"uptime_seconds": 9}, "unset": []}})
    assert again["type"] == "inventory_ack"
    assert device_entries(device).count() == count
