"""Fix everywhere: a run under a problem. Its targets are the devices behind the problem
(its linked incidents' CIs and services, its own CIs and services), a read-only action runs
under the open problem alone, anything else needs an approved change (the run is still
recorded on the problem), and the summary reaches the problem's timeline."""

from __future__ import annotations

import pytest
from django.urls import reverse

from cmdb.models import Relationship
from fleet.models import Job
from incidents.models import Incident
from itsm.errors import DomainError
from problems import services as problem_services
from problems.models import Problem
from remediation import runs
from remediation import targets as targeting
from remediation.authority import Authority
from remediation.models import Execution, Run
from tests.cmdb.factories import rel_type
from tests.factories import UserFactory
from tickets.services import ticket_create

from .conftest import approve, make_device
from .test_api import client_for
from .test_runs import answer


@pytest.fixture
def problem_manager(db):
    return UserFactory(username="pm", roles=["problem_manager"])


@pytest.fixture
def problem(fleet, incident, agent_hand, problem_manager):
    """A problem behind two incidents (the DNS service's, a lone laptop's) and its own
    DNS cache server: the ten laptops of the service, the lone laptop, the cache server."""
    lone = make_device("lap-lone")
    cache = make_device("dns-cache-01", cls="server")
    make_device("unrelated-01")  # behind nothing of the problem's
    second = ticket_create(model=Incident, actor=agent_hand, title="DNS fails on lap-lone",
                           ci=lone.device)
    return problem_services.problem_create(
        actor=problem_manager, title="DNS cache poisoned after the resolver update",
        cis=[cache.device], incidents=[incident, second])


@pytest.fixture
def check(operator, approver):
    return approve(operator, approver, name="dns-check", builtin="health_check",
                   read_only=True)


def names(devices):
    return sorted(ci.name for ci in devices)


EXPECTED = sorted([*(f"lap-{n:02d}" for n in range(10)), "lap-lone", "dns-cache-01"])


def test_the_problems_devices_are_those_behind_its_incidents_and_its_own_cis(problem):
    assert names(targeting.resolve({"ticket": "problem"}, problem=problem)) == EXPECTED
    # true: every ticket of the run, here only the problem
    assert names(targeting.resolve({"ticket": True}, problem=problem)) == EXPECTED


def test_a_problem_with_nothing_behind_it_or_a_missing_problem_is_refused(problem_manager,
                                                                          signing_key):
    empty = problem_services.problem_create(actor=problem_manager, title="Nothing yet")
    with pytest.raises(DomainError) as error:
        targeting.resolve({"ticket": "problem"}, problem=empty)
    assert "targets.ticket" in error.value.fields
    with pytest.raises(DomainError) as error:
        targeting.resolve({"ticket": "problem"})
    assert "no problem" in error.value.message
    with pytest.raises(DomainError):
        targeting.resolve({"ticket": "request"}, problem=empty)


def test_a_read_only_action_runs_under_an_open_problem(
        problem, check, operator, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        run = runs.run_start(actor=operator, version=check, targets={"ticket": "problem"},
                             authority=Authority("problem", problem=problem))
    assert run.problem == problem and run.authority_kind == "problem"
    assert names(e.device for e in Execution.objects.filter(run=run)) == EXPECTED
    assert Job.objects.filter(kind="action").count() == len(EXPECTED)
    started = problem.activities.filter(kind="work_note").last()
    assert run.reference in started.body and f"problem {problem.number}" in started.body
    # The summary reaches the problem's timeline when the run ends.
    with django_capture_on_commit_callbacks(execute=True):
        answer(Job.objects.filter(kind="action").values_list("pk", flat=True))
    run.refresh_from_db()
    assert run.state == "completed"
    summary = problem.activities.filter(kind="work_note").order_by("pk").last()
    assert f"{len(EXPECTED)} succeeded" in summary.body and run.reference in summary.body


@pytest.mark.parametrize("state", ["resolved", "closed"])
def test_a_resolved_or_closed_problem_authorises_nothing(problem, check, operator, state):
    Problem.objects.filter(pk=problem.pk).update(state=state)
    problem.refresh_from_db()
    with pytest.raises(DomainError) as error:
        runs.run_start(actor=operator, version=check, targets={"ticket": "problem"},
                       authority=Authority("problem", problem=problem))
    assert error.value.code == "authority_closed" and "problem" in error.value.fields
    assert not Run.objects.exists()


def test_an_action_that_changes_devices_needs_a_change_even_from_a_problem(
        problem, action, change, operator, django_capture_on_commit_callbacks):
    with pytest.raises(DomainError) as error:
        runs.run_start(actor=operator, version=action, targets={"ticket": "problem"},
                       authority=Authority("problem", problem=problem))
    assert error.value.code == "authority_read_only"
    assert "choose an approved change" in error.value.fields["authority_kind"][0]
    assert not Run.objects.exists()
    # Under the approved change, started from the problem: the problem's devices only
    # (not the change's), and the run is recorded on the problem.
    with django_capture_on_commit_callbacks(execute=True):
        run = runs.run_start(actor=operator, version=action, targets={"ticket": "problem"},
                             authority=Authority("change", change=change, problem=problem))
    assert run.authority_kind == "change" and run.change == change
    assert run.problem == problem
    assert names(e.device for e in Execution.objects.filter(run=run)) == EXPECTED
    with django_capture_on_commit_callbacks(execute=True):
        answer(Job.objects.filter(kind="action").values_list("pk", flat=True))
    for ticket in (problem, change):
        summary = ticket.activities.filter(kind="work_note").order_by("pk").last()
        assert run.reference in summary.body and "succeeded" in summary.body


def test_a_run_under_a_problem_stops_when_the_problem_is_resolved_between_waves(
        problem, check, operator, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        run = runs.run_start(actor=operator, version=check, targets={"ticket": "problem"},
                             authority=Authority("problem", problem=problem),
                             rollout="waves", canary_size=2, batch_size=20)
    Problem.objects.filter(pk=problem.pk).update(state="resolved")
    with django_capture_on_commit_callbacks(execute=True):
        answer(Job.objects.filter(kind="action").values_list("pk", flat=True))
    run.refresh_from_db()
    assert run.state == "paused" and "needs an open one" in run.stop_reason
    assert Job.objects.filter(kind="action").count() == 2


# --- The desk's run form from a problem ----------------------------------------------

def test_the_run_form_from_a_problem_is_prefilled_and_previews_its_devices(
        client, problem, check, operator, change):
    Problem.objects.filter(pk=problem.pk).update(fix_change=change)
    client.force_login(operator)
    url = reverse("remediation:run_start")
    page = client.get(url, {"problem": problem.pk})
    assert page.status_code == 200
    form = page.context["form"]
    assert form.initial["problem"] == problem.number
    assert form.initial["authority_kind"] == "problem" and form.initial["ticket_devices"]
    assert form.initial["change"] == change.number  # the fix change, approved
    assert change.number in page.content.decode()  # in the change picker's suggestions
    preview = client.post(url, {
        "version": check.pk, "ticket_devices": "on", "authority_kind": "problem",
        "problem": problem.number, "change": change.number, "rollout": "all",
        "pause_seconds": 0, "failure_threshold": 10, "expires_minutes": 60,
        "step": "preview"})
    assert preview.status_code == 200, preview.context["form"].errors
    assert len(preview.context["preview"].eligible) == len(EXPECTED)
    started = client.post(url, {
        "version": check.pk, "ticket_devices": "on", "authority_kind": "problem",
        "problem": problem.number, "rollout": "all", "pause_seconds": 0,
        "failure_threshold": 10, "expires_minutes": 60, "step": "start"})
    assert started.status_code == 302
    run = Run.objects.get()
    assert run.problem == problem and run.targets == {"ticket": "problem"}


def test_the_run_form_says_to_choose_a_change_for_an_action_that_changes_devices(
        client, problem, action, operator):
    client.force_login(operator)
    response = client.post(reverse("remediation:run_start"), {
        "version": action.pk, "ticket_devices": "on", "authority_kind": "problem",
        "problem": problem.number, "rollout": "all", "pause_seconds": 0,
        "failure_threshold": 10, "expires_minutes": 60, "step": "preview"})
    assert response.status_code == 400
    assert "choose an approved change" in " ".join(
        response.context["form"].errors["authority_kind"])


# --- The API ----------------------------------------------------------------------------

def test_the_api_starts_a_run_for_a_problem_and_filters_runs_by_it(
        problem, check, action, operator, django_capture_on_commit_callbacks):
    api = client_for(operator)
    body = {"version": check.pk, "targets": {"ticket": "problem"},
            "authority": {"kind": "problem", "problem": problem.number}}
    preview = api.post("/api/v1/remediation/runs/preview/", body, format="json")
    assert preview.status_code == 200 and preview.json()["receive"] == len(EXPECTED)
    with django_capture_on_commit_callbacks(execute=True):
        created = api.post("/api/v1/remediation/runs/", body, format="json")
    assert created.status_code == 201, created.json()
    data = created.json()
    assert data["problem"] == problem.pk and data["problem_number"] == problem.number
    assert data["authority"] == f"problem {problem.number}"
    listed = api.get("/api/v1/remediation/runs/", {"problem": problem.number}).json()
    assert [row["id"] for row in listed["results"]] == [data["id"]]
    assert api.get("/api/v1/remediation/runs/", {"problem": "PRB9999999"}).json()[
        "results"] == []
    # An action that changes devices: refused under the problem, naming the field.
    refused = api.post("/api/v1/remediation/runs/", {**body, "version": action.pk},
                       format="json")
    assert refused.status_code == 400
    assert refused.json()["code"] == "authority_read_only"
    assert "authority.kind" in refused.json()["fields"]
    unknown = api.post("/api/v1/remediation/runs/",
                       {**body, "authority": {"kind": "problem", "problem": "PRB0404040"}},
                       format="json")
    assert unknown.status_code == 400 and "authority.problem" in unknown.json()["fields"]
    bad_ticket = api.post("/api/v1/remediation/runs/preview/",
                          {**body, "targets": {"ticket": "request"}}, format="json")
    assert bad_ticket.status_code == 400 and "targets.ticket" in bad_ticket.json()["fields"]


def test_the_problem_devices_include_those_one_relationship_away_from_its_cis(
        problem, operator):
    cache = problem.cis.get()
    client_pc = make_device("lap-behind-cache")
    Relationship.objects.create(source=client_pc.device, target=cache,
                                type=rel_type("depends_on"))
    assert "lap-behind-cache" in names(targeting.resolve({"ticket": "problem"},
                                                         problem=problem))


def test_the_problem_page_offers_fix_everywhere_with_its_device_count(
        client, problem, check, operator, agent_hand, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        run = runs.run_start(actor=operator, version=check, targets={"ticket": "problem"},
                             authority=Authority("problem", problem=problem))
    client.force_login(operator)
    page = client.get(reverse("problems:detail", args=[problem.number]))
    html = page.content.decode()
    assert page.status_code == 200 and 'id="fix-everywhere"' in html
    assert f"{len(EXPECTED)} devices with an endpoint agent behind this problem" in html
    assert f"{reverse('remediation:run_start')}?problem={problem.pk}" in html
    assert run.reference in html
    # A desk agent sees the devices and runs, but only an operator starts one.
    client.force_login(agent_hand)
    html = client.get(reverse("problems:detail", args=[problem.number])).content.decode()
    assert 'id="fix-everywhere"' in html and "?problem=" not in html
    # The run's page names the problem.
    client.force_login(operator)
    detail = client.get(reverse("remediation:run_detail", args=[run.pk])).content.decode()
    assert problem.number in detail
    assert problem.number in client.get(reverse("remediation:run_list")).content.decode()
