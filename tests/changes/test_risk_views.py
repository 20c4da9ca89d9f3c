"""Desk pages of the risk area: the questionnaire and settings, the risk and review panels
and their forms, the caused-incident buttons, and the change report with its CSV files."""

from __future__ import annotations

import datetime

import pytest
from django.contrib.messages import get_messages
from django.template import RequestContext, Template
from django.test import RequestFactory
from django.urls import reverse
from django.utils import timezone

from changes import review, risk
from changes.models import (
    ChangeResult,
    ChangeReview,
    ChangeSettings,
    ChangeState,
    ChangeType,
    RiskQuestion,
)
from tests.changes.test_risk import (
    agent,
    answer,
    calm,
    ci,
    close_change,
    make_change,
    make_incident,
    manager,
    questions,
    team,
)

__all__ = ["agent", "calm", "manager", "questions", "team"]

START = timezone.now() - datetime.timedelta(days=1)


def url(name, *args):
    return reverse(f"changes:{name}", args=args)


def answers_post(rows):
    data = {"answers-TOTAL_FORMS": str(len(rows)), "answers-INITIAL_FORMS": "0",
            "answers-MIN_NUM_FORMS": "0", "answers-MAX_NUM_FORMS": "1000"}
    for index, row in enumerate(rows):
        for key, value in row.items():
            data[f"answers-{index}-{key}"] = value
    return data


# --- The questionnaire ---------------------------------------------------------------

def test_the_questionnaire_page_for_managers_and_agents(client, manager, agent, questions):
    client.force_login(manager)
    page = client.get(url("risk_questions")).content.decode()
    assert "Was it tested?" in page and "Yes, in staging" in page
    assert url("risk_question_create") in page and url("risk_settings") in page
    client.force_login(agent)
    page = client.get(url("risk_questions")).content.decode()
    assert "Was it tested?" in page
    assert url("risk_question_create") not in page and url("risk_settings") not in page
    assert client.get(url("risk_question_create")).status_code == 403


def test_adding_a_question(client, manager):
    client.force_login(manager)
    assert client.get(url("risk_question_create")).status_code == 200
    response = client.post(url("risk_question_create"), {
        "text": "Is there a backout?", "is_active": "on",
        **answers_post([{"text": "Yes", "weight": "0"}, {"text": "No", "weight": "30"},
                        {"text": "", "weight": ""}])})
    assert response.status_code == 302
    question = RiskQuestion.objects.get()
    assert [(a.text, a.weight) for a in question.answers.all()] == [("Yes", 0), ("No", 30)]


def test_a_question_with_one_answer_is_refused(client, manager):
    client.force_login(manager)
    response = client.post(url("risk_question_create"), {
        "text": "Is there a backout?", **answers_post([{"text": "Yes", "weight": "0"}])})
    assert response.status_code == 400
    assert "A question needs at least two answers." in response.content.decode()
    assert not RiskQuestion.objects.exists()


def test_editing_deactivating_and_moving(client, manager, questions):
    tested, reversible = questions
    client.force_login(manager)
    page = client.get(url("risk_question_edit", tested.pk)).content.decode()
    assert "Yes, in staging" in page
    yes, no = tested.answers.all()
    response = client.post(url("risk_question_edit", tested.pk), {
        "text": "Tested?", "order": "", "is_active": "on",
        **answers_post([{"id": yes.pk, "text": "Yes", "weight": "1"},
                        {"id": no.pk, "text": "No", "weight": "40"}])})
    assert response.status_code == 302
    assert [(a.text, a.weight) for a in tested.answers.all()] == [("Yes", 1), ("No", 40)]
    assert client.post(url("risk_question_active", tested.pk), {"active": "0"}).status_code \
        == 302
    assert not RiskQuestion.objects.get(pk=tested.pk).is_active
    client.post(url("risk_question_move", reversible.pk), {"direction": "up"})
    assert list(RiskQuestion.objects.values_list("pk", flat=True)) == [reversible.pk, tested.pk]


def test_settings_on_the_questionnaire_page(client, manager, agent):
    client.force_login(manager)
    fields = {"moderate_from": "10", "high_from": "20", "very_high_from": "30",
              "failure_rate_days": "60", "caused_incidents_days": "90",
              "review_window_hours": "24", "emergency_retro_hours": "48",
              "conflict_depth": "2"}
    assert client.post(url("risk_settings"), fields).status_code == 302
    assert ChangeSettings.objects.get().very_high_from == 30
    response = client.post(url("risk_settings"), {**fields, "high_from": "5"})
    assert response.status_code == 400
    assert "The thresholds must rise" in response.content.decode()
    assert ChangeSettings.objects.get().high_from == 20
    client.force_login(agent)
    assert client.post(url("risk_settings"), fields).status_code == 403


# --- The risk panel --------------------------------------------------------------------

def render_panels(change, user):
    request = RequestFactory().get("/")
    request.user = user
    return Template("{% load change_risk %}{% risk_panel change request.user %}"
                    "{% review_panel change request.user %}").render(
        RequestContext(request, {"change": change}))


def test_the_risk_panel_shows_factors_and_the_current_answers(manager, questions, calm):
    tested, _ = questions
    change = make_change(manager, outage_expected=True, outage_minutes=30)
    risk.change_assess_risk(actor=manager, change=change, answers=calm)
    change.refresh_from_db()
    html = render_panels(change, manager)
    assert "badge-green" in html and "Low" in html and "10 points" in html
    assert "An outage of 30 minutes is expected." in html
    yes = answer(tested, "Yes, in staging")
    checked = [tag for tag in html.split("<input") if "checked" in tag]
    assert any(f'name="question_{tested.pk}" value="{yes.pk}"' in tag for tag in checked)
    assert url("risk_assess", change.pk) in html and url("risk_preview", change.pk) in html
    assert "The review comes once the change is being implemented." in html


def test_no_form_after_scheduling(manager, questions):
    change = make_change(manager, state=ChangeState.SCHEDULED)
    html = render_panels(change, manager)
    assert url("risk_assess", change.pk) not in html
    assert "not been assessed" in html


def test_assessing_from_the_form(client, agent, manager, questions):
    tested, reversible = questions
    change = make_change(manager)
    client.force_login(agent)
    page = client.get(url("risk_assess", change.pk)).content.decode()
    assert "Was it tested?" in page and "No (20 points)" in page
    response = client.post(url("risk_assess", change.pk), {
        f"question_{tested.pk}": answer(tested, "No").pk,
        f"question_{reversible.pk}": answer(reversible, "No").pk})
    assert response.status_code == 302 and response["Location"] == url("detail", change.pk)
    change.refresh_from_db()
    assert (change.risk, change.risk_score) == ("moderate", 35)


def test_a_missing_answer_comes_back_on_the_form(client, agent, manager, questions):
    tested, _reversible = questions
    change = make_change(manager)
    client.force_login(agent)
    response = client.post(url("risk_assess", change.pk),
                           {f"question_{tested.pk}": answer(tested, "No").pk})
    assert response.status_code == 400
    assert "Answer this question." in response.content.decode()
    change.refresh_from_db()
    assert change.risk == ""


def test_too_late_to_assess(client, agent, manager, calm):
    change = make_change(manager, state=ChangeState.IMPLEMENT)
    client.force_login(agent)
    response = client.post(url("risk_assess", change.pk),
                           {f"question_{q}": a for q, a in calm.items()})
    assert response.status_code == 400
    assert "not when it is implement" in response.content.decode()


def test_the_live_preview(client, agent, manager, questions):
    tested, _ = questions
    change = make_change(manager, type=ChangeType.EMERGENCY)
    client.force_login(agent)
    response = client.post(url("risk_preview", change.pk),
                           {f"question_{tested.pk}": answer(tested, "No").pk},
                           HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert response.status_code == 200
    assert "30 points" in html and "not saved yet" in html
    change.refresh_from_db()
    assert change.risk_score is None


def test_requesters_are_kept_out(client, requester, manager):
    change = make_change(manager)
    client.force_login(requester)
    assert client.get(url("risk_assess", change.pk)).status_code == 403
    assert client.get(url("metrics_report")).status_code == 403


# --- The review panel ------------------------------------------------------------------

@pytest.fixture
def implemented(manager):
    database = ci("db-01", "database")
    change = make_change(manager, state=ChangeState.REVIEW, cis=[database],
                         actual_start=START, actual_end=START + datetime.timedelta(hours=1),
                         result=ChangeResult.SUCCESSFUL)
    return change, database


def test_the_review_panel_with_suggestions(agent, implemented):
    change, database = implemented
    incident = make_incident(agent, title="Database slow", ci=database,
                             created_at=START + datetime.timedelta(minutes=30))
    html = render_panels(change, agent)
    assert url("review_save", change.pk) in html
    assert incident.number in html and "opened during the change window" in html
    assert url("review_mark_caused", change.pk, incident.pk) in html


def test_writing_the_review(client, agent, implemented):
    change, _ = implemented
    client.force_login(agent)
    assert client.get(url("review_save", change.pk)).status_code == 200
    response = client.post(url("review_save", change.pk), {"result": "", "lessons": "x"})
    assert response.status_code == 400
    assert "Choose a result." in response.content.decode()
    response = client.post(url("review_save", change.pk), {
        "result": ChangeResult.BACKED_OUT, "deviations": "Rolled back",
        "lessons": "Test the rollback", "complete": "on"})
    assert response.status_code == 302
    saved = ChangeReview.objects.get(change=change)
    assert saved.completed_at is not None and saved.reviewer == agent
    change.refresh_from_db()
    assert change.result == ChangeResult.BACKED_OUT
    # Completed: agents no longer get the form, and a post is refused.
    assert url("review_save", change.pk) not in render_panels(change, agent)
    assert client.post(url("review_save", change.pk),
                       {"result": "successful"}).status_code == 403


def test_marking_and_unmarking_from_the_panel(client, agent, implemented):
    change, database = implemented
    incident = make_incident(agent, ci=database,
                             created_at=START + datetime.timedelta(minutes=30))
    client.force_login(agent)
    response = client.post(url("review_mark_caused", change.pk, incident.pk))
    assert response.status_code == 302 and response["Location"] == url("detail", change.pk)
    assert list(change.caused_incidents.all()) == [incident]
    html = render_panels(change, agent)
    assert url("review_unmark_caused", change.pk, incident.pk) in html
    response = client.post(url("review_mark_caused", change.pk, incident.pk))
    assert response.status_code == 302
    assert [str(m) for m in get_messages(response.wsgi_request)][-1] == \
        f"{incident.number} is already marked as caused by this change."
    client.post(url("review_unmark_caused", change.pk, incident.pk))
    assert not change.caused_incidents.exists()
    review.change_mark_caused(actor=agent, change=change, incident=incident)
    assert change.caused_incidents.count() == 1


# --- The report ------------------------------------------------------------------------

@pytest.fixture
def seeded(manager, team):
    close_change(manager, team, ChangeResult.SUCCESSFUL)
    close_change(manager, team, ChangeResult.FAILED)
    return make_change(manager, title="Hotfix", type=ChangeType.EMERGENCY,
                       state=ChangeState.IMPLEMENT, actual_start=START,
                       retro_approval_due=START + datetime.timedelta(hours=2))


def test_the_report_page(client, agent, seeded):
    client.force_login(agent)
    response = client.get(url("metrics_report"))
    html = response.content.decode()
    assert response.status_code == 200
    assert "Platform" in html and "50.0 %" in html
    assert seeded.number in html and "Approval overdue" in html
    assert "Last 30 days" in html  # the period picker
    response = client.get(url("metrics_report"), {"from": "2026-05-02", "to": "2026-05-01"})
    assert response.status_code == 400


def test_the_csv_files(client, agent, seeded):
    client.force_login(agent)
    today = timezone.localdate()
    query = {"from": f"{today - datetime.timedelta(days=7):%Y-%m-%d}", "to": f"{today:%Y-%m-%d}"}
    response = client.get(url("metrics_success_csv"), query)
    assert response["Content-Type"].startswith("text/csv")
    lines = b"".join(response.streaming_content).decode().splitlines()
    assert lines[0].startswith("grouping,key,label,successful")
    assert any(line.startswith("team,") and "Platform" in line and line.endswith(",50.0")
               for line in lines)
    response = client.get(url("metrics_emergency_csv"), query)
    lines = b"".join(response.streaming_content).decode().splitlines()
    assert lines[1].startswith(f"{seeded.number},Hotfix,implement")
    assert lines[1].endswith(",yes")
