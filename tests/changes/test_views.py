"""The desk pages of the change record: the list (queues, filters, pages, queries), the
form for normal and emergency changes (links, field errors, nothing half-written), the
detail page (fields, only the allowed buttons, moves and their guards), editing, comments
and access."""

import datetime

import pytest
from django.urls import reverse
from django.utils import timezone

from changes import selectors, services
from changes.models import Change
from cmdb.models import Relationship
from incidents import services as incident_services
from tests.cmdb.factories import CIFactory, ci_class, rel_type
from tests.factories import MembershipFactory, UserFactory
from tickets.models import Activity

from .conftest import normal_change, soon

LIST = reverse("changes:list")
CREATE = reverse("changes:create")


@pytest.fixture
def cm_client(client, change_manager):
    client.force_login(change_manager)
    return client


@pytest.fixture
def impl_client(client, implementer):
    client.force_login(implementer)
    return client


@pytest.fixture
def payroll(db):
    return CIFactory(name="Payroll", ci_class=ci_class("business_service"))


def numbers(response):
    return [row.change.number for row in response.context["rows"]]


def detail(change, suffix=""):
    return reverse("changes:detail", kwargs={"pk": change.pk}) + suffix


def local(value: datetime.datetime) -> str:
    """A moment as a datetime-local input sends it (the viewer's zone is UTC)."""
    return timezone.localtime(value, datetime.UTC).strftime("%Y-%m-%dT%H:%M")


def put(change, **fields):
    Change.objects.filter(pk=change.pk).update(**fields)
    change.refresh_from_db()
    return change


# --- List ---------------------------------------------------------------------------------

def test_queues_return_the_right_changes(cm_client, change_manager, implementer, team):
    MembershipFactory(team=team, user=change_manager)
    mine = normal_change(change_manager, title="Mine", assignee=change_manager,
                         assignment_group=team)
    group = normal_change(change_manager, title="Group's", assignment_group=team)
    authorize = put(normal_change(change_manager, title="Waiting"), state="authorize")
    upcoming = put(normal_change(change_manager, title="Soon"), state="scheduled",
                   planned_start=soon(days=2), planned_end=soon(days=2, hours=1))
    later = put(normal_change(change_manager, title="Later"), state="scheduled",
                planned_start=soon(days=20), planned_end=soon(days=20, hours=1))
    implementing = put(normal_change(change_manager, title="Doing"), state="implement")
    reviewing = put(normal_change(change_manager, title="Reviewing"), state="review")
    emergency = normal_change(change_manager, title="Fire", type="emergency")
    closed = put(normal_change(change_manager, title="Done"), state="closed")
    cancelled = put(normal_change(change_manager, title="Dropped"), state="cancelled")
    open_ = {mine, group, authorize, upcoming, later, implementing, reviewing, emergency}

    def queue(name):
        response = cm_client.get(LIST, {"queue": name})
        assert response.status_code == 200
        return set(numbers(response))

    assert queue("open") == {c.number for c in open_}
    assert queue("mine") == {mine.number}
    assert queue("authorize") == {authorize.number}
    assert queue("upcoming") == {upcoming.number}
    assert queue("implement") == {implementing.number}
    assert queue("review") == {reviewing.number}
    assert queue("emergency") == {emergency.number}
    assert queue("closed") == {closed.number, cancelled.number}
    assert queue("all") == {c.number for c in open_ | {closed, cancelled}}
    # The implementer is in the team: "My groups" is their default queue.
    cm_client.force_login(implementer)
    response = cm_client.get(LIST)
    assert response.context["queue"] == "my_groups"
    assert set(numbers(response)) == {mine.number, group.number}


def test_filters_narrow_the_list(cm_client, change_manager, server, app_ci, payroll):
    web = normal_change(change_manager, title="Patch the web tier", cis=[server],
                        services=[payroll])
    app = normal_change(change_manager, title="Upgrade payroll", cis=[app_ci], type="emergency")
    put(app, risk="high")
    far = normal_change(change_manager, title="Far away", planned_start=soon(days=30),
                        planned_end=soon(days=30, hours=1))

    def found(**params):
        response = cm_client.get(LIST, {"queue": "open", **params})
        assert response.status_code == 200
        return set(numbers(response))

    assert found(q="web tier") == {web.number}
    assert found(q=app.number.lower()) == {app.number}
    assert found(type="emergency") == {app.number}
    assert found(risk="high") == {app.number}
    assert found(ci=server.pk) == {web.number}
    assert found(service=payroll.pk) == {web.number}
    assert found(planned_from=local(soon(days=25))) == {far.number}
    assert found(planned_to=local(soon(days=5))) == {web.number, app.number}
    # The htmx request gets the body alone.
    response = cm_client.get(LIST, {"queue": "open", "q": "web"}, HTTP_HX_REQUEST="true")
    assert response.templates[0].name == "changes/_list_body.html"


def test_rows_show_type_state_risk_window_group_and_cis(cm_client, change_manager, team,
                                                        implementer, server, app_ci):
    change = normal_change(change_manager, title="Fire", type="emergency", cis=[server, app_ci],
                           assignment_group=team, assignee=implementer)
    put(change, risk="very_high")
    response = cm_client.get(LIST, {"queue": "open"})
    html = response.content.decode()
    assert 'class="badge badge-emergency"' in html
    assert 'class="badge badge-red">Very high' in html
    assert "payroll-app, web-01" in html
    assert "Platform" in html
    row = response.context["rows"][0]
    assert row.implementer and row.group == "Platform"
    assert change.planned_start.isoformat() in html


def test_the_list_pages_by_keyset_and_its_queries_are_bounded(
        cm_client, change_manager, server, app_ci, monkeypatch, django_assert_max_num_queries):
    for n in range(7):
        normal_change(change_manager, title=f"Change {n}", cis=[server, app_ci])
    monkeypatch.setattr(selectors, "PAGE_SIZE", 3)
    seen = []
    url, params = LIST, {"queue": "open"}
    with django_assert_max_num_queries(14):
        response = cm_client.get(url, params)
    while True:
        seen += numbers(response)
        cursor = response.context["next_cursor"]
        if not cursor:
            break
        response = cm_client.get(url, {**params, "after": cursor})
    assert len(seen) == 7 == len(set(seen))
    assert seen == sorted(seen, reverse=True)  # newest first
    assert cm_client.get(url, {**params, "after": "garbage"}).status_code == 400


def test_the_list_query_count_does_not_grow_with_the_rows(
        cm_client, change_manager, server, django_assert_max_num_queries):
    normal_change(change_manager, cis=[server])
    with django_assert_max_num_queries(14) as few:
        cm_client.get(LIST, {"queue": "open"})
    for n in range(20):
        normal_change(change_manager, title=f"More {n}", cis=[server])
    with django_assert_max_num_queries(len(few.captured_queries)):
        cm_client.get(LIST, {"queue": "open"})


def test_sorting_by_planned_start(cm_client, change_manager):
    late = normal_change(change_manager, title="Late", planned_start=soon(days=9),
                         planned_end=soon(days=9, hours=1))
    early = normal_change(change_manager, title="Early", planned_start=soon(days=1),
                          planned_end=soon(days=1, hours=1))
    undated = normal_change(change_manager, title="Undated", planned_start=None,
                            planned_end=None)
    found = numbers(cm_client.get(LIST, {"queue": "open", "sort": "planned"}))
    assert found == [early.number, late.number]
    assert undated.number in numbers(cm_client.get(LIST, {"queue": "open"}))


def test_saved_views_of_the_list(cm_client):
    response = cm_client.post(reverse("desk:saved_view_create"), {
        "list_key": "changes.change", "name": "Emergencies", "query": "queue=open&type=emergency"})
    assert response.status_code == 302
    page = cm_client.get(LIST, {"queue": "open", "type": "emergency"})
    assert page.context["current_view"].name == "Emergencies"


# --- Create -------------------------------------------------------------------------------

def _form(**values):
    data = {"title": "Replace the core switch", "type": "normal", "priority": "3",
            "impact": "2", "requester": "cm", "justification": "Out of support",
            "implementation_plan": "Swap it", "backout_plan": "Swap it back",
            "planned_start": local(soon(days=3)), "planned_end": local(soon(days=3, hours=2))}
    data.update(values)
    return data


def test_creating_a_change_with_its_links(cm_client, change_manager, team, implementer, server,
                                          app_ci, payroll):
    incident = incident_services.incident_create(actor=change_manager, title="Switch flapping")
    response = cm_client.post(CREATE, _form(
        cis=[f"web-01 (CI {server.pk})", "payroll-app", ""], services=["Payroll"],
        incidents=[incident.number], assignment_group=team.pk, assignee=implementer.pk,
        outage_expected="on", outage_minutes="15"))
    change = Change.objects.get()
    assert response.status_code == 302 and response.url == detail(change)
    assert (change.type, change.state, change.priority, change.impact) == ("normal", "new", 3, 2)
    assert change.outage_expected and change.outage_minutes == 15
    assert set(change.cis.all()) == {server, app_ci}
    assert list(change.services.all()) == [payroll]
    assert list(change.incidents.all()) == [incident]
    assert (change.assignment_group, change.assignee) == (team, implementer)
    assert change.planned_end - change.planned_start == datetime.timedelta(hours=2)


def test_an_end_before_the_start_is_named_on_the_field_and_nothing_is_written(cm_client):
    response = cm_client.post(CREATE, _form(planned_start=local(soon(days=3)),
                                            planned_end=local(soon(days=2))))
    assert response.status_code == 400
    form = response.context["form"]
    assert form.errors["planned_end"] == ["The planned end must be after the planned start."]
    assert not Change.objects.exists()
    assert 'aria-invalid="true"' in response.content.decode()


def test_outage_minutes_without_an_outage_and_bad_links_are_refused(cm_client, server):
    response = cm_client.post(CREATE, _form(outage_minutes="30"))
    assert response.status_code == 400
    assert "outage_minutes" in response.context["form"].errors
    response = cm_client.post(CREATE, _form(cis=["no-such-ci"], services=["web-01"],
                                            incidents=["INC9999999"]))
    errors = response.context["form"].errors
    assert {"cis", "services", "incidents"} <= set(errors)
    assert "not a business service" in errors["services"][0]
    assert not Change.objects.exists()


def test_an_implementer_outside_the_group_is_refused(cm_client, team):
    outsider = UserFactory(username="out", roles=["resolver"])
    response = cm_client.post(CREATE, _form(assignment_group=team.pk, assignee=outsider.pk))
    assert response.status_code == 400
    assert "assignee" in response.context["form"].errors
    assert not Change.objects.exists()


def test_the_create_form_offers_normal_and_emergency_only(cm_client, change_manager):
    incident = incident_services.incident_create(actor=change_manager, title="Disk full")
    response = cm_client.get(CREATE, {"incident": incident.pk, "type": "emergency"})
    form = response.context["form"]
    assert [value for value, _label in form.fields["type"].choices] == ["normal", "emergency"]
    assert form["type"].value() == "emergency"
    assert incident.number in response.content.decode()
    assert cm_client.post(CREATE, _form(type="standard")).status_code == 400


def test_lookups_behind_the_form(cm_client, change_manager, team, implementer):
    incident = incident_services.incident_create(actor=change_manager, title="Mail is slow")
    html = cm_client.get(reverse("changes:incident_lookup"), {"q": "mail"}).content.decode()
    assert f"{incident.number} Mail is slow" in html
    html = cm_client.get(reverse("changes:group_members"),
                         {"assignment_group": team.pk}).content.decode()
    assert f'value="{implementer.pk}"' in html


# --- Detail -------------------------------------------------------------------------------

def test_the_detail_page_shows_the_record(cm_client, change_manager, server, payroll, app_ci):
    Relationship.objects.create(source=app_ci, target=server, type=rel_type("runs_on"))
    Relationship.objects.create(source=payroll, target=app_ci, type=rel_type("depends_on"))
    hr = CIFactory(name="HR portal", ci_class=ci_class("business_service"))
    Relationship.objects.create(source=hr, target=app_ci, type=rel_type("depends_on"))
    incident = incident_services.incident_create(actor=change_manager, title="Slow payroll")
    change = normal_change(change_manager, cis=[server], services=[payroll],
                           incidents=[incident], test_plan="Run the smoke tests",
                           outage_expected=True, outage_minutes=20)
    response = cm_client.get(detail(change))
    html = response.content.decode()
    assert response.status_code == 200
    for text in ("Run the upgrade", "Restore backup", "Run the smoke tests", "End of support",
                 "Expected: 20 minutes", incident.number, "web-01"):
        assert text in html
    assert reverse("cmdb:ci_detail", kwargs={"pk": server.pk}) in html
    assert reverse("incidents:detail", kwargs={"key": incident.number}) in html
    # Impact: HR portal depends on the server through the app; Payroll is named already.
    assert response.context["impacted_services"] == ["HR portal"]


def test_only_the_allowed_moves_are_offered(cm_client, change_manager, requester):
    change = normal_change(change_manager)
    labels = [item["transition"].label for item in cm_client.get(detail(change)).context[
        "transitions"]]
    assert labels == ["Submit for assessment", "Cancel"]
    emergency = normal_change(change_manager, type="emergency")
    labels = [item["transition"].target for item in cm_client.get(detail(emergency)).context[
        "transitions"]]
    assert labels == ["authorize", "cancelled"]


def test_a_move_through_the_page(cm_client, change_manager):
    change = normal_change(change_manager)
    response = cm_client.post(reverse("changes:transition", kwargs={"pk": change.pk}),
                              {"to_state": "assess", "note": "Ready"})
    assert response.status_code == 302
    change.refresh_from_db()
    assert change.state == "assess"
    assert Activity.objects.filter(object_id=change.pk, body="Ready").exists()


def test_a_guard_refusal_names_the_field_next_to_the_buttons(cm_client, change_manager):
    change = put(normal_change(change_manager), state="authorize", authorized_at=soon(),
                 backout_plan="", risk="low")
    response = cm_client.post(reverse("changes:transition", kwargs={"pk": change.pk}),
                              {"to_state": "scheduled"})
    assert response.status_code == 400
    html = response.content.decode()
    assert "Cannot “Schedule” yet:" in html
    assert "Backout plan: A backout plan is required to schedule." in html
    change.refresh_from_db()
    assert change.state == "authorize"


def test_finishing_implementation_takes_the_result(cm_client, change_manager):
    change = put(normal_change(change_manager), state="implement")
    url = reverse("changes:transition", kwargs={"pk": change.pk})
    response = cm_client.post(url, {"to_state": "review"})
    assert response.status_code == 400
    form = next(item for item in response.context["transitions"]
            if item["transition"].target == "review")["form"]
    assert form.errors["result"] == ["Say how it went."]
    assert cm_client.post(url, {"to_state": "review", "result": "successful"}).status_code == 302
    change.refresh_from_db()
    assert (change.state, change.result) == ("review", "successful")
    assert change.actual_end is not None


def test_an_emergency_schedule_takes_a_freeze_override_reason(cm_client, change_manager):
    change = put(normal_change(change_manager, type="emergency"), state="authorize",
                 authorized_at=soon(), risk="high")
    item = next(i for i in cm_client.get(detail(change)).context["transitions"]
            if i["transition"].target == "scheduled")
    assert [f.name for f in item["value_fields"]] == ["freeze_override_reason"]
    response = cm_client.post(reverse("changes:transition", kwargs={"pk": change.pk}), {
        "to_state": "scheduled", "freeze_override_reason": "Payroll is down"})
    assert response.status_code == 302
    change.refresh_from_db()
    assert (change.state, change.freeze_override_reason) == ("scheduled", "Payroll is down")


def test_comments_and_work_notes(cm_client, change_manager):
    change = normal_change(change_manager)
    url = reverse("changes:comment", kwargs={"pk": change.pk})
    assert cm_client.post(url, {"kind": "work_note", "body": "Vendor called"}).status_code == 302
    response = cm_client.post(url, {"kind": "comment", "body": "  "})
    assert response.status_code == 400
    assert response.context["comment_form"].errors["body"] == ["Required."]
    entry = Activity.objects.get(object_id=change.pk, kind="work_note")
    assert entry.body == "Vendor called"
    assert "Vendor called" in cm_client.get(detail(change)).content.decode()


# --- Edit ---------------------------------------------------------------------------------

def test_editing_a_change(cm_client, change_manager, server, app_ci):
    change = normal_change(change_manager, cis=[server])
    url = reverse("changes:edit", kwargs={"pk": change.pk})
    form = cm_client.get(url).context["form"]
    assert "type" not in form.fields
    data = {name: form[name].value() for name in form.fields
            if name not in ("cis", "services", "incidents")}
    data = {k: ("" if v is None else v) for k, v in data.items() if v is not False}
    data.update(title="Upgrade the database to 16", requester="cm",
                planned_start=local(soon(days=4)), planned_end=local(soon(days=4, hours=3)),
                cis=["payroll-app"])
    response = cm_client.post(url, data)
    assert response.status_code == 302, response.context["form"].errors
    change.refresh_from_db()
    assert change.title == "Upgrade the database to 16"
    assert list(change.cis.all()) == [app_ci]
    assert change.planned_end - change.planned_start == datetime.timedelta(hours=3)
    # End before start: refused at the field, nothing changed.
    data.update(planned_end=local(soon(days=1)))
    response = cm_client.post(url, data)
    assert "planned_end" in response.context["form"].errors
    change.refresh_from_db()
    assert change.planned_end - change.planned_start == datetime.timedelta(hours=3)


def test_a_standard_change_keeps_its_plans(cm_client, change_manager, template, server,
                                          app_ci):
    change = services.change_create_from_template(actor=change_manager, template=template,
                                                  cis=[server], planned_start=soon(days=1))
    url = reverse("changes:edit", kwargs={"pk": change.pk})
    response = cm_client.get(url)
    assert response.context["form"].fields["backout_plan"].disabled
    assert "Restore the snapshot" in response.content.decode()
    response = cm_client.post(url, {
        "title": change.title, "requester": "cm", "priority": "4",
        "backout_plan": "Nothing", "planned_start": local(soon(days=2)),
        "cis": [f"web-01 (CI {server.pk})"]})
    assert response.status_code == 302, response.context["form"].errors
    change.refresh_from_db()
    assert change.backout_plan == "Restore the snapshot"
    assert change.planned_start == soon(days=2).replace(second=0)
    response = cm_client.post(url, {"title": change.title, "requester": "cm", "priority": "4",
                                    "cis": ["payroll-app"]})
    assert response.status_code == 400
    assert "not a class this template allows" in response.context["form"].errors["cis"][0]
    assert list(change.cis.all()) == [server]


def test_a_closed_change_is_not_edited(cm_client, change_manager):
    change = put(normal_change(change_manager), state="closed")
    url = reverse("changes:edit", kwargs={"pk": change.pk})
    assert cm_client.get(url).context["form"] is None
    assert cm_client.post(url, {"title": "x"}).status_code == 400
    change.refresh_from_db()
    assert change.title == "Upgrade the database"


# --- Access -------------------------------------------------------------------------------

def test_the_desk_pages_need_desk_access(client, change_manager, requester):
    change = normal_change(change_manager)
    client.force_login(requester)
    for url in (LIST, CREATE, detail(change), reverse("changes:edit", kwargs={"pk": change.pk})):
        assert client.get(url).status_code == 403
    response = client.post(reverse("changes:transition", kwargs={"pk": change.pk}),
                           {"to_state": "cancelled"})
    assert response.status_code == 403
    change.refresh_from_db()
    assert change.state == "new"


def test_the_navigation_links_the_change_pages(impl_client):
    html = impl_client.get(LIST).content.decode()
    assert f'href="{LIST}"' in html
    assert f'href="{reverse("changes:template_list")}"' in html
