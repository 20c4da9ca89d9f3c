from django.contrib.auth.models import Group

from accounts.roles import ROLES, sync_roles
from tests.factories import UserFactory


def test_every_role_exists_as_a_group_after_migrate(db):
    names = set(Group.objects.values_list("name", flat=True))
    assert {role.name for role in ROLES} <= names


def test_desk_access_follows_roles(db):
    requester = UserFactory(roles=["requester"])
    agent = UserFactory(roles=["service_desk_agent"])
    assert not requester.has_perm("accounts.access_desk")
    assert agent.has_perm("accounts.access_desk")
    assert not agent.has_perm("accounts.manage_users")


def test_administrator_holds_every_permission_and_admin_site(db):
    admin = UserFactory(roles=["administrator"])
    assert admin.is_staff
    assert admin.has_perm("accounts.manage_users")
    assert admin.has_perm("audit.view_auditentry")


def test_sync_roles_restores_a_tampered_group(db):
    group = Group.objects.get(name="Service desk agent")
    group.permissions.clear()
    sync_roles()
    assert group.permissions.filter(codename="access_desk").exists()
