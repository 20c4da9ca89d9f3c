"""Permissions are read from the database once and then from the cache, and any change to
roles, groups or permissions is seen on the very next check (accounts/backends.py)."""

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission

from accounts.services import _set_roles
from tests.factories import UserFactory

User = get_user_model()


def fresh(user):
    """The user as the next request loads it: nothing cached on the object."""
    return User.objects.get(pk=user.pk)


def test_the_second_request_reads_permissions_from_the_cache(db, django_assert_num_queries):
    agent = UserFactory(username="cached", roles=["service_desk_agent"])
    user = fresh(agent)
    with django_assert_num_queries(2):  # the user's and the groups' permissions
        assert user.has_perm("accounts.access_desk")
    user = fresh(agent)
    with django_assert_num_queries(0):
        assert user.has_perm("accounts.access_desk")
        assert not user.has_perm("accounts.manage_users")


def test_a_role_change_is_seen_at_once(db):
    person = UserFactory(username="promoted", roles=["requester"])
    assert not fresh(person).has_perm("accounts.access_desk")
    _set_roles(person, ["service_desk_agent"])
    assert fresh(person).has_perm("accounts.access_desk")
    _set_roles(person, ["requester"])
    assert not fresh(person).has_perm("accounts.access_desk")


def test_a_group_permission_change_is_seen_at_once(db):
    person = UserFactory(username="grouped", roles=["requester"])
    group = Group.objects.create(name="Auditors")
    person.groups.add(group)
    manage = Permission.objects.get(codename="manage_users", content_type__app_label="accounts")
    assert not fresh(person).has_perm("accounts.manage_users")
    group.permissions.add(manage)
    assert fresh(person).has_perm("accounts.manage_users")
    group.delete()
    assert not fresh(person).has_perm("accounts.manage_users")


def test_direct_permissions_superusers_and_inactive_users(db):
    person = UserFactory(username="direct", roles=["requester"])
    manage = Permission.objects.get(codename="manage_users", content_type__app_label="accounts")
    assert not fresh(person).has_perm("accounts.manage_users")
    person.user_permissions.add(manage)
    assert fresh(person).has_perm("accounts.manage_users")
    User.objects.filter(pk=person.pk).update(is_active=False)
    assert not fresh(person).has_perm("accounts.manage_users")
    User.objects.filter(pk=person.pk).update(is_active=True, is_superuser=True)
    person.user_permissions.clear()
    assert fresh(person).has_perm("incidents.override_priority")


def test_an_evicted_version_never_brings_back_old_answers(db):
    from django.core.cache import cache

    from accounts.backends import PERMISSIONS_CONFIG

    person = UserFactory(username="evicted", roles=["service_desk_agent"])
    assert fresh(person).has_perm("accounts.access_desk")  # cached under the version
    cache.delete(f"config-version:{PERMISSIONS_CONFIG}")  # only the token goes (LRU)
    _set_roles(person, ["requester"])
    assert not fresh(person).has_perm("accounts.access_desk")
