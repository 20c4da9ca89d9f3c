"""The risk area's API: the questionnaire (CRUD for change managers, read for the desk),
the change actions (risk, review, caused incidents) as mixed into a change viewset, and
the metrics; refusals in the one error shape; the schema documents the actions."""

from __future__ import annotations

import datetime

from django.utils import timezone

from changes.models import ChangeResult, ChangeState, ChangeType, RiskQuestion
from tests.changes.test_risk import (
    agent,
    answer,
    ci,
    close_change,
    make_change,
    make_incident,
    manager,
    questions,
    team,
)

__all__ = ["agent", "manager", "questions", "team"]

API = "/api/v1/changes"
START = timezone.now() - datetime.timedelta(days=1)


# --- The questionnaire ------------------------------------------------------------------

def test_desk_staff_read_the_questionnaire(api, agent, questions):
    api.force_authenticate(agent)
    response = api.get(f"{API}/risk-questions/")
    assert response.status_code == 200
    rows = response.json()["results"]
    assert [row["text"] for row in rows] == ["Was it tested?", "Can it be undone?"]
    assert [(a["text"], a["weight"]) for a in rows[0]["answers"]] == [
        ("Yes, in staging", 0), ("No", 20)]
    response = api.post(f"{API}/risk-questions/", {"text": "x", "answers": []}, format="json")
    assert response.status_code == 403


def test_managers_create_update_and_delete_questions(api, manager):
    api.force_authenticate(manager)
    response = api.post(f"{API}/risk-questions/", {
        "text": "Out of hours?", "answers": [{"text": "Yes", "weight": 0},
                                             {"text": "No", "weight": 10}]}, format="json")
    assert response.status_code == 201, response.json()
    question = response.json()
    assert question["is_active"] is True and len(question["answers"]) == 2
    no = question["answers"][1]
    response = api.patch(f"{API}/risk-questions/{question['id']}/", {
        "is_active": False, "answers": [{"id": no["id"], "text": "No", "weight": 12},
                                        {"text": "Partly", "weight": 6}]}, format="json")
    assert response.status_code == 200, response.json()
    assert response.json()["is_active"] is False
    assert [(a["text"], a["weight"]) for a in response.json()["answers"]] == [
        ("No", 12), ("Partly", 6)]
    assert api.delete(f"{API}/risk-questions/{question['id']}/").status_code == 204
    assert not RiskQuestion.objects.exists()


def test_a_question_with_one_answer_is_a_400_naming_answers(api, manager):
    api.force_authenticate(manager)
    response = api.post(f"{API}/risk-questions/", {
        "text": "Out of hours?", "answers": [{"text": "Yes", "weight": 0}]}, format="json")
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "bad_answers" and "answers" in body["fields"]


# --- A change's risk -------------------------------------------------------------------

def test_assessing_through_the_api(api, agent, manager, questions):
    tested, reversible = questions
    change = make_change(manager, outage_expected=True, outage_minutes=20)
    api.force_authenticate(agent)
    response = api.post(f"{API}/{change.pk}/risk/", {"answers": [
        {"question": tested.pk, "answer": answer(tested, "No").pk},
        {"question": reversible.pk, "answer": answer(reversible, "No").pk}]}, format="json")
    assert response.status_code == 200, response.json()
    body = response.json()
    assert (body["risk"], body["risk_label"], body["risk_score"]) == ("moderate", "Moderate", 45)
    assert {f["key"]: f["points"] for f in body["risk_factors"]}["outage"] == 10
    assert {a["question"] for a in body["answers"]} == {tested.pk, reversible.pk}


def test_a_missing_answer_is_a_400_naming_the_question(api, agent, manager, questions):
    tested, reversible = questions
    change = make_change(manager)
    api.force_authenticate(agent)
    response = api.post(f"{API}/{change.pk}/risk/", {"answers": [
        {"question": tested.pk, "answer": answer(tested, "No").pk}]}, format="json")
    assert response.status_code == 400
    assert list(response.json()["fields"]) == [f"question_{reversible.pk}"]
    response = api.post(f"{API}/{change.pk}/risk/", {"answers": [
        {"question": tested.pk, "answer": answer(tested, "No").pk},
        {"question": tested.pk, "answer": answer(tested, "No").pk}]}, format="json")
    assert response.status_code == 400 and "answers" in response.json()["fields"]


def test_a_closed_change_is_not_assessed(api, agent, manager, questions):
    tested, reversible = questions
    change = make_change(manager, state=ChangeState.CLOSED)
    api.force_authenticate(agent)
    response = api.post(f"{API}/{change.pk}/risk/", {"answers": [
        {"question": tested.pk, "answer": answer(tested, "No").pk},
        {"question": reversible.pk, "answer": answer(reversible, "No").pk}]}, format="json")
    assert response.status_code == 400 and response.json()["code"] == "not_assessable"


# --- Review and caused incidents ---------------------------------------------------------

def test_review_through_the_api(api, agent, manager):
    database = ci("db-01", "database")
    change = make_change(manager, state=ChangeState.REVIEW, cis=[database],
                         actual_start=START, actual_end=START + datetime.timedelta(hours=1))
    api.force_authenticate(agent)
    assert api.get(f"{API}/{change.pk}/review/").status_code == 404
    response = api.put(f"{API}/{change.pk}/review/", {"result": "nope"}, format="json")
    assert response.status_code == 400 and "result" in response.json()["fields"]
    response = api.put(f"{API}/{change.pk}/review/", {
        "result": ChangeResult.FAILED, "deviations": "Broke", "complete": True}, format="json")
    assert response.status_code == 200, response.json()
    body = api.get(f"{API}/{change.pk}/review/").json()
    assert body["result"] == "failed" and body["reviewer"] == agent.pk
    assert body["completed_at"] is not None
    change.refresh_from_db()
    assert change.result == ChangeResult.FAILED
    response = api.put(f"{API}/{change.pk}/review/", {"result": "successful"}, format="json")
    assert response.status_code == 403


def test_caused_suggestions_and_marking(api, agent, manager):
    database = ci("db-01", "database")
    change = make_change(manager, state=ChangeState.REVIEW, cis=[database],
                         actual_start=START, actual_end=START + datetime.timedelta(hours=1))
    incident = make_incident(agent, ci=database,
                             created_at=START + datetime.timedelta(minutes=10))
    api.force_authenticate(agent)
    rows = api.get(f"{API}/{change.pk}/caused-suggestions/").json()
    assert [(row["id"], row["ci"]) for row in rows] == [(incident.pk, database.pk)]
    assert rows[0]["why"].startswith("On db-01")
    response = api.post(f"{API}/{change.pk}/caused-incidents/", {"incident": incident.pk},
                        format="json")
    assert response.status_code == 204
    response = api.post(f"{API}/{change.pk}/caused-incidents/", {"incident": incident.pk},
                        format="json")
    assert response.status_code == 409 and "incident" in response.json()["fields"]
    assert api.get(f"{API}/{change.pk}/caused-suggestions/").json() == []
    assert api.delete(f"{API}/{change.pk}/caused-incidents/{incident.pk}/").status_code == 204
    assert not change.caused_incidents.exists()


# --- Metrics ---------------------------------------------------------------------------

def test_success_metrics(api, agent, manager, team):
    close_change(manager, team, ChangeResult.SUCCESSFUL)
    close_change(manager, team, ChangeResult.WITH_ISSUES)
    close_change(manager, team, ChangeResult.BACKED_OUT)
    api.force_authenticate(agent)
    body = api.get(f"{API}/metrics/success/").json()
    assert body["by"] == "team" and body["time_zone"] == "UTC"
    assert body["results"] == [{
        "key": team.pk, "label": "Platform", "successful": 1, "successful_with_issues": 1,
        "failed": 0, "backed_out": 1, "total": 3, "success_rate": 66.7}]
    assert body["overall"]["total"] == 3
    body = api.get(f"{API}/metrics/success/", {"by": "category"}).json()
    assert body["results"][0]["label"] == "No category"
    response = api.get(f"{API}/metrics/success/", {"by": "priority"})
    assert response.status_code == 400
    response = api.get(f"{API}/metrics/success/", {"from": "2026-02-01", "to": "2026-01-01"})
    assert response.status_code == 400 and "from" in response.json()["fields"]


def test_emergency_metrics(api, agent, manager):
    change = make_change(manager, type=ChangeType.EMERGENCY, state=ChangeState.IMPLEMENT,
                         actual_start=START, retro_approval_due=START)
    api.force_authenticate(agent)
    rows = api.get(f"{API}/metrics/emergency/").json()["results"]
    assert [(r["number"], r["retro_overdue"], r["approved_after_the_fact"]) for r in rows] == [
        (change.number, True, False)]


def test_requesters_have_no_access(api, requester):
    api.force_authenticate(requester)
    assert api.get(f"{API}/metrics/success/").status_code == 403
    assert api.get(f"{API}/risk-questions/").status_code == 403


def test_the_schema_documents_the_actions(api, admin_user):
    api.force_authenticate(admin_user)
    from drf_spectacular.generators import SchemaGenerator

    schema = SchemaGenerator().get_schema(public=True)
    paths = schema["paths"]
    assert "post" in paths["/api/v1/changes/{id}/risk/"]
    assert {"get", "put"} <= set(paths["/api/v1/changes/{id}/review/"])
    assert "get" in paths["/api/v1/changes/{id}/caused-suggestions/"]
    assert "delete" in paths["/api/v1/changes/{id}/caused-incidents/{incident_id}/"]
    assert "get" in paths["/api/v1/changes/metrics/success/"]
    assert "post" in paths["/api/v1/changes/risk-questions/"]
