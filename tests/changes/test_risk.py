"""Risk assessment: the questionnaire and its administration, each computed factor alone
and together, thresholds to levels, the refusals, the audit trail and the query count.

The helpers and fixtures here are shared by the other test modules of the risk area."""

from __future__ import annotations

import datetime

import pytest
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from audit.models import AuditEntry
from changes import risk
from changes.models import (
    Change,
    ChangeResult,
    ChangeRiskAnswer,
    ChangeSettings,
    ChangeState,
    ChangeType,
    RiskAnswer,
    RiskLevel,
    RiskQuestion,
)
from cmdb.models import Relationship
from incidents.models import Incident
from itsm.errors import Conflict, DomainError, NotPermitted
from tests.cmdb.factories import CIFactory, ci_class, rel_type
from tests.factories import TeamFactory, UserFactory
from tickets.models import Activity, ActivityKind
from tickets.services import ticket_create

NOW = timezone.now


# --- Shared helpers and fixtures --------------------------------------------------------

@pytest.fixture
def manager(db):
    return UserFactory(username="chgmgr", roles=["change_manager"])


@pytest.fixture
def agent(db):
    return UserFactory(username="agent1", roles=["service_desk_agent"])


@pytest.fixture
def team(db):
    return TeamFactory(name="Platform")


def make_change(actor, *, title="Patch the database", type=ChangeType.NORMAL, state=None,
                cis=(), services=(), **fields):
    """A change written with the ticket services, then fields set directly (the change
    services land with the lead's work)."""
    change = ticket_create(model=Change, actor=actor, title=title, type=type)
    if state is not None:
        fields["state"] = state
    if fields:
        Change.objects.filter(pk=change.pk).update(**fields)
        change.refresh_from_db()
    if cis:
        change.cis.set(cis)
    if services:
        change.services.set(services)
    return change


def make_incident(actor, *, title="Database slow", **fields):
    incident = ticket_create(model=Incident, actor=actor, title=title)
    if fields:
        Incident.objects.filter(pk=incident.pk).update(**fields)
        incident.refresh_from_db()
    return incident


def ci(name, klass="application", criticality=3, **fields):
    return CIFactory(name=name, ci_class=ci_class(klass), criticality=criticality, **fields)


def depends(source, target, kind="depends_on"):
    return Relationship.objects.create(source=source, target=target, type=rel_type(kind))


def questionnaire(manager):
    """Two questions: tested? (0 / 20 points), reversible? (0 / 15 points)."""
    tested = risk.risk_question_create(actor=manager, text="Was it tested?", answers=[
        {"text": "Yes, in staging", "weight": 0}, {"text": "No", "weight": 20}])
    reversible = risk.risk_question_create(actor=manager, text="Can it be undone?", answers=[
        {"text": "Yes, quickly", "weight": 0}, {"text": "No", "weight": 15}])
    return tested, reversible


def answer(question, text):
    return question.answers.get(text=text)


def answers_for(*pairs):
    return {question.pk: answer(question, text).pk for question, text in pairs}


def factor(change_or_factors, key):
    factors = change_or_factors if isinstance(change_or_factors, list) else \
        change_or_factors.risk_factors
    found = [f for f in factors if (f["key"] if isinstance(f, dict) else f.key) == key]
    assert found, key
    return found[0] if isinstance(found[0], dict) else found[0].as_dict()


def close_change(actor, team, result, *, days_ago=1, **fields):
    return make_change(actor, title=f"Closed {result}", state=ChangeState.CLOSED,
                       result=result, assignment_group=team,
                       closed_at=NOW() - datetime.timedelta(days=days_ago), **fields)


@pytest.fixture
def questions(manager):
    return questionnaire(manager)


@pytest.fixture
def calm(questions):
    """The answers worth no points."""
    tested, reversible = questions
    return answers_for((tested, "Yes, in staging"), (reversible, "Yes, quickly"))


# --- Questionnaire administration --------------------------------------------------------

def test_a_question_is_created_with_its_weighted_answers_and_audited(manager):
    question = risk.risk_question_create(actor=manager, text="Tested?", help_text="Where",
                                         answers=[{"text": "Yes", "weight": 0},
                                                  {"text": "No", "weight": 30},
                                                  {"text": "", "weight": 5}])
    assert [(a.text, a.weight) for a in question.answers.all()] == [("Yes", 0), ("No", 30)]
    entry = AuditEntry.objects.get(action="create", object_id=str(question.pk),
                                   content_type=ContentType.objects.get_for_model(RiskQuestion))
    assert entry.changes["answers"] == [None, ["Yes (0)", "No (30)"]]
    assert entry.changes["text"] == [None, "Tested?"]


def test_a_question_needs_two_answers_and_weights_in_range(manager):
    with pytest.raises(DomainError) as error:
        risk.risk_question_create(actor=manager, text="Tested?",
                                  answers=[{"text": "Yes", "weight": 0}])
    assert "answers" in error.value.fields
    with pytest.raises(DomainError) as error:
        risk.risk_question_create(actor=manager, text="Tested?", answers=[
            {"text": "Yes", "weight": 0}, {"text": "No", "weight": 101}])
    assert "answers" in error.value.fields
    with pytest.raises(DomainError) as error:
        risk.risk_question_create(actor=manager, text="", answers=[
            {"text": "Yes", "weight": 0}, {"text": "No", "weight": 1}])
    assert "text" in error.value.fields
    assert not RiskQuestion.objects.exists()


def test_only_change_managers_edit_the_questionnaire(agent, manager):
    with pytest.raises(NotPermitted):
        risk.risk_question_create(actor=agent, text="Tested?", answers=[
            {"text": "Yes", "weight": 0}, {"text": "No", "weight": 1}])
    question = risk.risk_question_create(actor=manager, text="Tested?", answers=[
        {"text": "Yes", "weight": 0}, {"text": "No", "weight": 1}])
    with pytest.raises(NotPermitted):
        risk.risk_question_update(actor=agent, question=question, is_active=False)


def test_updating_answers_edits_adds_and_removes(manager, questions):
    tested, _ = questions
    yes = answer(tested, "Yes, in staging")
    risk.risk_question_update(actor=manager, question=tested, text="Tested where?", answers=[
        {"id": yes.pk, "text": "In staging", "weight": 2},
        {"text": "In production only", "weight": 25}])
    tested.refresh_from_db()
    assert tested.text == "Tested where?"
    assert [(a.pk == yes.pk, a.text, a.weight) for a in tested.answers.all()] == [
        (True, "In staging", 2), (False, "In production only", 25)]
    entry = AuditEntry.objects.filter(action="update", object_id=str(tested.pk)).latest("id")
    assert entry.changes["answers"][1] == ["In staging (2)", "In production only (25)"]


def test_an_answer_given_in_an_assessment_cannot_be_removed(manager, questions, calm):
    tested, _ = questions
    change = make_change(manager)
    risk.change_assess_risk(actor=manager, change=change, answers=calm)
    no = answer(tested, "No")
    with pytest.raises(Conflict):
        risk.risk_question_update(actor=manager, question=tested, answers=[
            {"id": no.pk, "text": "No", "weight": 20}, {"text": "Maybe", "weight": 5}])
    with pytest.raises(Conflict):
        risk.risk_question_delete(actor=manager, question=tested)
    assert tested.answers.count() == 2


def test_deactivated_questions_are_not_asked(manager, questions):
    tested, reversible = questions
    risk.risk_question_update(actor=manager, question=reversible, is_active=False)
    assert [q.pk for q in risk.active_questions()] == [tested.pk]


def test_reordering_questions(manager, questions):
    tested, reversible = questions
    risk.risk_question_move(actor=manager, question=reversible, up=True)
    assert list(RiskQuestion.objects.values_list("pk", flat=True)) == [reversible.pk, tested.pk]
    risk.risk_questions_reorder(actor=manager, ids=[tested.pk])
    assert list(RiskQuestion.objects.values_list("pk", flat=True)) == [tested.pk, reversible.pk]


def test_settings_thresholds_must_rise(manager, agent):
    with pytest.raises(DomainError) as error:
        risk.change_settings_update(actor=manager, moderate_from=50, high_from=40)
    assert "high_from" in error.value.fields
    assert not ChangeSettings.objects.exists()
    with pytest.raises(NotPermitted):
        risk.change_settings_update(actor=agent, moderate_from=10)
    settings = risk.change_settings_update(actor=manager, moderate_from=10, high_from=20,
                                           very_high_from=30, failure_rate_days=30)
    assert ChangeSettings.objects.get().high_from == 20
    entries = AuditEntry.objects.filter(
        object_id=str(settings.pk), content_type=ContentType.objects.get_for_model(settings))
    assert entries.get(action="create").changes["moderate_from"] == [None, 10]
    risk.change_settings_update(actor=manager, failure_rate_days=60)
    assert ChangeSettings.objects.count() == 1
    assert entries.get(action="update").changes == {"failure_rate_days": [30, 60]}


# --- The questionnaire in an assessment -----------------------------------------------

def test_questionnaire_weights_are_the_points_with_nothing_else(manager, questions):
    tested, reversible = questions
    change = make_change(manager)
    change = risk.change_assess_risk(actor=manager, change=change, answers=answers_for(
        (tested, "No"), (reversible, "No")))
    assert change.risk_score == 35
    assert change.risk == RiskLevel.MODERATE  # default thresholds 25 / 50 / 75
    assert factor(change, f"question_{tested.pk}") == {
        "key": f"question_{tested.pk}", "label": "Was it tested?", "points": 20,
        "detail": "No"}
    assert {f["key"] for f in change.risk_factors} >= {
        "criticality", "users", "outage", "failure_rate", "caused_incidents", "emergency"}
    assert change.risk_assessed_at is not None
    assert dict(ChangeRiskAnswer.objects.filter(change=change).values_list(
        "question_id", "answer__text")) == {tested.pk: "No", reversible.pk: "No"}


def test_every_active_question_must_be_answered(manager, questions):
    tested, reversible = questions
    change = make_change(manager)
    with pytest.raises(DomainError) as error:
        risk.change_assess_risk(actor=manager, change=change,
                                answers=answers_for((tested, "No")))
    assert list(error.value.fields) == [f"question_{reversible.pk}"]
    change.refresh_from_db()
    assert change.risk == "" and change.risk_score is None


def test_an_answer_of_another_question_is_refused(manager, questions):
    tested, reversible = questions
    change = make_change(manager)
    with pytest.raises(DomainError) as error:
        risk.change_assess_risk(actor=manager, change=change, answers={
            tested.pk: answer(reversible, "No").pk,
            reversible.pk: answer(reversible, "No").pk})
    assert list(error.value.fields) == [f"question_{tested.pk}"]
    assert not ChangeRiskAnswer.objects.exists()


def test_answers_are_replaced_on_reassessment(manager, questions):
    tested, reversible = questions
    change = make_change(manager)
    risk.change_assess_risk(actor=manager, change=change, answers=answers_for(
        (tested, "No"), (reversible, "No")))
    change = risk.change_assess_risk(actor=manager, change=change, answers=answers_for(
        (tested, "Yes, in staging"), (reversible, "No")))
    assert change.risk_score == 15 and change.risk == RiskLevel.LOW
    assert ChangeRiskAnswer.objects.filter(change=change).count() == 2
    assert risk.stored_answers(change) == answers_for(
        (tested, "Yes, in staging"), (reversible, "No"))


# --- Each computed factor alone -----------------------------------------------------------

def test_criticality_found_up_the_impact_chain(manager, calm):
    database = ci("db-01", "database", criticality=3)
    app = ci("erp-app", criticality=2)
    service = ci("ERP", "business_service", criticality=1)
    depends(app, database)
    depends(service, app)
    change = make_change(manager, cis=[database])
    change = risk.change_assess_risk(actor=manager, change=change, answers=calm)
    critical = factor(change, "criticality")
    assert critical["points"] == risk.CRITICALITY_POINTS[1]
    assert "ERP" in critical["detail"] and "db-01" in critical["detail"]
    assert change.risk_score == critical["points"]


def test_criticality_of_the_ci_itself_and_beyond_depth_three(manager, calm):
    database = ci("db-01", "database", criticality=4)
    chain = [database]
    for name in ("a1", "a2", "a3"):
        chain.append(ci(name, criticality=4))
        depends(chain[-1], chain[-2])
    far = ci("Far away", "business_service", criticality=1)
    depends(far, chain[-1])  # four links up: beyond the walk
    change = make_change(manager, cis=[database])
    factors = risk.risk_factors(change, calm)
    assert factor(factors, "criticality")["points"] == 0
    assert "db-01" in factor(factors, "criticality")["detail"]
    Change.objects.filter(pk=change.pk)  # nothing written by risk_factors
    assert Change.objects.get(pk=change.pk).risk_score is None


def test_users_behind_business_services(manager, calm):
    database = ci("db-01", "database", criticality=4)
    app = ci("erp-app", criticality=4)
    erp = ci("ERP", "business_service", criticality=4, attributes={"users": 800})
    mail = ci("Mail", "business_service", criticality=4, attributes={"users": 450})
    depends(app, database)
    depends(erp, app)
    change = make_change(manager, cis=[database], services=[mail])
    users = factor(risk.risk_factors(change, calm), "users")
    assert users["points"] == 15  # 1,250 users: 1,000 to 9,999
    assert "1250 users of 2 business services" in users["detail"]
    assert "ERP (800)" in users["detail"] and "Mail (450)" in users["detail"]


@pytest.mark.parametrize(("users", "points"), [(0, 0), (5, 5), (100, 10), (20000, 20)])
def test_user_bands(manager, calm, users, points):
    service = ci("Shop", "business_service", criticality=4, attributes={"users": users})
    change = make_change(manager, services=[service])
    assert factor(risk.risk_factors(change, calm), "users")["points"] == points


@pytest.mark.parametrize(("expected", "minutes", "points"), [
    (False, None, 0), (True, None, 10), (True, 10, 5), (True, 30, 10), (True, 120, 15),
    (True, 600, 20)])
def test_outage_expected(manager, calm, expected, minutes, points):
    change = make_change(manager, outage_expected=expected, outage_minutes=minutes)
    outage = factor(risk.risk_factors(change, calm), "outage")
    assert outage["points"] == points
    if minutes:
        assert str(minutes) in outage["detail"]


def test_failure_rate_needs_three_changes(manager, calm, team):
    close_change(manager, team, ChangeResult.FAILED)
    close_change(manager, team, ChangeResult.BACKED_OUT)
    change = make_change(manager, assignment_group=team)
    rate = factor(risk.risk_factors(change, calm), "failure_rate")
    assert rate["points"] == 0
    assert rate["detail"].startswith("Not enough history: 2 changes")


def test_failure_rate_of_the_team(manager, calm, team):
    close_change(manager, team, ChangeResult.FAILED)
    close_change(manager, team, ChangeResult.BACKED_OUT)
    close_change(manager, team, ChangeResult.SUCCESSFUL)
    close_change(manager, team, ChangeResult.WITH_ISSUES)
    close_change(manager, team, ChangeResult.FAILED, days_ago=200)  # outside 90 days
    close_change(manager, TeamFactory(), ChangeResult.FAILED)  # another team
    make_change(manager, assignment_group=team, state=ChangeState.CANCELLED)
    change = make_change(manager, assignment_group=team)
    rate = factor(risk.risk_factors(change, calm), "failure_rate")
    assert rate["points"] == 20  # 2 of 4 = 50 %
    assert rate["detail"].startswith("2 of 4 changes failed or were backed out")


def test_failure_rate_of_the_category(manager, calm, team):
    from changes.models import ChangeCategory

    network, other = (ChangeCategory.objects.get(name="Network"),
                      ChangeCategory.objects.get(name="Database"))
    for result in (ChangeResult.FAILED, ChangeResult.SUCCESSFUL, ChangeResult.SUCCESSFUL,
                   ChangeResult.SUCCESSFUL):
        close_change(manager, TeamFactory(), result, category=network)
    close_change(manager, team, ChangeResult.FAILED, category=other)
    change = make_change(manager, category=network)
    rate = factor(risk.risk_factors(change, calm), "category_failure_rate")
    assert rate["points"] == 15  # 1 of 4 = 25 %
    assert rate["detail"].startswith("1 of 4 changes failed")
    assert factor(risk.risk_factors(make_change(manager), calm),
                  "category_failure_rate")["detail"] == "No category is set."


def test_no_team_no_failure_rate(manager, calm):
    change = make_change(manager)
    assert factor(risk.risk_factors(change, calm), "failure_rate")["points"] == 0


def test_earlier_changes_that_caused_incidents(manager, calm):
    database, other = ci("db-01", "database", criticality=4), ci("other", criticality=4)
    earlier = make_change(manager, title="Earlier", cis=[database], state=ChangeState.CLOSED,
                          actual_start=NOW() - datetime.timedelta(days=10))
    earlier.caused_incidents.add(make_incident(manager), make_incident(manager))
    old = make_change(manager, title="Old", cis=[database], state=ChangeState.CLOSED,
                      actual_start=NOW() - datetime.timedelta(days=400))
    old.caused_incidents.add(make_incident(manager))
    elsewhere = make_change(manager, title="Elsewhere", cis=[other],
                            state=ChangeState.CLOSED)
    elsewhere.caused_incidents.add(make_incident(manager))
    make_change(manager, title="Clean", cis=[database], state=ChangeState.CLOSED)
    change = make_change(manager, cis=[database])
    caused = factor(risk.risk_factors(change, calm), "caused_incidents")
    assert caused["points"] == risk.CAUSED_POINTS_EACH
    assert f"{earlier.number} (2 incidents)" in caused["detail"]
    assert old.number not in caused["detail"] and elsewhere.number not in caused["detail"]


def test_emergency_adds_points(manager, calm):
    change = make_change(manager, type=ChangeType.EMERGENCY)
    assert factor(risk.risk_factors(change, calm), "emergency")["points"] == \
        risk.EMERGENCY_POINTS
    assert factor(risk.risk_factors(make_change(manager), calm), "emergency")["points"] == 0


def test_all_factors_together(manager, questions, team):
    tested, reversible = questions
    database = ci("db-01", "database", criticality=3)
    service = ci("ERP", "business_service", criticality=1, attributes={"users": 5000})
    depends(service, database)
    for result in (ChangeResult.FAILED, ChangeResult.SUCCESSFUL, ChangeResult.SUCCESSFUL):
        close_change(manager, team, result)
    earlier = make_change(manager, cis=[database], state=ChangeState.CLOSED)
    earlier.caused_incidents.add(make_incident(manager))
    change = make_change(manager, type=ChangeType.EMERGENCY, cis=[database],
                         assignment_group=team, outage_expected=True, outage_minutes=90)
    change = risk.change_assess_risk(actor=manager, change=change, answers=answers_for(
        (tested, "No"), (reversible, "Yes, quickly")))
    points = {f["key"]: f["points"] for f in change.risk_factors}
    assert points == {f"question_{tested.pk}": 20, f"question_{reversible.pk}": 0,
                      "criticality": 25, "users": 15, "outage": 15, "failure_rate": 15,
                      "caused_incidents": 10, "emergency": 10, "category_failure_rate": 0}
    assert change.risk_score == 110
    assert change.risk == RiskLevel.VERY_HIGH


@pytest.mark.parametrize(("score", "level"), [
    (0, RiskLevel.LOW), (9, RiskLevel.LOW), (10, RiskLevel.MODERATE),
    (19, RiskLevel.MODERATE), (20, RiskLevel.HIGH), (30, RiskLevel.VERY_HIGH)])
def test_thresholds_decide_the_level(manager, score, level):
    risk.change_settings_update(actor=manager, moderate_from=10, high_from=20,
                                very_high_from=30)
    assert risk.risk_level(score) == level


def test_settings_thresholds_apply_to_an_assessment(manager, questions):
    tested, reversible = questions
    risk.change_settings_update(actor=manager, moderate_from=5, high_from=10,
                                very_high_from=20)
    change = risk.change_assess_risk(actor=manager, change=make_change(manager),
                                     answers=answers_for((tested, "No"),
                                                         (reversible, "Yes, quickly")))
    assert (change.risk_score, change.risk) == (20, RiskLevel.VERY_HIGH)


def test_the_score_is_capped(manager):
    question = risk.risk_question_create(actor=manager, text="Q", answers=[
        {"text": "Lots", "weight": 100}, {"text": "None", "weight": 0}])
    # Many heavy questions: more than a small integer column holds.
    RiskQuestion.objects.bulk_create(RiskQuestion(text=f"Q{n}") for n in range(330))
    RiskAnswer.objects.bulk_create(
        [RiskAnswer(question=q, text=text, weight=weight)
         for q in RiskQuestion.objects.exclude(pk=question.pk)
         for text, weight in (("Lots", 100), ("None", 0))])
    answers = {q.pk: q.answers.get(text="Lots").pk for q in RiskQuestion.objects.all()}
    change = risk.change_assess_risk(actor=manager, change=make_change(manager),
                                     answers=answers)
    assert change.risk_score == risk.MAX_SCORE


# --- Refusals, audit, timeline ---------------------------------------------------------

@pytest.mark.parametrize("state", [ChangeState.SCHEDULED, ChangeState.IMPLEMENT,
                                   ChangeState.REVIEW, ChangeState.CLOSED,
                                   ChangeState.CANCELLED])
def test_only_open_changes_before_scheduling_are_assessed(manager, calm, state):
    change = make_change(manager, state=state)
    with pytest.raises(DomainError) as error:
        risk.change_assess_risk(actor=manager, change=change, answers=calm)
    assert error.value.code == "not_assessable"


@pytest.mark.parametrize("state", [ChangeState.NEW, ChangeState.ASSESS,
                                   ChangeState.AUTHORIZE])
def test_assessable_states(manager, calm, state):
    change = make_change(manager, state=state)
    assert risk.change_assess_risk(actor=manager, change=change, answers=calm).risk


def test_desk_access_is_needed(manager, calm, requester):
    change = make_change(manager)
    with pytest.raises(NotPermitted):
        risk.change_assess_risk(actor=requester, change=change, answers=calm)


def test_assessment_is_audited_with_a_work_note(manager, questions, agent):
    tested, reversible = questions
    change = make_change(manager)
    risk.change_assess_risk(actor=agent, change=change, answers=answers_for(
        (tested, "No"), (reversible, "No")))
    entry = AuditEntry.objects.get(message="Risk assessed", object_id=str(change.pk))
    assert entry.changes == {"risk": ["", "moderate"], "risk_score": [None, 35]}
    assert entry.actor_id == agent.pk
    note = Activity.objects.filter(object_id=change.pk, kind=ActivityKind.WORK_NOTE,
                                   content_type=ContentType.objects.get_for_model(Change)).get()
    assert note.body.startswith("Risk assessed: Moderate, 35 points")
    assert not note.public


def test_preview_writes_nothing(manager, questions):
    tested, _reversible = questions
    change = make_change(manager)
    preview = risk.risk_preview(change, {tested.pk: answer(tested, "No").pk})
    assert preview["score"] == 20 and preview["level"] == RiskLevel.LOW
    change.refresh_from_db()
    assert change.risk_score is None and not ChangeRiskAnswer.objects.exists()
    assert not AuditEntry.objects.filter(message="Risk assessed").exists()


def test_the_query_count_does_not_follow_the_graph(manager, calm, team,
                                                   django_assert_max_num_queries):
    def build(width):
        database = ci(f"db-{width}", "database")
        apps = [ci(f"app-{width}-{n}") for n in range(width)]
        for app in apps:
            depends(app, database)
            service = ci(f"svc-{width}-{app.pk}", "business_service",
                         attributes={"users": 10})
            depends(service, app)
        return make_change(manager, cis=[database], assignment_group=team)

    counts = []
    for width in (1, 12):
        change = build(width)
        with CaptureQueriesContext(connection) as queries:
            risk.change_assess_risk(actor=manager, change=change, answers=calm)
        counts.append(len(queries))
    assert counts[0] == counts[1]
    # One more affected CI costs its impact walk, nothing more.
    change = build(3)
    change.cis.add(ci("extra", "server"))
    with CaptureQueriesContext(connection) as queries:
        risk.change_assess_risk(actor=manager, change=change, answers=calm)
    assert len(queries) <= counts[0] + 6
    assert counts[0] <= 30, counts
