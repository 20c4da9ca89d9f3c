"""Routing rules and the priority matrix are read once per process and re-read as soon
as an administrator changes them (itsm/config_cache.py)."""

from django.core.cache import cache

from incidents import services
from incidents.models import PriorityMatrixEntry, RoutingRule
from itsm.config_cache import cached_config
from tests.factories import TeamFactory


def test_loaded_once_until_changed(db, django_assert_num_queries):
    PriorityMatrixEntry.objects.update_or_create(impact=3, urgency=3,
                                                 defaults={"priority": 4})
    assert services.priority_for(3, 3) == 4
    services.routing_rules()
    with django_assert_num_queries(0):
        assert services.priority_for(3, 3) == 4
        assert services.routing_rules() == []
    entry = PriorityMatrixEntry.objects.get(impact=3, urgency=3)
    entry.priority = 3
    entry.save()
    assert services.priority_for(3, 3) == 3
    entry.delete()
    assert services.priority_for(3, 3) == services.DEFAULT_MATRIX[(3, 3)]


def test_rules_and_their_groups_are_seen_at_once(db):
    desk = TeamFactory(name="Service Desk", is_service_desk=True)
    network = TeamFactory(name="Network")
    assert services.routing_rules() == []
    rule = RoutingRule.objects.create(name="VPN", keywords="vpn", assignment_group=network)
    assert [r.pk for r in services.routing_rules()] == [rule.pk]
    network.name = "Network operations"
    network.save()
    assert services.routing_rules()[0].assignment_group.name == "Network operations"
    rule.is_active = False
    rule.save()
    assert services.routing_rules() == []
    assert desk.pk


def test_a_cleared_cache_never_brings_back_an_old_copy(db):
    loads = []
    cached_config("test.thing", lambda: loads.append(1) or "first")
    cached_config("test.thing", lambda: loads.append(1) or "second")
    assert len(loads) == 1
    cache.clear()  # e.g. Redis restarted: the version is gone
    assert cached_config("test.thing", lambda: "third") == "third"


def test_pinned_versions_are_read_once_and_only_inside(db):
    from django.core.cache import cache

    from itsm.config_cache import config_version, versions_pinned

    first = config_version("pinned.example")
    with versions_pinned():
        assert config_version("pinned.example") == first
        cache.set("config-version:pinned.example", "changed", None)
        assert config_version("pinned.example") == first  # one configuration per batch
    assert config_version("pinned.example") == "changed"
