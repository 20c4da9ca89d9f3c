import pytest

from accounts import services
from accounts.models import Team
from audit.models import AuditEntry
from itsm.errors import Conflict, DomainError, NotPermitted
from tests.factories import MembershipFactory, TeamFactory, UserFactory


def test_admin_creates_a_person_with_profile_and_roles_audited(admin_user):
    manager = UserFactory()
    user = services.user_create(
        actor=admin_user, username="jdoe", email="jdoe@example.com", first_name="Jane",
        last_name="Doe", roles=["resolver"], phone="+1 555", time_zone="Europe/Paris",
        manager=manager, vip=True,
    )
    assert user.profile.time_zone == "Europe/Paris"
    assert user.profile.vip and user.profile.manager == manager
    assert services.user_roles(user) == ["resolver"]
    created = AuditEntry.objects.get(action="create", object_id=str(user.pk))
    assert created.changes["username"] == [None, "jdoe"]
    assert created.changes["vip"] == [None, True]


def test_agent_cannot_create_people(agent):
    with pytest.raises(NotPermitted):
        services.user_create(actor=agent, username="x")


def test_duplicate_username_is_a_conflict_naming_the_field(admin_user):
    UserFactory(username="taken")
    with pytest.raises(Conflict) as error:
        services.user_create(actor=admin_user, username="TAKEN")
    assert "username" in error.value.fields


def test_invalid_time_zone_is_refused_at_the_field_and_nothing_changes(requester):
    with pytest.raises(DomainError) as error:
        services.user_update(actor=requester, user=requester, time_zone="Mars/Olympus")
    assert "time_zone" in error.value.fields
    requester.profile.refresh_from_db()
    assert requester.profile.time_zone == "UTC"


def test_people_edit_a_few_of_their_own_fields_only(requester):
    services.user_update(actor=requester, user=requester, phone="123", time_zone="Asia/Tokyo")
    requester.profile.refresh_from_db()
    assert requester.profile.phone == "123"
    with pytest.raises(NotPermitted):
        services.user_update(actor=requester, user=requester, vip=True)


def test_update_records_only_what_changed(admin_user, requester):
    services.user_update(actor=admin_user, user=requester, phone="42", location="Leeds")
    entry = AuditEntry.objects.filter(action="update", object_id=str(requester.pk)).latest("id")
    assert entry.changes == {"phone": ["", "42"], "location": ["", "Leeds"]}
    assert entry.actor == admin_user
    before = AuditEntry.objects.count()
    services.user_update(actor=admin_user, user=requester, phone="42")
    assert AuditEntry.objects.count() == before


def test_nobody_is_their_own_manager(admin_user):
    with pytest.raises(DomainError) as error:
        services.user_update(actor=admin_user, user=admin_user, manager=admin_user)
    assert "manager" in error.value.fields


def test_roles_change_is_audited_and_unknown_role_refused(admin_user, agent):
    services.user_set_roles(actor=admin_user, user=agent, roles=["resolver", "cab_member"])
    entry = AuditEntry.objects.filter(object_id=str(agent.pk)).latest("id")
    assert entry.changes["roles"] == [["Service desk agent"], ["CAB member", "Resolver"]]
    with pytest.raises(DomainError):
        services.user_set_roles(actor=admin_user, user=agent, roles=["wizard"])


def test_admin_cannot_drop_own_admin_role(admin_user):
    with pytest.raises(DomainError):
        services.user_set_roles(actor=admin_user, user=admin_user, roles=["resolver"])


def test_team_lifecycle_and_membership(admin_user):
    person = UserFactory()
    team = services.team_create(actor=admin_user, name="Network", email="net@example.com")
    services.team_add_member(actor=admin_user, team=team, user=person)
    assert list(team.members.all()) == [person]
    with pytest.raises(Conflict):
        services.team_add_member(actor=admin_user, team=team, user=person)
    services.team_remove_member(actor=admin_user, team=team, user=person)
    assert team.members.count() == 0
    with pytest.raises(DomainError):
        services.team_remove_member(actor=admin_user, team=team, user=person)
    changes = [e.changes for e in AuditEntry.objects.filter(object_id=str(team.pk),
                                                             content_type__model="team")]
    assert {"members": [{"removed": person.username}, None]} in changes


def test_team_manager_may_change_members_but_not_the_team(db):
    manager = UserFactory(roles=["resolver"])
    team = TeamFactory(manager=manager)
    newcomer = UserFactory()
    services.team_add_member(actor=manager, team=team, user=newcomer)
    with pytest.raises(NotPermitted):
        services.team_update(actor=manager, team=team, name="Renamed")


def test_only_one_service_desk_team(admin_user):
    TeamFactory(name="Desk", is_service_desk=True)
    with pytest.raises(Conflict) as error:
        services.team_create(actor=admin_user, name="Other", is_service_desk=True)
    assert "is_service_desk" in error.value.fields
    assert not Team.objects.filter(name="Other").exists()


def test_duplicate_team_name_is_refused_at_the_field(admin_user):
    TeamFactory(name="Database")
    with pytest.raises(DomainError) as error:
        services.team_create(actor=admin_user, name="Database")
    assert "name" in error.value.fields


def test_inactive_people_cannot_join_teams(admin_user):
    gone = UserFactory(is_active=False)
    with pytest.raises(DomainError):
        services.team_add_member(actor=admin_user, team=TeamFactory(), user=gone)


def test_membership_factory_builds_a_member(db):
    membership = MembershipFactory()
    assert membership.user in membership.team.members.all()
