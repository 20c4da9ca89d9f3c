import pytest

from audit.models import AuditEntry
from incidents import services
from incidents.models import Incident
from tests.factories import MembershipFactory, TeamFactory, UserFactory


@pytest.fixture
def desk_team(db):
    return TeamFactory(name="Service Desk", is_service_desk=True)


@pytest.fixture
def incident(requester, desk_team):
    return services.incident_create(actor=requester, title="Laptop will not boot")


def url(incident, action=""):
    return f"/api/v1/incidents/{incident.pk}/" + (f"{action}/" if action else "")


def test_requester_creates_and_sees_only_their_own(api, requester, desk_team):
    api.force_authenticate(requester)
    created = api.post("/api/v1/incidents/", {"title": "Printer jam", "impact": 2,
                                              "urgency": 1}, format="json")
    assert created.status_code == 201
    body = created.json()
    assert body["number"].startswith("INC") and body["priority"] == 2
    assert body["requester"] == requester.pk and body["channel"] == "api"
    other = services.incident_create(actor=UserFactory(), title="Someone else's")
    listed = [i["title"] for i in api.get("/api/v1/incidents/").json()["results"]]
    assert listed == ["Printer jam"]
    response = api.get(url(other))
    assert response.status_code == 404  # not 403: existence does not leak
    assert api.post(url(other, "comment"), {"body": "hi"}, format="json").status_code == 404


def test_requester_cannot_pick_the_group(api, requester, desk_team):
    api.force_authenticate(requester)
    response = api.post("/api/v1/incidents/", {"title": "x",
                                               "assignment_group": desk_team.pk},
                        format="json")
    assert response.status_code == 403 and not Incident.objects.exists()


def test_patching_state_is_refused_with_the_reason(api, agent, incident):
    api.force_authenticate(agent)
    response = api.patch(url(incident), {"state": "closed", "title": "New"}, format="json")
    assert response.status_code == 400
    assert "state" in response.json()["fields"]
    incident.refresh_from_db()
    assert incident.state == "new" and incident.title == "Laptop will not boot"


def test_patching_impact_rereads_the_matrix(api, agent, incident):
    api.force_authenticate(agent)
    body = api.patch(url(incident), {"impact": 1, "urgency": 1}, format="json").json()
    assert body["priority"] == 1
    assert AuditEntry.objects.filter(object_id=str(incident.pk),
                                     message__startswith="Priority from the matrix").exists()


def test_out_of_range_impact_names_the_field(api, agent, desk_team):
    api.force_authenticate(agent)
    response = api.post("/api/v1/incidents/", {"title": "x", "impact": 7}, format="json")
    assert response.status_code == 400 and "impact" in response.json()["fields"]


def test_assign_resolve_reopen_through_actions(api, agent, requester, incident, desk_team):
    MembershipFactory(team=desk_team, user=agent)
    api.force_authenticate(agent)
    assigned = api.post(url(incident, "assign"), {"group": desk_team.pk, "assignee": agent.pk},
                        format="json").json()
    assert assigned["state"] == "assigned" and assigned["assignee"] == agent.pk
    outsider = UserFactory()
    bad = api.post(url(incident, "assign"), {"group": desk_team.pk, "assignee": outsider.pk},
                   format="json")
    assert bad.status_code == 400 and "assignee" in bad.json()["fields"]
    missing = api.post(url(incident, "resolve"), {"resolution_code": "user_error"},
                       format="json")
    assert missing.status_code == 400 and "resolution_notes" in missing.json()["fields"]
    resolved = api.post(url(incident, "resolve"), {"resolution_code": "user_error",
                                                   "resolution_notes": "Reseated RAM"},
                        format="json").json()
    assert resolved["state"] == "resolved"
    api.force_authenticate(requester)
    reopened = api.post(url(incident, "reopen"), {"note": "Broke again"}, format="json")
    assert reopened.status_code == 200 and reopened.json()["reopened_count"] == 1


def test_illegal_transition_is_a_clear_400(api, agent, incident):
    api.force_authenticate(agent)
    response = api.post(url(incident, "transition"), {"to_state": "closed"}, format="json")
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_transition"
    assert "Cannot move from New to Closed" in response.json()["message"]


def test_comment_and_work_note(api, agent, requester, incident):
    api.force_authenticate(requester)
    assert api.post(url(incident, "work-note"), {"body": "x"}, format="json"
                    ).status_code == 403
    api.force_authenticate(agent)
    assert api.post(url(incident, "comment"), {"body": "On it"}, format="json"
                    ).json()["first_response_at"] is not None


def test_queue_filters(api, agent, requester, desk_team):
    MembershipFactory(team=desk_team, user=agent)
    mine = services.incident_create(actor=requester, title="mine")
    services.incident_assign(actor=agent, incident=mine, group=desk_team, assignee=agent)
    services.incident_create(actor=requester, title="unassigned")
    api.force_authenticate(agent)

    def titles(queue):
        return sorted(i["title"] for i in api.get("/api/v1/incidents/", {"queue": queue}
                                                   ).json()["results"])

    assert titles("mine") == ["mine"]
    assert titles("unassigned") == ["unassigned"]
    assert titles("my_groups") == ["mine", "unassigned"]
    assert api.get("/api/v1/incidents/", {"queue": "bogus"}).status_code == 400


def test_list_query_count_is_flat(api, agent, requester, desk_team,
                                  django_assert_max_num_queries):
    for index in range(30):
        services.incident_create(actor=requester, title=f"i{index}")
    api.force_authenticate(agent)
    with django_assert_max_num_queries(8):
        response = api.get("/api/v1/incidents/")
    assert len(response.json()["results"]) == 30


def test_override_priority_action(api, incident, db):
    manager = UserFactory(roles=["incident_manager"])
    api.force_authenticate(manager)
    response = api.post(url(incident, "override-priority"), {"priority": 1, "reason": ""},
                        format="json")
    assert response.status_code == 400 and "reason" in response.json()["fields"]
    ok = api.post(url(incident, "override-priority"), {"priority": 1, "reason": "CEO"},
                  format="json").json()
    assert ok["priority"] == 1 and ok["priority_override_reason"] == "CEO"


def test_categories_are_checked_from_the_live_tree(api, agent, desk_team):
    from incidents.models import Category

    hardware = Category.objects.create(name="Hardware")
    laptop = Category.objects.create(name="Laptop", parent=hardware)
    old = Category.objects.create(name="Fax", is_active=False)
    api.force_authenticate(agent)

    def create(**fields):
        return api.post("/api/v1/incidents/", {"title": "Broken", **fields}, format="json")

    made = create(category=hardware.pk, subcategory=laptop.pk)
    assert made.status_code == 201
    assert (made.json()["category"], made.json()["subcategory"]) == (hardware.pk, laptop.pk)
    for value, message in ((999999, 'Invalid pk "999999" - object does not exist.'),
                           (old.pk, f'Invalid pk "{old.pk}" - object does not exist.'),
                           ("abc", "Incorrect type. Expected pk value, received str."),
                           (True, "Incorrect type. Expected pk value, received bool.")):
        response = create(category=value)
        assert response.status_code == 400
        assert response.json()["fields"]["category"] == [message]
    # A subcategory of another category: the service's rule, with the field named.
    other = Category.objects.create(name="Network")
    response = create(category=other.pk, subcategory=laptop.pk)
    assert response.status_code == 400 and "subcategory" in response.json()["fields"]
    # Renamed or retired by an administrator: seen at the next request.
    hardware.is_active = False
    hardware.save()
    assert create(category=hardware.pk).status_code == 400
    old.is_active = True
    old.save()
    assert create(category=old.pk).status_code == 201
    assert Incident.objects.filter(title="Broken").count() == 2
