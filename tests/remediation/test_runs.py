"""Runs: authority, preview and exclusions, waves with a canary and auto-stop, every
execution state, cancel, the summary on the ticket and the incident resolving itself."""

from __future__ import annotations

import datetime

import pytest
from django.utils import timezone

from audit.models import AuditEntry
from changes.models import Change
from fleet import services as fleet_services
from fleet.models import Job, JobState
from itsm.errors import DomainError, NotPermitted
from remediation import runs
from remediation.authority import Authority
from remediation.models import Execution, Run, Wave
from tests.changes.schedule_helpers import window

from .conftest import approve, make_device


def start(operator, action, **kwargs):
    kwargs.setdefault("targets", {"ticket": True})
    return runs.run_start(actor=operator, version=action, **kwargs)


def answer(execution_ids, status="succeeded", exit_code=0, agent_of=None):
    """Results as the channel would record them, from the agent that holds each job."""
    jobs = Job.objects.filter(pk__in=list(execution_ids))
    return fleet_services.results_record([(agent_of or job.agent_id, {
        "execution_id": str(job.pk), "status": status, "exit_code": exit_code,
        "stdout": "ok", "stderr": "", "duration_ms": 12, "data": {}}) for job in jobs])


def states(run):
    return sorted(Execution.objects.filter(run=run).values_list("state", flat=True))


def test_preview_counts_offline_and_says_why_devices_are_left_out(fleet, action, change,
                                                                  service):
    fleet[0].online = False
    fleet[0].save()
    windows_pc = make_device("win-01", os_name="Windows 11")
    locked = make_device("kiosk-01", policy={"allow": ["snapshot", "query:*"]})
    frozen = make_device("lab-01")
    window("freeze", timezone.now() - datetime.timedelta(hours=1),
           timezone.now() + datetime.timedelta(hours=5), ci=frozen.device, name="Exam week")
    from cmdb.models import Relationship
    from tests.cmdb.factories import CIFactory, ci_class, rel_type
    printer = CIFactory(name="printer-01", ci_class=ci_class("workstation"))
    for extra in (windows_pc.device, locked.device, frozen.device, printer):
        Relationship.objects.create(source=extra, target=service, type=rel_type("depends_on"))
    found = runs.run_preview(version=action, targets={"ticket": True},
                             authority=Authority("change", change=change))
    assert len(found.eligible) == 10 and found.offline == 1 and found.online == 9
    assert found.eligible[-1][0].name == "lap-00"  # online devices first: a better canary
    reasons = {item["name"]: item["kind"] for item in found.excluded}
    assert reasons == {"win-01": "platform", "kiosk-01": "policy", "lab-01": "freeze"}
    frozen_reason = next(i["reason"] for i in found.excluded if i["kind"] == "freeze")
    assert "Exam week" in frozen_reason and "emergency change" in frozen_reason
    # Explicit devices without an agent are listed too.
    found = runs.run_preview(version=action, targets={"devices": [printer.pk]},
                             authority=Authority("change", change=change))
    assert found.excluded[0]["kind"] == "no_agent" and not found.eligible


def test_an_emergency_change_overriding_the_freeze_reaches_frozen_devices(fleet, action,
                                                                        change):
    window("freeze", timezone.now() - datetime.timedelta(hours=1),
           timezone.now() + datetime.timedelta(hours=5), name="Year end")
    found = runs.run_preview(version=action, targets={"ticket": True},
                             authority=Authority("change", change=change))
    assert not found.eligible and {i["kind"] for i in found.excluded} == {"freeze"}
    Change.objects.filter(pk=change.pk).update(type="emergency",
                                               freeze_override_reason="DNS outage")
    change.refresh_from_db()
    found = runs.run_preview(version=action, targets={"ticket": True},
                             authority=Authority("change", change=change))
    assert len(found.eligible) == 10


@pytest.mark.parametrize("case, code", [
    ("not_approved_version", "version_not_approved"),
    ("change_not_approved", "authority_not_approved"),
    ("outside_window", "outside_change_window"),
    ("incident_for_a_changing_action", "authority_read_only"),
    ("template_other_action", "authority_other_action"),
    ("bad_params", "bad_params"),
    ("no_targets", "no_targets"),
])
def test_bad_authority_or_input_is_refused_and_nothing_is_written(
        case, code, fleet, action, change, incident, operator, approver):
    from changes import services as change_services
    authority = Authority("change", change=change)
    version, params, targets = action, {}, {"ticket": True}
    if case == "not_approved_version":
        from remediation import services
        version = services.version_new(actor=operator, action=action.action)
    elif case == "change_not_approved":
        Change.objects.filter(pk=change.pk).update(state="assess")
        change.refresh_from_db()
    elif case == "outside_window":
        Change.objects.filter(pk=change.pk).update(
            planned_start=timezone.now() + datetime.timedelta(hours=3),
            planned_end=timezone.now() + datetime.timedelta(hours=4))
        change.refresh_from_db()
    elif case == "incident_for_a_changing_action":
        authority = Authority("incident", incident=incident)
    elif case == "template_other_action":
        manager = approver.__class__.objects.create(username="cm")
        from accounts.services import _set_roles
        _set_roles(manager, ["change_manager"])
        draft = change_services.template_create(
            actor=manager, name="Restart web", title="Restart web", implementation_plan="x",
            backout_plan="y", risk="low", expected_minutes=10,
            remediation_action="restart-web")
        template = change_services.template_version_approve(actor=manager, version=draft)
        authority = Authority("template", template_version=template)
    elif case == "bad_params":
        version = approve(operator, approver, name="clear-cache", builtin="clear_directory",
                          parameters=[{"name": "days", "type": "integer", "min": 1,
                                       "max": 30, "required": True}])
        params = {"days": 90}
    elif case == "no_targets":
        targets = {"tag": "nobody-has-this"}
        from cmdb.models import Tag
        Tag.objects.create(name="nobody-has-this")
    with pytest.raises(DomainError) as error:
        runs.run_start(actor=operator, version=version, targets=targets, authority=authority,
                       params=params)
    assert error.value.code == code
    assert error.value.fields  # the field at fault is named
    assert not Run.objects.exists() and not Job.objects.exists()


def test_only_an_operator_starts_a_run(fleet, action, change, approver):
    with pytest.raises(NotPermitted):
        start(approver, action, authority=Authority("change", change=change))


def test_a_read_only_action_runs_under_an_open_incident(fleet, operator, approver, incident,
                                                        django_capture_on_commit_callbacks):
    check = approve(operator, approver, name="health", builtin="health_check", read_only=True)
    with django_capture_on_commit_callbacks(execute=True):
        run = start(operator, check, authority=Authority("incident", incident=incident))
    assert run.state == "running" and Execution.objects.filter(run=run).count() == 10
    assert Job.objects.filter(kind="action").count() == 10  # the first (only) wave sent


def test_waves_canary_then_batches_each_sent_when_the_last_ends(
        fleet, action, change, operator, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        run = start(operator, action, authority=Authority("change", change=change),
                    rollout="waves", canary_size=2, batch_size=4)
    assert list(Wave.objects.filter(run=run).values_list("size", flat=True)) == [2, 4, 4]
    sent = Job.objects.filter(kind="action")
    assert sent.count() == 2  # only the canary
    envelope = sent.first().envelope
    assert envelope["spec"]["builtin"] == "flush_dns" and envelope["action"] == "flush-dns"
    fleet_services.jobs_mark_sent([job.pk for job in sent])
    fleet_services.jobs_started([(job.agent_id, job.pk) for job in sent])
    assert states(run).count("running") == 2
    with django_capture_on_commit_callbacks(execute=True):
        answer(sent.values_list("pk", flat=True))
    assert Job.objects.filter(kind="action").count() == 6
    with django_capture_on_commit_callbacks(execute=True):
        answer(Job.objects.filter(kind="action", state="queued").values_list("pk", flat=True))
    with django_capture_on_commit_callbacks(execute=True):
        answer(Job.objects.filter(kind="action", state="queued").values_list("pk", flat=True))
    run.refresh_from_db()
    assert run.state == "completed" and states(run) == ["succeeded"] * 10
    assert list(Wave.objects.filter(run=run).values_list("state", flat=True)) == ["done"] * 3
    summary = change.activities.filter(kind="work_note").order_by("pk").last()
    assert "10 succeeded" in summary.body and run.reference in summary.body


def test_a_wave_failing_above_the_threshold_stops_the_run_until_a_person_decides(
        fleet, action, change, operator, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        run = start(operator, action, authority=Authority("change", change=change),
                    rollout="waves", canary_percent=20, batch_size=4, failure_threshold=40)
    canary = list(Job.objects.filter(kind="action").values_list("pk", flat=True))
    assert len(canary) == 2
    with django_capture_on_commit_callbacks(execute=True):
        answer(canary[:1], status="failed", exit_code=3)
        answer(canary[1:], status="timed_out", exit_code=None)
    run.refresh_from_db()
    assert run.state == "paused" and "Wave 1 failed on 2 of 2 devices" in run.stop_reason
    assert Job.objects.filter(kind="action").count() == 2  # nothing more was sent
    assert states(run) == ["failed", *["queued"] * 8, "timed_out"]
    assert AuditEntry.objects.filter(object_id=str(run.pk), action="transition").exists()
    with django_capture_on_commit_callbacks(execute=True):
        runs.run_continue(actor=operator, run=run)
    assert Job.objects.filter(kind="action").count() == 6
    with pytest.raises(DomainError):
        runs.run_continue(actor=operator, run=run)  # not stopped


def test_cancel_stops_unsent_waves_and_asks_agents_to_stop_what_they_hold(
        fleet, action, change, operator, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        run = start(operator, action, authority=Authority("change", change=change),
                    rollout="waves", canary_size=3, batch_size=7)
    canary = list(Job.objects.filter(kind="action"))
    fleet_services.jobs_mark_sent([canary[0].pk, canary[1].pk])
    fleet_services.jobs_started([(canary[0].agent_id, canary[0].pk)])
    with django_capture_on_commit_callbacks(execute=True):
        runs.run_cancel(actor=operator, run=run)
    run.refresh_from_db()
    assert run.state == "cancelled" and states(run) == ["cancelled"] * 10
    cancels = Job.objects.filter(kind="cancel")
    # The two agents holding a job get a signed cancel; the unsent one is never sent.
    assert sorted(str(j.envelope["params"]["execution_id"]) for j in cancels) == sorted(
        [str(canary[0].pk), str(canary[1].pk)])
    assert Job.objects.get(pk=canary[2].pk).state == JobState.CANCELLED
    assert fleet_services.jobs_pending([canary[2].agent_id]).get(canary[2].agent_id, []) == []
    # A result for what the agent really did still arrives and is kept.
    answer([canary[0].pk], status="succeeded")
    assert Execution.objects.get(pk=canary[0].pk).state == "succeeded"
    summary = change.activities.filter(kind="work_note").order_by("pk").last()
    assert "cancelled" in summary.body


def test_every_terminal_state_and_unreachable_after_expiry(fleet, action, change, operator,
                                                          django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        run = start(operator, action, authority=Authority("change", change=change))
    jobs = list(Job.objects.filter(kind="action").order_by("agent__hostname"))
    for job, status in zip(jobs, ("succeeded", "failed", "timed_out", "refused", "cancelled"),
                           strict=False):
        answer([job.pk], status=status)
    fleet_services.jobs_mark_sent([jobs[5].pk])
    Job.objects.filter(pk__in=[j.pk for j in jobs[5:]]).update(
        expires_at=timezone.now() - datetime.timedelta(seconds=1))
    with django_capture_on_commit_callbacks(execute=True):
        fleet_services.jobs_expire()
    by_host = dict(Execution.objects.filter(run=run).values_list("device__name", "state"))
    assert [by_host[f"lap-{n:02d}"] for n in range(6)] == [
        "succeeded", "failed", "timed_out", "refused", "cancelled", "unreachable"]
    reasons = dict(Execution.objects.filter(run=run).values_list("device__name", "reason"))
    assert "No result came back" in reasons["lap-05"]
    assert "offline" in reasons["lap-06"]
    run.refresh_from_db()
    assert run.state == "completed"


def test_a_result_for_another_agents_execution_is_ignored_and_a_repeat_changes_nothing(
        fleet, action, change, operator, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        run = start(operator, action, authority=Authority("change", change=change))
    job = Job.objects.filter(kind="action").first()
    other = Job.objects.filter(kind="action").exclude(agent=job.agent).first()
    assert answer([job.pk], agent_of=other.agent_id) == []
    assert Execution.objects.get(pk=job.pk).state == "queued"
    answer([job.pk], status="failed", exit_code=2)
    answer([job.pk], status="succeeded")  # the same id again: the first result stands
    assert Execution.objects.get(pk=job.pk).state == "failed"
    assert Job.objects.get(pk=job.pk).result["exit_code"] == 2
    assert run.executions.count() == 10


def test_the_incident_resolves_itself_when_the_action_succeeded_on_its_devices(
        fleet, operator, approver, incident, change, django_capture_on_commit_callbacks):
    action = approve(operator, approver, name="fix-dns")
    action.action.resolves_incident = True
    action.action.save()
    with django_capture_on_commit_callbacks(execute=True):
        run = start(operator, action, authority=Authority("change", change=change,
                                                          incident=incident))
    with django_capture_on_commit_callbacks(execute=True):
        answer(Job.objects.filter(kind="action").values_list("pk", flat=True))
    incident.refresh_from_db()
    assert incident.state == "resolved" and run.reference in incident.resolution_notes
    notes = incident.activities.filter(kind="work_note")
    assert any("started" in n.body for n in notes) and any("10 succeeded" in n.body
                                                           for n in notes)


def test_a_wave_is_not_sent_once_the_change_window_has_ended(
        fleet, action, change, operator, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        run = start(operator, action, authority=Authority("change", change=change),
                    rollout="waves", canary_size=2, batch_size=8)
    Change.objects.filter(pk=change.pk).update(planned_end=timezone.now())
    with django_capture_on_commit_callbacks(execute=True):
        answer(Job.objects.filter(kind="action").values_list("pk", flat=True))
    run.refresh_from_db()
    assert run.state == "paused" and "within that window" in run.stop_reason
    assert Job.objects.filter(kind="action").count() == 2


def test_the_sweep_sends_a_wave_whose_task_was_lost(fleet, action, change, operator):
    run = start(operator, action, authority=Authority("change", change=change))
    assert not Job.objects.exists()  # the on-commit dispatch never ran (a lost task)
    runs.sweep()
    assert Job.objects.filter(kind="action").count() == 10
    runs.sweep()  # idempotent: nothing sent twice
    assert Job.objects.filter(kind="action").count() == 10
    assert run.waves.get().state == "running"


def test_a_wave_is_sent_in_parts_and_a_half_sent_wave_is_finished_by_the_sweep(
        fleet, action, change, operator, monkeypatch, django_capture_on_commit_callbacks):
    monkeypatch.setattr(runs, "DISPATCH_CHUNK", 4)
    run = start(operator, action, authority=Authority("change", change=change))
    real_part, parts = runs._wave_send_part, []

    def part_then_die(run_id, number):
        if parts:
            raise SystemExit("worker killed")  # after the first part committed
        parts.append(real_part(run_id, number))
        return parts[-1]

    monkeypatch.setattr(runs, "_wave_send_part", part_then_die)
    with django_capture_on_commit_callbacks() as nudges, pytest.raises(SystemExit):
        runs.wave_dispatch(run.pk, 1)
    assert parts == [4] and len(nudges) == 1  # the first part was nudged on its own
    assert Job.objects.filter(kind="action").count() == 4
    assert run.waves.get().state == "running"
    monkeypatch.setattr(runs, "_wave_send_part", real_part)
    runs.sweep()  # the rest: 6 more, in two parts
    assert Job.objects.filter(kind="action").count() == 10
    assert set(Job.objects.values_list("pk", flat=True)) == set(
        Execution.objects.filter(run=run).values_list("pk", flat=True))
    assert [s for s in Job.objects.values_list("sequence", flat=True)] == [1] * 10
    runs.sweep()  # nothing sent twice
    assert runs.wave_dispatch(run.pk, 1) == 0
    assert Job.objects.filter(kind="action").count() == 10


def test_no_part_of_a_wave_is_sent_after_a_cancel(fleet, action, change, operator,
                                                  monkeypatch):
    monkeypatch.setattr(runs, "DISPATCH_CHUNK", 4)
    run = start(operator, action, authority=Authority("change", change=change))
    assert runs._wave_begin(run.pk, 1) and runs._wave_send_part(run.pk, 1) == 4
    runs.run_cancel(actor=operator, run=run)
    assert runs._wave_send_part(run.pk, 1) == 0 and runs.wave_dispatch(run.pk, 1) == 0
    assert Job.objects.filter(kind="action").count() == 4
    assert states(run).count("cancelled") == 10  # 6 never sent, 4 asked to stop


def test_a_text_query_targets_devices_by_name_hostname_or_location(fleet, action, change):
    from cmdb.models import ConfigurationItem
    ConfigurationItem.objects.filter(name__in=["lap-03", "lap-04"]).update(
        location="Store 017")
    found = runs.run_preview(version=action, targets={"query": "store 017"},
                             authority=Authority("change", change=change))
    assert sorted(ci.name for ci, _agent in found.eligible) == ["lap-03", "lap-04"]
    with pytest.raises(DomainError) as error:
        runs.run_preview(version=action, targets={"query": "x"},
                         authority=Authority("change", change=change))
    assert "targets.query" in error.value.fields
