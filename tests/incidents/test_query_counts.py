"""Query counts of the main incident pages and endpoints: pinned, and the same for 3 items
as for 30 (no N+1), with no COUNT over the table.

The pinned numbers are in one place below, one per page. When a panel is added to a page,
change its number here and say in the commit what the new queries are."""

import pytest
from django.urls import reverse

from incidents import services
from incidents.models import Incident
from tests.factories import MembershipFactory, TeamFactory, UserFactory

# --- The pinned counts ----------------------------------------------------------------------
# Permissions come from the cache once the user has asked before (accounts/backends.py;
# tests/accounts/test_permission_cache.py counts the first ask).
# The session comes from the cache too (SESSION_ENGINE cached_db).
# Desk queue (explicit ?queue=): user with profile (time zone), the teams (for the filter
# bar, the bulk form and the rows' group names), the page of incidents, the names of its
# callers and assignees, the saved views, the header bell. (The bulk form's members come
# from the roster kept in memory: accounts.selectors.team_roster.)
QUEUE_LIST_QUERIES = 6
# Desk detail: user with profile, the incident with its people and group (and whether it
# has children or a review), its category and subcategory, its service and CI (2), its
# timeline, the names in its field changes (people, groups: 2), the assignment form's
# groups and members (2), its SLA timers, its changes (linked or caused), its remediation
# runs with their counts (one query), its problems. No children: no query for them.
DETAIL_QUERIES = 14
# API list: token, the page of incidents with callers (one query).
API_LIST_QUERIES = 2
# API detail: token, the incident with its caller.
API_DETAIL_QUERIES = 2


@pytest.fixture
def desk_team(db):
    return TeamFactory(name="Service Desk", is_service_desk=True)


@pytest.fixture
def network(agent):
    team = TeamFactory(name="Network")
    MembershipFactory(team=team, user=agent)
    return team


@pytest.fixture
def token(agent):
    from accounts.services import api_token_create

    return api_token_create(actor=None, user=agent, name="counts")[1]


def add_incidents(agent, group, count):
    """``count`` incidents from different callers, every other one assigned to a
    different member of ``group``."""
    for number in range(count):
        incident = services.incident_create(actor=agent, title=f"Incident {number}",
                                            requester=UserFactory(), assignment_group=group)
        if number % 2 == 0:
            member = UserFactory(roles=["service_desk_agent"])
            MembershipFactory(team=group, user=member)
            services.incident_assign(actor=agent, incident=incident, group=group,
                                     assignee=member)


def add_activity(agent, incident, groups, count):
    """``count`` rounds of timeline entries by different people: a comment, a work note,
    a reassignment to another group and person (field changes naming both)."""
    for number in range(count):
        group = groups[number % len(groups)]
        member = UserFactory(roles=["service_desk_agent"])
        MembershipFactory(team=group, user=member)
        services.incident_respond(actor=member, incident=incident, body=f"Looked {number}")
        services.incident_respond(actor=agent, incident=incident, body=f"Note {number}",
                                  internal=True)
        services.incident_assign(actor=agent, incident=incident, group=group, assignee=member)


def full_incident(agent, group):
    """An incident with every related record the detail page shows."""
    from cmdb import services as cmdb
    from incidents.models import Category
    from tests.cmdb.factories import ci_class

    admin = UserFactory(roles=["administrator"])
    category = Category.objects.create(name="Hardware")
    return services.incident_create(
        actor=agent, title="Slow", requester=UserFactory(), assignment_group=group,
        category=category, subcategory=Category.objects.create(name="Laptop", parent=category),
        service=cmdb.ci_create(actor=admin, name="Payroll",
                               ci_class=ci_class("business_service")),
        ci=cmdb.ci_create(actor=admin, name="esx", ci_class=ci_class("server"),
                          attributes={"os": "RHEL 9"}))


def no_count(captured):
    # No count of the list (``.count()``, a counting paginator). A correlated count per
    # returned row (children_count, through the parent index) is fine.
    assert not any('AS "__COUNT"' in q["sql"].upper() for q in captured.captured_queries)


# --- Desk queue -----------------------------------------------------------------------------

def test_queue_list_queries(client, agent, desk_team, network, django_assert_num_queries):
    client.force_login(agent)
    url = reverse("incidents:list") + "?queue=open"
    add_incidents(agent, network, 3)
    client.get(url)
    with django_assert_num_queries(QUEUE_LIST_QUERIES) as captured:
        assert len(client.get(url).context["items"]) == 3
    no_count(captured)
    add_incidents(agent, network, 27)
    client.get(url)  # new people and roles: the permission cache starts again
    with django_assert_num_queries(QUEUE_LIST_QUERIES) as captured:
        assert len(client.get(url).context["items"]) == 30
    no_count(captured)


# --- Desk detail ----------------------------------------------------------------------------

def test_detail_queries(client, agent, desk_team, network, django_assert_num_queries):
    client.force_login(agent)
    incident = full_incident(agent, network)
    url = reverse("incidents:detail", kwargs={"key": incident.number})
    groups = [network, TeamFactory(name="Servers")]
    add_activity(agent, incident, groups, 2)
    client.get(url)
    with django_assert_num_queries(DETAIL_QUERIES) as captured:
        response = client.get(url)
    few = len(response.context["activities"])
    no_count(captured)
    add_activity(agent, incident, groups, 10)
    client.get(url)  # new people and roles: the permission cache starts again
    with django_assert_num_queries(DETAIL_QUERIES) as captured:
        response = client.get(url)
    assert len(response.context["activities"]) >= few + 30
    no_count(captured)


# --- API ------------------------------------------------------------------------------------

def test_api_list_queries(client, agent, desk_team, network, token, django_assert_num_queries):
    headers = {"authorization": f"Bearer {token}"}
    add_incidents(agent, network, 3)
    client.get("/api/v1/incidents/", headers=headers)
    with django_assert_num_queries(API_LIST_QUERIES) as captured:
        assert len(client.get("/api/v1/incidents/", headers=headers).json()["results"]) == 3
    no_count(captured)
    add_incidents(agent, network, 27)
    # new people and roles: the permission cache starts again
    client.get("/api/v1/incidents/", headers=headers)
    with django_assert_num_queries(API_LIST_QUERIES) as captured:
        response = client.get("/api/v1/incidents/?queue=open", headers=headers)
    assert len(response.json()["results"]) == 30
    no_count(captured)


def test_api_detail_queries(client, agent, desk_team, network, token,
                            django_assert_num_queries):
    headers = {"authorization": f"Bearer {token}"}
    incident = full_incident(agent, network)
    url = f"/api/v1/incidents/{incident.pk}/"
    groups = [network, TeamFactory(name="Servers")]
    add_activity(agent, incident, groups, 2)
    client.get(url, headers=headers)
    with django_assert_num_queries(API_DETAIL_QUERIES):
        assert client.get(url, headers=headers).json()["number"] == incident.number
    add_activity(agent, incident, groups, 10)
    client.get(url, headers=headers)  # new people and roles: the permission cache starts again
    with django_assert_num_queries(API_DETAIL_QUERIES):
        client.get(url, headers=headers)
    assert Incident.objects.count() == 1
