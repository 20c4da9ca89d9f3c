"""The demo CMDB: the Aldermoor Group's estate.

Six business services and the applications, databases, virtual machines, servers and
network behind them; certificates (one about to expire); about 200 workstations and
laptops assigned to the demo people, with warranties ending over the next two years (a
few within a month); mobile devices; medical and industrial devices; and software
products with licences and installations, one of them over-deployed.

Everything is written through ``cmdb.services`` and ``cmdb.licences`` as the system.
Re-runs are safe: hardware is found by its identifiers (serial number, else hostname and
domain) through the identification rule, everything else by class and name, and links,
licences and installations are looked up before they are made. Dates are relative to the
day the estate is first loaded.
"""

from __future__ import annotations

import datetime
import random
from decimal import Decimal
from typing import Any

from django.contrib.auth import get_user_model
from django.utils import timezone

from accounts.models import Team
from cmdb import licences, services
from cmdb.models import (
    CIClass,
    ConfigurationItem,
    Installation,
    Relationship,
    RelationshipType,
    SoftwareLicence,
)

ZONE = "aldermoor.example"
DC_ZONE = f"dc.{ZONE}"
WORKSTATIONS = 200
IN_STOCK = 12
SEED = 2026

# Teams (created by the people step).
SERVERS = "Server & Cloud"
NETWORK = "Network Operations"
DATABASES = "Database Administration"
APPLICATIONS = "Application Support"
ENDPOINTS = "End-User Computing"
SECURITY = "Security Operations"

# Hardware: name, serial, hostname, location, vendor, model, attributes, days of warranty
# left, links as (relationship type, target name).
HOSTS = (
    ("esx-ldn-01", "CZJ3140A11", "London DC1", {"cpu_cores": 64, "memory_gb": 1024}),
    ("esx-ldn-02", "CZJ3140A12", "London DC1", {"cpu_cores": 64, "memory_gb": 1024}),
    ("esx-ldn-03", "CZJ3140A13", "London DC1", {"cpu_cores": 64, "memory_gb": 1024}),
    ("esx-ldn-04", "CZJ3140A14", "London DC1", {"cpu_cores": 64, "memory_gb": 1024}),
    ("esx-man-01", "CZJ3220B01", "Manchester DR", {"cpu_cores": 48, "memory_gb": 768}),
    ("esx-man-02", "CZJ3220B02", "Manchester DR", {"cpu_cores": 48, "memory_gb": 768}),
)
# Physical database servers: name, serial, os, location.
DB_SERVERS = (
    ("sql-ldn-01", "CZJ3140C21", "Windows Server 2022", "London DC1"),
    ("sql-ldn-02", "CZJ3140C22", "Windows Server 2022", "London DC1"),
    ("pg-ldn-01", "CZJ3140C31", "Ubuntu 24.04", "London DC1"),
    ("ora-ldn-01", "CZJ3140C41", "RHEL 9", "London DC1"),
)
# Network: name, serial, device type, location, vendor, model, connected to.
NETWORK_DEVICES = (
    ("fw-ldn-edge-01", "FGT60F0001", "firewall", "London DC1", "Fortinet", "FortiGate 600F", ()),
    ("fw-man-edge-01", "FGT60F0002", "firewall", "Manchester DR", "Fortinet", "FortiGate 600F",
     ()),
    ("core-sw-ldn-01", "FDO2711X0A1", "switch", "London DC1", "Cisco", "Catalyst 9500-48Y4C",
     ("fw-ldn-edge-01",)),
    ("core-sw-ldn-02", "FDO2711X0A2", "switch", "London DC1", "Cisco", "Catalyst 9500-48Y4C",
     ("fw-ldn-edge-01",)),
    ("core-sw-man-01", "FDO2711X0B1", "switch", "Manchester DR", "Cisco",
     "Catalyst 9500-48Y4C", ("fw-man-edge-01",)),
    ("lb-ldn-01", "F5J4412001", "load balancer", "London DC1", "F5", "BIG-IP i5800",
     ("core-sw-ldn-01", "core-sw-ldn-02")),
    ("acc-sw-ldn-fl1", "FOC2648L1A1", "switch", "London HQ", "Cisco", "Catalyst 9300-48P",
     ("core-sw-ldn-01",)),
    ("acc-sw-ldn-fl2", "FOC2648L1A2", "switch", "London HQ", "Cisco", "Catalyst 9300-48P",
     ("core-sw-ldn-02",)),
    ("acc-sw-man-wh1", "FOC2648M1W1", "switch", "Manchester", "Cisco", "Catalyst 9300-48P",
     ("core-sw-man-01",)),
    ("acc-sw-man-cl1", "FOC2648M1C1", "switch", "Manchester", "Cisco", "Catalyst 9300-24P",
     ("core-sw-man-01",)),
    ("ap-ldn-fl1-01", "Q3AJ-0001", "wireless access point", "London HQ", "Cisco Meraki",
     "MR46", ("acc-sw-ldn-fl1",)),
    ("ap-ldn-fl1-02", "Q3AJ-0002", "wireless access point", "London HQ", "Cisco Meraki",
     "MR46", ("acc-sw-ldn-fl1",)),
    ("ap-ldn-fl2-01", "Q3AJ-0003", "wireless access point", "London HQ", "Cisco Meraki",
     "MR46", ("acc-sw-ldn-fl2",)),
    ("ap-man-wh-01", "Q3AJ-0101", "wireless access point", "Manchester", "Cisco Meraki",
     "MR86", ("acc-sw-man-wh1",)),
    ("ap-man-wh-02", "Q3AJ-0102", "wireless access point", "Manchester", "Cisco Meraki",
     "MR86", ("acc-sw-man-wh1",)),
)
# Virtual machines: hostname, os, vCPUs, memory, host.
VMS = (
    ("shop-web-01", "Ubuntu 24.04", 4, 16, "esx-ldn-01"),
    ("shop-web-02", "Ubuntu 24.04", 4, 16, "esx-ldn-02"),
    ("order-api-01", "Ubuntu 24.04", 8, 32, "esx-ldn-03"),
    ("pay-app-01", "Windows Server 2022", 8, 32, "esx-ldn-02"),
    ("exch-hyb-01", "Windows Server 2022", 8, 64, "esx-ldn-04"),
    ("intranet-01", "Windows Server 2019", 4, 16, "esx-ldn-04"),
    ("epr-app-01", "RHEL 9", 16, 64, "esx-ldn-01"),
    ("epr-app-02", "RHEL 9", 16, 64, "esx-ldn-03"),
    ("wms-app-01", "Windows Server 2022", 8, 32, "esx-man-01"),
    ("wms-db-01", "Windows Server 2022", 8, 64, "esx-man-02"),
    ("fin-app-01", "Windows Server 2022", 8, 32, "esx-ldn-03"),
    ("dc-ldn-01", "Windows Server 2022", 2, 8, "esx-ldn-01"),
    ("dc-man-01", "Windows Server 2022", 2, 8, "esx-man-01"),
)
# Databases: name, engine, version, size, runs on.
DATABASE_ITEMS = (
    ("orders-db", "PostgreSQL", "16.4", 420, "pg-ldn-01"),
    ("payroll-db", "SQL Server", "2022 CU14", 85, "sql-ldn-01"),
    ("intranet-db", "SQL Server", "2019 CU27", 210, "sql-ldn-02"),
    ("epr-db", "Oracle", "19c", 1800, "ora-ldn-01"),
    ("wms-db", "SQL Server", "2022 CU14", 150, "wms-db-01"),
    ("finance-db", "SQL Server", "2022 CU14", 320, "sql-ldn-01"),
)
# Certificates: name, days left, issuer, depended on by.
CERTIFICATES = (
    ("shop.aldermoor.example", 5, "DigiCert Global G2 TLS RSA SHA256 2020 CA1",
     "Aldermoor Web Shop"),
    ("mail.aldermoor.example", 64, "DigiCert Global G2 TLS RSA SHA256 2020 CA1",
     "Exchange Hybrid"),
    ("epr.aldermoor.example", 212, "Sectigo RSA Organization Validation CA",
     "Clinical Records System"),
    ("*.intranet.aldermoor.example", 330, "Aldermoor Internal Issuing CA 1", "Intranet"),
)
# Applications: name, version, runs on, depends on (databases, services, network, certs).
APPLICATIONS_ITEMS = (
    ("Aldermoor Web Shop", "5.12", ("shop-web-01", "shop-web-02"),
     ("Order API", "lb-ldn-01", "fw-ldn-edge-01")),
    ("Order API", "3.4.1", ("order-api-01",), ("orders-db", "Active Directory")),
    ("Payroll", "2025.2", ("pay-app-01",), ("payroll-db", "Active Directory")),
    ("Exchange Hybrid", "2019 CU14", ("exch-hyb-01",), ("Active Directory",)),
    ("Intranet", "SharePoint SE", ("intranet-01",), ("intranet-db", "Active Directory")),
    ("Clinical Records System", "8.3", ("epr-app-01", "epr-app-02"),
     ("epr-db", "Active Directory")),
    ("Warehouse Management System", "11.0", ("wms-app-01",), ("wms-db", "Active Directory")),
    ("Finance Ledger", "2024 R2", ("fin-app-01",), ("finance-db", "Active Directory")),
)
# Business services: name, criticality, users, service hours, applications, tags.
BUSINESS_SERVICES = (
    ("Online Ordering", 1, 12000, "24×7", ("Aldermoor Web Shop", "Order API"), ("pci",)),
    ("Payroll", 2, 2400, "Mon–Fri 07:00–19:00", ("Payroll",), ("gdpr",)),
    ("Email & Collaboration", 2, 2400, "24×7", ("Exchange Hybrid", "Intranet"), ()),
    ("Clinical Records", 1, 340, "24×7", ("Clinical Records System",), ("clinical", "gdpr")),
    ("Warehouse Management", 1, 180, "Mon–Sat 05:00–23:00",
     ("Warehouse Management System",), ()),
    ("Finance & Accounting", 2, 120, "Mon–Fri 07:00–19:00", ("Finance Ledger",), ()),
)
# Medical and industrial devices: name, serial, type, regulatory class, location, switch,
# business service.
OT_DEVICES = (
    ("Patient monitor – clinic room 1", "PH-MX450-0031", "patient monitor", "IIb",
     "Manchester", "acc-sw-man-cl1", "Clinical Records", "Philips", "IntelliVue MX450"),
    ("Infusion pump – clinic room 1", "BD-ALR-88213", "infusion pump", "IIb", "Manchester",
     "acc-sw-man-cl1", "Clinical Records", "BD", "Alaris 8015"),
    ("Conveyor PLC – line 1", "S7-1500-6ES7-0042", "PLC", "none", "Manchester",
     "acc-sw-man-wh1", "Warehouse Management", "Siemens", "SIMATIC S7-1500"),
)
MOBILES = (
    ("iPhone 15 – G. Okafor", "F4GZK1QXN72M", "iOS", "incident.manager"),
    ("iPhone 15 – C. Ashford", "F4GZK1QXN73P", "iOS", "cio"),
    ("iPhone 14 – D. Brooks", "DX3HQ9LMPF1C", "iOS", "cab"),
    ("Galaxy XCover7 – warehouse 1", "R58W30ABCD1", "Android", None),
    ("Galaxy XCover7 – warehouse 2", "R58W30ABCD2", "Android", None),
    ("Pixel 8 – T. Ferreira", "39241FDJH00712", "Android", "resolver"),
)
WORKSTATION_MODELS = (
    ("HP", "EliteBook 840 G10", "5CG", "laptop", "Windows 11", 16),
    ("Lenovo", "ThinkPad T14 Gen 4", "PF4", "laptop", "Windows 11", 32),
    ("Apple", "MacBook Pro 14 (M3)", "C02", "laptop", "macOS 15", 18),
    ("Dell", "OptiPlex 7010", "D7Q", "desktop", "Windows 11", 16),
    ("HP", "Elite Mini 800 G9", "8CC", "desktop", "Windows 10", 8),
)
SUPPLIERS = ("Softcat", "Insight UK", "CDW", "Computacenter")
SHARED_PLACES = ("London HQ – meeting rooms", "Manchester – warehouse floor",
                 "Manchester – clinic reception", "Amsterdam – hot desks",
                 "New York – hot desks", "Singapore – hot desks")
# Warranties ending within a month, so the expiry warnings have something to say.
SOON = {5: 4, 17: 11, 42: 19, 99: 27}
# Software: product, publisher, version, licence name, metric, entitlements, days to
# expiry, supplier, how many devices have it (None: every assigned workstation).
SOFTWARE = (
    ("Microsoft 365 Apps for enterprise", "Microsoft", "2409", "Microsoft EA 2025–2028",
     "per_user", 250, 700, "Softcat", None),
    ("Adobe Acrobat Pro", "Adobe", "2025.001", "Adobe VIP 2026", "per_device", 40, 26,
     "Insight UK", 46),
    ("Zoom Workplace", "Zoom", "6.2", "Zoom Business 2026", "per_user", 100, 300,
     "Insight UK", 90),
    ("AutoCAD", "Autodesk", "2025", "Autodesk subscription 2026", "per_device", 5, 160,
     "CDW", 4),
)


class _Estate:
    """What exists already, looked up once, and the writes that add what is missing."""

    def __init__(self, today: datetime.date) -> None:
        self.today = today
        self.classes = {c.key: c for c in CIClass.objects.all()}
        self.types = {t.key: t for t in RelationshipType.objects.all()}
        self.teams = {t.name: t for t in Team.objects.all()}
        items = list(ConfigurationItem.objects.select_related("ci_class"))
        self.by_identity = {ci.identity: ci for ci in items if ci.identity}
        self.by_name = {(ci.ci_class.key, ci.name): ci for ci in items}
        self.links = set(Relationship.objects.values_list("source_id", "target_id",
                                                          "type_id"))
        self.installed = set(Installation.objects.values_list("product_id", "device_id"))

    def date(self, days: int) -> datetime.date:
        return self.today + datetime.timedelta(days=days)

    def ci(self, class_key: str, name: str, *, team: str | None = None,
           **fields: Any) -> ConfigurationItem:
        """The CI the identification rule (or, without identifiers, class and name)
        finds, else a new one."""
        identity, _field = services.identity_of(
            **{f: fields.get(f, "") for f in (*services.IDENTIFIER_FIELDS, "domain")})
        found = (self.by_identity.get(identity) if identity
                 else self.by_name.get((class_key, name)))
        if found is not None:
            return found
        fields.setdefault("status", "operational")
        ci = services.ci_create(actor=None, name=name, ci_class=self.classes[class_key],
                                owner_team=self.teams.get(team) if team else None, **fields)
        if ci.identity:
            self.by_identity[ci.identity] = ci
        self.by_name.setdefault((class_key, name), ci)
        return ci

    def named(self, name: str) -> ConfigurationItem:
        """The one demo CI called ``name`` (hostnames and the shared names are unique)."""
        matches = [ci for (_key, ci_name), ci in self.by_name.items() if ci_name == name]
        if len(matches) != 1:
            raise LookupError(f"The demo estate has {len(matches)} CIs called {name!r}.")
        return matches[0]

    def link(self, source: ConfigurationItem, type_key: str,
             target: ConfigurationItem) -> None:
        rel_type = self.types[type_key]
        if (source.pk, target.pk, rel_type.pk) in self.links:
            return
        services.relationship_create(actor=None, source=source, target=target, type=rel_type)
        self.links.add((source.pk, target.pk, rel_type.pk))

    def install(self, product: ConfigurationItem, device: ConfigurationItem,
                version: str) -> None:
        if (product.pk, device.pk) in self.installed:
            return
        licences.installation_add(actor=None, product=product, device=device,
                                  version=version)
        self.installed.add((product.pk, device.pk))


def _hardware(estate: _Estate, rng: random.Random, warranty_days: int,
              cost: int) -> dict[str, Any]:
    end = estate.date(warranty_days)
    return {"purchase_date": end - datetime.timedelta(days=3 * 365),
            "warranty_end": end, "supplier": rng.choice(SUPPLIERS),
            "cost": Decimal(cost + rng.randrange(0, cost // 4 + 1))}


def _data_centre(estate: _Estate, rng: random.Random) -> None:
    for name, serial, device_type, location, vendor, model, uplinks in NETWORK_DEVICES:
        device = estate.ci(
            "network_device", name, team=NETWORK, serial_number=serial, hostname=name,
            domain=DC_ZONE if "DC" in location or "DR" in location else ZONE,
            location=location, vendor=vendor, product_model=model, criticality=(
                1 if device_type in ("firewall", "load balancer") or "core" in name else 3),
            attributes={"device_type": device_type,
                        "ports": 48 if device_type == "switch" else None},
            **_hardware(estate, rng, rng.randint(90, 700), 2500))
        for uplink in uplinks:
            estate.link(device, "connected_to", estate.named(uplink))
    for name, serial, location, attributes in HOSTS:
        host = estate.ci(
            "server", name, team=SERVERS, serial_number=serial, hostname=name, domain=DC_ZONE,
            location=location, vendor="HPE", product_model="ProLiant DL380 Gen11",
            criticality=1, attributes={"os": "Windows Server 2022", "hypervisor_host": True,
                                       "rack": f"R{rng.randint(1, 12):02d}", **attributes},
            **_hardware(estate, rng, rng.randint(120, 720), 18000))
        cores = ("core-sw-man-01",) if "man" in name else ("core-sw-ldn-01", "core-sw-ldn-02")
        for core in cores:
            estate.link(host, "connected_to", estate.named(core))
    for name, serial, os_name, location in DB_SERVERS:
        server = estate.ci(
            "server", name, team=DATABASES, serial_number=serial, hostname=name,
            domain=DC_ZONE, location=location, vendor="Dell",
            product_model="PowerEdge R760", criticality=1,
            attributes={"os": os_name, "cpu_cores": 32, "memory_gb": 512},
            **_hardware(estate, rng, rng.randint(60, 700), 22000))
        estate.link(server, "connected_to", estate.named("core-sw-ldn-01"))
        estate.link(server, "connected_to", estate.named("core-sw-ldn-02"))
    for hostname, os_name, cpus, memory, host_name in VMS:
        host = estate.named(host_name)
        vm = estate.ci("virtual_machine", hostname, team=SERVERS, hostname=hostname,
                       domain=DC_ZONE, location=host.location, criticality=2,
                       attributes={"os": os_name, "cpu_cores": cpus, "memory_gb": memory,
                                   "host": host.pk})
        estate.link(vm, "runs_on", host)


def _services(estate: _Estate) -> None:
    directory = estate.ci("technical_service", "Active Directory", team=SERVERS,
                          criticality=1, attributes={"service_hours": "24×7"})
    for vm in ("dc-ldn-01", "dc-man-01"):
        estate.link(directory, "runs_on", estate.named(vm))
    for name, engine, version, size, runs_on in DATABASE_ITEMS:
        database = estate.ci("database", name, team=DATABASES, criticality=2,
                             attributes={"engine": engine, "version": version,
                                         "size_gb": size})
        estate.link(database, "runs_on", estate.named(runs_on))
    for name, version, hosts, _needs in APPLICATIONS_ITEMS:
        application = estate.ci("application", name, team=APPLICATIONS, criticality=2,
                                 attributes={"version": version})
        for host in hosts:
            estate.link(application, "runs_on", estate.named(host))
    for name, _version, _hosts, needs in APPLICATIONS_ITEMS:
        application = estate.by_name[("application", name)]
        for need in needs:
            estate.link(application, "depends_on", estate.named(need))
    for name, days, issuer, used_by in CERTIFICATES:
        cert = estate.ci("certificate", name, team=SECURITY, criticality=2,
                         attributes={"expires_on": estate.date(days), "issuer": issuer,
                                     "subject": f"CN={name}"})
        estate.link(estate.by_name[("application", used_by)], "depends_on", cert)
    for name, criticality, users, hours, applications, tags in BUSINESS_SERVICES:
        service = estate.ci("business_service", name, team=APPLICATIONS,
                            criticality=criticality, tags=tags,
                            attributes={"users": users, "service_hours": hours})
        for application in applications:
            estate.link(service, "depends_on", estate.by_name[("application", application)])


def _location_of(user: Any) -> str:
    profile = getattr(user, "profile", None)
    return (profile.location if profile is not None else "") or "London HQ"


def _devices(estate: _Estate, rng: random.Random) -> list[ConfigurationItem]:
    for (name, serial, device_type, regulatory, location, switch, service,
         vendor, model) in OT_DEVICES:
        device = estate.ci(
            "ot_device", name, team=APPLICATIONS if regulatory != "none" else SERVERS,
            serial_number=serial, location=location, vendor=vendor, product_model=model,
            criticality=1, attributes={"device_type": device_type, "regulatory_class":
                                       regulatory, "safety_critical": regulatory != "none"},
            **_hardware(estate, rng, rng.randint(200, 700), 9000))
        estate.link(device, "connected_to", estate.named(switch))
        estate.link(device, "member_of", estate.by_name[("business_service", service)])
    people = {u.username: u for u in get_user_model().objects.filter(is_active=True)
              .select_related("profile").order_by("username")}
    for name, serial, platform_name, owner in MOBILES:
        estate.ci("mobile_device", name, team=ENDPOINTS, serial_number=serial,
                  vendor="Apple" if platform_name == "iOS" else "Samsung",
                  assigned_to=people.get(owner) if owner else None, criticality=4,
                  location="Manchester" if owner is None else "London HQ",
                  attributes={"platform": platform_name,
                              "imei": f"35{rng.randrange(10**12, 10**13)}"},
                  **_hardware(estate, rng, rng.randint(100, 700), 700))
    # Workstations: a laptop for everyone, a desktop for the first people, shared desktops
    # in meeting rooms, warehouse and clinic, and a few in stock.
    owners = list(people.values())
    workstations = []
    for index in range(WORKSTATIONS):
        vendor, model, prefix, form, os_name, memory = WORKSTATION_MODELS[
            (index % 3) if index < len(owners) else 3 + index % 2]
        serial = f"{prefix}{SEED + index:04d}{'XYZWK'[index % 5]}{index % 7}"
        fields: dict[str, Any] = {}
        if index < len(owners):
            user = owners[index]
            fields.update(assigned_to=user, location=_location_of(user))
        elif index < 2 * len(owners) - 10:
            user = owners[index - len(owners)]
            fields.update(assigned_to=user, location=_location_of(user))
        elif index < WORKSTATIONS - IN_STOCK:
            fields.update(location=SHARED_PLACES[index % len(SHARED_PLACES)],
                          lease_end=estate.date(rng.randint(60, 900)))
        else:
            fields.update(status="in_stock", stock_location="London HQ – IT store",
                          location="London HQ")
        warranty = SOON.get(index, rng.randint(35, 730))
        workstations.append(estate.ci(
            "workstation", f"ALD-{'LT' if form == 'laptop' else 'DT'}-{index + 1:04d}",
            team=ENDPOINTS, serial_number=serial, asset_tag=f"ALD-{100000 + index}",
            hostname=f"ald-{'lt' if form == 'laptop' else 'dt'}-{index + 1:04d}",
            domain=f"corp.{ZONE}", vendor=vendor, product_model=model, criticality=4,
            attributes={"os": os_name, "form_factor": form, "memory_gb": memory,
                        "disk_encrypted": True},
            **fields, **_hardware(estate, rng, warranty, 1100 if form == "laptop" else 750)))
    return workstations


def _software(estate: _Estate, workstations: list[ConfigurationItem]) -> None:
    assigned = [ws for ws in workstations if ws.assigned_to_id and ws.status != "in_stock"]
    existing = {(lic.product_id, lic.name) for lic in SoftwareLicence.objects.all()}
    for (product_name, publisher, version, licence_name, metric, entitled, days, supplier,
         installs) in SOFTWARE:
        product = estate.ci("software_product", product_name, team=ENDPOINTS, criticality=3,
                            vendor=publisher,
                            attributes={"publisher": publisher, "version": version})
        if (product.pk, licence_name) not in existing:
            licences.licence_create(
                actor=None, product=product, name=licence_name, metric=metric,
                entitlement_count=entitled, expiry_date=estate.date(days),
                owner_team=estate.teams.get(ENDPOINTS), supplier=supplier,
                cost=Decimal(entitled * 180))
        for device in assigned if installs is None else assigned[-installs:]:
            estate.install(product, device, version)


def load_cmdb() -> None:
    """The Aldermoor Group's estate (idempotent: adds only what is missing)."""
    rng = random.Random(SEED)
    estate = _Estate(timezone.localdate())
    _data_centre(estate, rng)
    _services(estate)
    workstations = _devices(estate, rng)
    _software(estate, workstations)
