import datetime

from django.core import mail
from django.utils import timezone

from audit.models import AuditEntry
from cmdb import expiry, selectors
from cmdb.models import ConfigurationItem, Installation, Relationship, SoftwareLicence
from demo.cmdb_estate import WORKSTATIONS
from demo.loader import load_demo


def quiet(_line: str) -> None:
    pass


def counts() -> dict[str, int]:
    return {
        "cis": ConfigurationItem.objects.count(),
        "relationships": Relationship.objects.count(),
        "licences": SoftwareLicence.objects.count(),
        "installations": Installation.objects.count(),
        "audit": AuditEntry.objects.count(),
    }


def test_loading_the_demo_twice_changes_nothing(db):
    # Given the demo loaded once
    load_demo(log=quiet)
    first = counts()
    # When it is loaded again
    load_demo(log=quiet)
    # Then nothing was added (not even an audit entry)
    assert counts() == first
    assert first["cis"] > WORKSTATIONS and first["relationships"] > 80


def test_a_core_switch_failing_reaches_the_business_services(db):
    load_demo(log=quiet)
    core = ConfigurationItem.objects.get(name="core-sw-ldn-01")
    impact = selectors.ci_impact(core, direction="up", depth=5)
    reached = {ci.name for ci, _distance in impact.nodes if ci.ci_class.key == "business_service"}
    assert "Online Ordering" in reached and "Payroll" in reached
    assert not impact.truncated
    # and the other way round: what Online Ordering needs reaches the network
    service = ConfigurationItem.objects.get(name="Online Ordering",
                                            ci_class__key="business_service")
    needs = {ci.name for ci, _distance in selectors.ci_impact(service, direction="down",
                                                               depth=5).nodes}
    assert {"orders-db", "pg-ldn-01", "core-sw-ldn-01", "shop.aldermoor.example"} <= needs


def test_the_estate_is_realistic(db, django_capture_on_commit_callbacks):
    load_demo(log=quiet)
    items = ConfigurationItem.objects
    # Every business service, wired to what it runs on
    services = set(items.filter(ci_class__key="business_service").values_list("name", flat=True))
    assert {"Online Ordering", "Payroll", "Email & Collaboration", "Clinical Records",
            "Warehouse Management"} <= services
    # ~200 workstations with serials, most of them assigned to people
    workstations = items.filter(ci_class__key="workstation")
    assert workstations.count() == WORKSTATIONS
    assert not workstations.filter(serial_number="").exists()
    assert workstations.filter(assigned_to__isnull=False).count() > 100
    assert items.filter(ci_class__key="mobile_device").exists()
    assert items.filter(ci_class__key="ot_device").count() >= 2
    # Warranties spread over two years, a few within a month
    today = timezone.localdate()
    soon = workstations.filter(warranty_end__lte=today + datetime.timedelta(days=30))
    assert 2 <= soon.count() <= 6
    assert workstations.filter(warranty_end__gt=today + datetime.timedelta(days=365)).exists()
    # One product is over-deployed
    over = [row["product"].name for row in selectors.licence_compliance()
            if row["over_deployed"]]
    assert over == ["Adobe Acrobat Pro"]
    # A certificate ends in five days, so the expiry sweep has something to say
    with django_capture_on_commit_callbacks(execute=True):
        sent = expiry.expiry_warnings_send(today=today)
    assert sent["certificate"] == 1 and sent["warranty"] == soon.count()
    assert any("shop.aldermoor.example" in m.subject for m in mail.outbox)
