"""The standard CI classes, their attribute schemas and the relationship types. They are
data: administrators edit them afterwards; this only seeds a new installation."""

from django.db import migrations

OS_SERVER = ["Windows Server 2022", "Windows Server 2019", "Ubuntu 24.04", "Ubuntu 22.04",
             "RHEL 9", "RHEL 8"]
OS_CLIENT = ["Windows 11", "Windows 10", "macOS 15", "macOS 14", "Ubuntu 24.04"]

# key, name, is_asset, is_service, [(key, label, type, required, choices, reference)]
CLASSES = [
    ("business_service", "Business service", False, True, [
        ("service_hours", "Service hours", "text", False, [], None),
        ("users", "Users", "number", False, [], None),
    ]),
    ("technical_service", "Technical service", False, True, [
        ("service_hours", "Service hours", "text", False, [], None),
    ]),
    ("application", "Application", False, False, [
        ("version", "Version", "text", False, [], None),
        ("url", "URL", "text", False, [], None),
        ("vendor_support_end", "Vendor support ends", "date", False, [], None),
    ]),
    ("database", "Database", False, False, [
        ("engine", "Engine", "choice", True, ["PostgreSQL", "SQL Server", "Oracle", "MySQL"],
         None),
        ("version", "Version", "text", False, [], None),
        ("size_gb", "Size (GB)", "number", False, [], None),
    ]),
    ("server", "Server", True, False, [
        ("os", "Operating system", "choice", True, OS_SERVER, None),
        ("cpu_cores", "CPU cores", "number", False, [], None),
        ("memory_gb", "Memory (GB)", "number", False, [], None),
        ("rack", "Rack", "text", False, [], None),
        ("hypervisor_host", "Virtualisation host", "boolean", False, [], None),
    ]),
    ("virtual_machine", "Virtual machine", False, False, [
        ("os", "Operating system", "choice", True, OS_SERVER, None),
        ("cpu_cores", "vCPUs", "number", False, [], None),
        ("memory_gb", "Memory (GB)", "number", False, [], None),
        ("host", "Runs on host", "reference", False, [], "server"),
    ]),
    ("workstation", "Workstation / laptop", True, False, [
        ("os", "Operating system", "choice", True, OS_CLIENT, None),
        ("form_factor", "Form factor", "choice", False, ["laptop", "desktop"], None),
        ("memory_gb", "Memory (GB)", "number", False, [], None),
        ("disk_encrypted", "Disk encrypted", "boolean", False, [], None),
    ]),
    ("mobile_device", "Mobile device", True, False, [
        ("platform", "Platform", "choice", True, ["iOS", "Android"], None),
        ("phone_number", "Phone number", "text", False, [], None),
        ("imei", "IMEI", "text", False, [], None),
    ]),
    ("network_device", "Network device", True, False, [
        ("device_type", "Device type", "choice", True,
         ["switch", "router", "firewall", "wireless access point", "load balancer"], None),
        ("firmware", "Firmware", "text", False, [], None),
        ("ports", "Ports", "number", False, [], None),
    ]),
    ("software_product", "Software product", False, False, [
        ("publisher", "Publisher", "text", False, [], None),
        ("version", "Version", "text", False, [], None),
    ]),
    ("licence", "Licence", False, False, [
        ("agreement", "Agreement", "text", False, [], None),
    ]),
    ("certificate", "Certificate", False, False, [
        ("expires_on", "Expires on", "date", True, [], None),
        ("issuer", "Issuer", "text", False, [], None),
        ("subject", "Subject", "text", False, [], None),
    ]),
    ("ot_device", "OT / medical / industrial device", True, False, [
        ("device_type", "Device type", "text", True, [], None),
        ("firmware", "Firmware", "text", False, [], None),
        ("safety_critical", "Safety critical", "boolean", False, [], None),
        ("regulatory_class", "Regulatory class", "choice", False,
         ["none", "IIa", "IIb", "III"], None),
    ]),
]

HOSTS = ["server", "virtual_machine"]
DEVICES = ["server", "virtual_machine", "workstation", "mobile_device", "network_device",
           "ot_device"]
# key, name, reverse name, propagates impact, allowed sources, allowed targets
TYPES = [
    ("depends_on", "depends on", "used by", True, [], ["business_service",
     "technical_service", "application", "database", "server", "virtual_machine",
     "network_device", "certificate", "software_product"]),
    ("runs_on", "runs on", "hosts", True,
     ["application", "database", "virtual_machine", "software_product", "technical_service"],
     HOSTS),
    ("connected_to", "connected to", "connected from", True,
     ["server", "workstation", "network_device", "ot_device", "mobile_device"],
     ["network_device"]),
    ("member_of", "member of", "has member", False, DEVICES + ["application", "database"],
     ["business_service", "technical_service", "server"]),
    ("licensed_to", "licensed to", "licensed by", False, ["licence"],
     DEVICES + ["application"]),
]


def seed(apps, schema_editor):
    CIClass = apps.get_model("cmdb", "CIClass")
    AttributeDefinition = apps.get_model("cmdb", "AttributeDefinition")
    RelationshipType = apps.get_model("cmdb", "RelationshipType")
    CmdbSettings = apps.get_model("cmdb", "CmdbSettings")
    classes = {}
    for order, (key, name, is_asset, is_service, attributes) in enumerate(CLASSES):
        classes[key], _ = CIClass.objects.get_or_create(key=key, defaults={
            "name": name, "is_asset": is_asset, "is_service": is_service,
            "order": order * 10})
    for key, _name, _a, _s, attributes in CLASSES:
        for order, (attr, label, kind, required, choices, ref) in enumerate(attributes):
            AttributeDefinition.objects.get_or_create(
                ci_class=classes[key], key=attr, defaults={
                    "label": label, "type": kind, "required": required, "choices": choices,
                    "reference_class": classes.get(ref), "order": order * 10})
    for key, name, reverse, propagates, sources, targets in TYPES:
        rel_type, created = RelationshipType.objects.get_or_create(key=key, defaults={
            "name": name, "reverse_name": reverse, "propagates_impact": propagates})
        if created:
            rel_type.allowed_sources.set([classes[c] for c in sources])
            rel_type.allowed_targets.set([classes[c] for c in targets])
    if not CmdbSettings.objects.exists():
        CmdbSettings.objects.create(expiry_warning_days=[30, 7, 1])


GIN = ("CREATE INDEX IF NOT EXISTS ci_attributes_gin ON cmdb_configurationitem "
       "USING GIN (attributes jsonb_path_ops)")


def attribute_index(apps, schema_editor):
    # Attribute filters (attributes @> {...}) use it on PostgreSQL; SQLite scans.
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(GIN)


def drop_attribute_index(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("DROP INDEX IF EXISTS ci_attributes_gin")


class Migration(migrations.Migration):
    dependencies = [("cmdb", "0001_initial")]
    operations = [
        migrations.RunPython(seed, migrations.RunPython.noop),
        migrations.RunPython(attribute_index, drop_attribute_index),
    ]
