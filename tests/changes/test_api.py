"""The change API over real HTTP: the record, its moves, the catalogue and the pipeline
flow (open from a template with a token, wait, start, report the result)."""

import time

import pytest
from django.test import Client

from accounts.services import api_token_create
from changes import services
from changes.models import Change, ChangeTemplateVersion

from .conftest import normal_change, soon


@pytest.fixture
def api(client, change_manager):
    client.force_login(change_manager)
    return client


def test_create_a_normal_change_and_read_it_back(api, server):
    response = api.post("/api/v1/changes/", {
        "title": "Move payroll DB to new storage", "type": "normal",
        "justification": "Array end of life", "backout_plan": "Fail back",
        "cis": [server.pk], "planned_start": soon(days=3).isoformat(),
        "planned_end": soon(days=3, hours=2).isoformat(), "outage_expected": True,
        "outage_minutes": 20}, content_type="application/json")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["number"].startswith("CHG") and body["state"] == "new"
    assert body["cis"] == [server.pk] and body["outage_minutes"] == 20
    assert {"to_state": "assess", "label": "Submit for assessment"} in body["transitions"]
    change = Change.objects.get(pk=body["id"])
    assert change.justification == "Array end of life"


def test_bad_input_names_the_field_and_writes_nothing(api):
    response = api.post("/api/v1/changes/", {
        "title": "Backwards", "planned_start": soon(days=3).isoformat(),
        "planned_end": soon(days=2).isoformat()}, content_type="application/json")
    assert response.status_code == 400
    assert "planned_end" in response.json()["fields"]
    response = api.post("/api/v1/changes/", {"title": "Std", "type": "standard"},
                        content_type="application/json")
    assert response.status_code == 400 and "type" in response.json()["fields"]
    assert not Change.objects.exists()


def test_a_guard_refusal_is_a_400_naming_the_field(api, change_manager):
    change = normal_change(change_manager, backout_plan="")
    Change.objects.filter(pk=change.pk).update(state="authorize", risk="low",
                                               authorized_at=soon())
    response = api.post(f"/api/v1/changes/{change.pk}/transition/",
                        {"to_state": "scheduled"}, content_type="application/json")
    assert response.status_code == 400
    assert response.json()["fields"]["backout_plan"] == [
        "A backout plan is required to schedule."]
    change.refresh_from_db()
    assert change.state == "authorize"


def test_the_desk_only_reads_changes(client, requester, change_manager):
    normal_change(change_manager)
    client.force_login(requester)
    assert client.get("/api/v1/changes/").status_code == 403


def test_list_is_bounded_in_queries(api, change_manager, server, django_assert_max_num_queries):
    for index in range(8):
        change = normal_change(change_manager, title=f"Change {index}")
        change.cis.add(server)
    with django_assert_max_num_queries(12):
        body = api.get("/api/v1/changes/").json()
    assert len(body["results"]) == 8


# --- The pipeline flow ----------------------------------------------------------------

def test_a_pipeline_opens_a_standard_change_waits_and_reports(change_manager, template,
                                                              server):
    _row, token = api_token_create(actor=change_manager, user=change_manager, name="ci")
    pipeline = Client(HTTP_AUTHORIZATION=f"Bearer {token}")
    response = pipeline.post(f"/api/v1/changes/templates/{template.pk}/use/", {
        "cis": [server.pk], "planned_start": soon(minutes=-1).isoformat(),
        "justification": "Release 5.4.1", "schedule": True}, content_type="application/json")
    assert response.status_code == 201, response.json()
    change = response.json()
    assert change["type"] == "standard" and change["state"] == "scheduled"
    started = time.monotonic()
    waited = pipeline.get(f"/api/v1/changes/{change['id']}/wait/?timeout=5").json()
    assert waited["state"] == "scheduled" and time.monotonic() - started < 2
    response = pipeline.post(f"/api/v1/changes/{change['id']}/result/",
                             {"result": "successful", "note": "Run 4812 green"},
                             content_type="application/json")
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["state"] == "review" and body["result"] == "successful"
    assert body["actual_start"] and body["actual_end"]


def test_waiting_on_an_undecided_change_returns_it_after_the_timeout(api, change_manager):
    change = normal_change(change_manager)
    started = time.monotonic()
    body = api.get(f"/api/v1/changes/{change.pk}/wait/?timeout=1").json()
    assert body["state"] == "new" and 0.9 <= time.monotonic() - started < 5
    response = api.get(f"/api/v1/changes/{change.pk}/wait/?timeout=90")
    assert response.status_code == 400 and "timeout" in response.json()["fields"]


def test_a_pipeline_cannot_start_before_the_planned_start(api, template, server):
    change = api.post(f"/api/v1/changes/templates/{template.pk}/use/", {
        "cis": [server.pk], "planned_start": soon(hours=5).isoformat(), "schedule": True},
        content_type="application/json").json()
    response = api.post(f"/api/v1/changes/{change['id']}/result/", {"result": "failed"},
                        content_type="application/json")
    assert response.status_code == 400 and "planned_start" in response.json()["fields"]
    assert Change.objects.get(pk=change["id"]).state == "scheduled"
    response = api.post(f"/api/v1/changes/{change['id']}/result/", {"result": "great"},
                        content_type="application/json")
    assert response.status_code == 400 and "result" in response.json()["fields"]


def test_a_retired_template_or_a_disallowed_class_is_refused(api, change_manager, template,
                                                             app_ci):
    response = api.post(f"/api/v1/changes/templates/{template.pk}/use/",
                        {"cis": [app_ci.pk]}, content_type="application/json")
    assert response.status_code == 400 and "cis" in response.json()["fields"]
    services.template_version_retire(actor=change_manager,
                                     version=services.template_current_version(template))
    response = api.post(f"/api/v1/changes/templates/{template.pk}/use/", {},
                        content_type="application/json")
    assert response.status_code == 400 and response.json()["code"] == "template_not_approved"
    assert not Change.objects.exists()


# --- The catalogue --------------------------------------------------------------------

def test_change_managers_version_templates_through_the_api(api, client, template,
                                                           implementer):
    body = api.get(f"/api/v1/changes/templates/{template.pk}/").json()
    current = body["current_version"]
    assert body["versions"][0]["allowed_ci_classes"] == ["server"]
    draft = api.post(f"/api/v1/changes/template-versions/{current}/new-version/").json()
    assert draft["version"] == 2 and draft["status"] == "draft"
    response = api.patch(f"/api/v1/changes/template-versions/{draft['id']}/",
                         {"expected_minutes": 0}, content_type="application/json")
    assert response.status_code == 400 and "expected_minutes" in response.json()["fields"]
    api.patch(f"/api/v1/changes/template-versions/{draft['id']}/",
              {"title": "Patch (v2)"}, content_type="application/json")
    approved = api.post(f"/api/v1/changes/template-versions/{draft['id']}/approve/").json()
    assert approved["status"] == "approved"
    assert ChangeTemplateVersion.objects.get(pk=current).status == "retired"
    client.force_login(implementer)
    response = client.post(f"/api/v1/changes/template-versions/{draft['id']}/retire/")
    assert response.status_code == 403


def test_the_schema_documents_the_pipeline_flow(client, db):
    schema = client.get("/api/schema/?format=json").json()
    use = schema["paths"]["/api/v1/changes/templates/{id}/use/"]["post"]
    assert "wait" in use["description"]
    assert use["requestBody"]["content"]["application/json"]["examples"]
    assert "/api/v1/changes/{id}/wait/" in schema["paths"]


def test_the_list_filters_as_the_desk_does(api, change_manager, server):
    web = normal_change(change_manager, title="Patch the web tier", cis=[server])
    fire = normal_change(change_manager, title="Hotfix", type="emergency")
    body = api.get("/api/v1/changes/?type=emergency").json()
    assert [row["number"] for row in body["results"]] == [fire.number]
    body = api.get(f"/api/v1/changes/?ci={server.pk}").json()
    assert [row["number"] for row in body["results"]] == [web.number]
    body = api.get("/api/v1/changes/?q=web tier&queue=open").json()
    assert [row["number"] for row in body["results"]] == [web.number]


def test_a_pipeline_takes_a_normal_change_through_approval(api, change_manager, implementer):
    from changes.approvals import policy_create
    from changes.models import RiskQuestion

    policy_create(actor=change_manager, name="Low", change_types=["normal"], rule="any",
                  people=[change_manager])
    # Given a normal change opened and assessed by the pipeline's account
    client = Client()
    client.force_login(implementer)
    change = client.post("/api/v1/changes/", {
        "title": "Deploy 7.2", "backout_plan": "Roll back to 7.1",
        "planned_start": soon(minutes=-5).isoformat(),
        "planned_end": soon(hours=1).isoformat()}, content_type="application/json").json()
    assert not RiskQuestion.objects.exists()  # the computed factors alone decide
    client.post(f"/api/v1/changes/{change['id']}/transition/", {"to_state": "assess"},
                content_type="application/json")
    assessed = client.post(f"/api/v1/changes/{change['id']}/risk/", {"answers": []},
                           content_type="application/json")
    assert assessed.status_code == 200, assessed.json()
    moved = client.post(f"/api/v1/changes/{change['id']}/transition/",
                        {"to_state": "authorize"}, content_type="application/json").json()
    assert moved["state"] == "authorize" and moved["approval"]["pending"] == 1
    # When the approver approves through the API
    task = api.get("/api/v1/changes/approvals/").json()["results"][0]
    response = api.post(f"/api/v1/changes/approvals/{task['id']}/approve/", {},
                        content_type="application/json")
    assert response.status_code == 200, response.json()
    # Then the pipeline's wait answers at once: approved and scheduled
    waited = client.get(f"/api/v1/changes/{change['id']}/wait/?timeout=5").json()
    assert waited["state"] == "scheduled"
    assert waited["approval"]["state"] == "approved" and waited["approval"]["approved"] == 1
    done = client.post(f"/api/v1/changes/{change['id']}/result/", {"result": "successful"},
                       content_type="application/json").json()
    assert done["state"] == "review"


def test_wait_answers_at_once_when_approvers_ask_for_information(api, change_manager,
                                                                 implementer):
    from changes.approvals import policy_create

    policy_create(actor=change_manager, name="Any", change_types=["normal"], rule="any",
                  people=[change_manager])
    change = normal_change(implementer, requester=implementer)
    Change.objects.filter(pk=change.pk).update(state="assess", risk="low")
    change.refresh_from_db()
    services.change_transition(actor=implementer, change=change, to_state="authorize")
    task = api.get("/api/v1/changes/approvals/").json()["results"][0]
    api.post(f"/api/v1/changes/approvals/{task['id']}/request-info/",
             {"comment": "Which release?"}, content_type="application/json")
    client = Client()
    client.force_login(implementer)
    started = time.monotonic()
    waited = client.get(f"/api/v1/changes/{change.pk}/wait/?timeout=5").json()
    assert time.monotonic() - started < 2
    assert waited["state"] == "authorize" and waited["approval"]["state"] == "info_requested"
