"""The remediation desk pages through the test client: who sees and does what, the action
library with four eyes, the run form's preview and its errors at the right fields, a run
started from an incident in waves, the live partial, continue, cancel and the device
table's filters."""

from __future__ import annotations

import datetime
import re

import pytest
from django.urls import reverse
from django.utils import timezone

from changes.models import Change
from cmdb.models import Relationship, Tag
from fleet.models import Job
from remediation import runs, services
from remediation.authority import Authority
from remediation.models import Action, ActionVersion, Execution, Run
from tests.changes.schedule_helpers import window
from tests.cmdb.factories import CIFactory, ci_class, rel_type
from tests.factories import UserFactory

from .conftest import approve, make_device
from .test_runs import answer

START = reverse("remediation:run_start")


@pytest.fixture
def requester(db):
    return UserFactory(username="requester-only", roles=["requester"])


@pytest.fixture
def desk_agent(agent_hand):
    return agent_hand  # a service desk agent: sees the fleet, starts nothing


@pytest.fixture
def health(operator, approver):
    """A read-only action with typed parameters: may run under an incident alone."""
    return approve(operator, approver, name="health", builtin="health_check", read_only=True,
                   parameters=[{"name": "depth", "type": "integer", "min": 1, "max": 5,
                                "required": True},
                               {"name": "mode", "type": "choice",
                                "choices": ["quick", "full"]},
                               {"name": "verbose", "type": "boolean"}])


def form_data(version, **overrides):
    data = {"version": version.pk, "authority_kind": "change", "rollout": "all",
            "pause_seconds": 0, "failure_threshold": 10, "expires_minutes": 60}
    data.update(overrides)
    return {key: value for key, value in data.items() if value is not None}


def field_errors(response, name):
    """The error texts shown at a field of the start form."""
    return response.context["form"].errors.get(name, [])


def text(response):
    return re.sub(r"\s+", " ", response.content.decode())


# --- Permissions ------------------------------------------------------------------------

def test_who_sees_the_pages_and_their_buttons(client, requester, desk_agent, operator,
                                               approver, action):
    pages = [reverse("remediation:run_list"), reverse("remediation:action_list"),
             reverse("remediation:action_detail", args=[action.action_id])]
    client.force_login(requester)
    for url in pages:
        assert client.get(url).status_code == 403
    client.force_login(desk_agent)  # sees, does nothing
    for url in pages:
        assert client.get(url).status_code == 200
    body = client.get(pages[0]).content.decode()
    assert "Run an action" not in body and "Remediation" in body  # the desk navigation
    assert client.get(START).status_code == 403
    assert client.get(reverse("remediation:action_create")).status_code == 403
    body = client.get(pages[2]).content.decode()
    assert ">Approve<" not in body and "Edit action" not in body
    client.force_login(operator)
    assert client.get(START).status_code == 200
    body = client.get(pages[2]).content.decode()
    assert "Edit action" in body and ">Retire<" not in body and "Run v1" in body
    client.force_login(approver)
    body = client.get(pages[2]).content.decode()
    assert ">Retire<" in body and "Edit action" not in body
    assert client.get(START).status_code == 403


# --- The action library -----------------------------------------------------------------

def test_an_action_is_created_then_approved_by_someone_else(client, operator, approver):
    both = UserFactory(username="both", roles=["remediation_operator",
                                               "remediation_approver"])
    client.force_login(both)
    response = client.post(reverse("remediation:action_create"), {
        "name": "restart-cups", "title": "Restart the print spooler", "kind": "script",
        "interpreter": "sh", "script": 'systemctl restart "$ITSM_PARAM_SERVICE"',
        "parameters": '[{"name": "service", "type": "string", "required": true}]',
        "platforms": ["linux"], "timeout_seconds": 60, "run_as": "root", "risk": "medium",
        "resolves_incident": "on", "expected_outcome": "The spooler answers again."})
    action = Action.objects.get(name="restart-cups")
    assert response.status_code == 302 and action.resolves_incident
    version = action.versions.get()
    assert version.status == "draft" and version.parameters[0]["name"] == "service"
    detail = reverse("remediation:action_detail", args=[action.pk])
    body = text(client.get(detail))
    assert version.script_sha256 in body and "The spooler answers again." in body
    assert "another approver must approve it (four eyes)" in body  # no button for the author
    # Forcing it anyway: refused, and said on the page.
    response = client.post(reverse("remediation:version_approve", args=[version.pk]),
                           follow=True)
    assert "another approver must approve it" in text(response)
    version.refresh_from_db()
    assert version.status == "draft"
    client.force_login(approver)
    body = text(client.get(detail))
    assert reverse("remediation:version_approve", args=[version.pk]) in body
    client.post(reverse("remediation:version_approve", args=[version.pk]))
    version.refresh_from_db()
    assert version.status == "approved" and version.approved_by == approver
    body = text(client.get(detail))
    assert "Created" in body and "Approved" in body  # the history
    # A new version is a draft copy; the approved one stays until it is superseded.
    client.force_login(operator)
    response = client.post(reverse("remediation:version_new", args=[action.pk]))
    v2 = action.versions.get(version=2)
    assert response.url == reverse("remediation:version_edit", args=[v2.pk])
    response = client.post(reverse("remediation:version_edit", args=[v2.pk]), {
        "kind": "script", "interpreter": "sh", "script": "systemctl try-restart cups",
        "parameters": "", "timeout_seconds": 90, "run_as": "root", "risk": "low"})
    assert response.status_code == 302
    v2.refresh_from_db()
    assert v2.timeout_seconds == 90 and v2.parameters == []
    # Editing an approved version is not offered.
    body = text(client.get(reverse("remediation:version_edit", args=[version.pk])))
    assert "no longer changes" in body


def test_bad_definitions_are_shown_at_their_fields(client, operator):
    client.force_login(operator)
    url = reverse("remediation:action_create")
    base = {"name": "x", "title": "X", "kind": "builtin", "builtin": "flush_dns",
            "timeout_seconds": 60, "run_as": "root", "risk": "low"}
    response = client.post(url, {**base, "parameters": '[{"name": "a",'})
    assert response.status_code == 400
    assert "Not valid JSON" in response.context["form"].errors["parameters"][0]
    response = client.post(url, {**base, "parameters": '[{"name": "Bad Name", '
                                                        '"type": "string"}]'})
    assert "lower-case letters" in response.context["form"].errors["parameters"][0]
    response = client.post(url, {**base, "kind": "script", "builtin": ""})
    assert "interpreter and a script" in response.context["form"].errors["script"][0]
    assert not Action.objects.exists()


def test_the_action_flag_and_retiring(client, operator, approver, action):
    client.force_login(operator)
    client.post(reverse("remediation:action_edit", args=[action.action_id]), {
        "title": "Flush DNS caches", "description": "", "resolves_incident": "on"})
    action.action.refresh_from_db()
    assert action.action.resolves_incident and action.action.title == "Flush DNS caches"
    client.force_login(approver)
    client.post(reverse("remediation:version_retire", args=[action.pk]))
    action.refresh_from_db()
    assert action.status == "retired"
    body = text(client.get(reverse("remediation:action_list")))
    assert "None: cannot run" in body


# --- Start: preview and errors ----------------------------------------------------------

def test_the_preview_counts_devices_and_groups_the_left_out_by_reason(
        client, operator, fleet, action, change, service):
    fleet[0].online = False
    fleet[0].save()
    windows_pc = make_device("win-01", os_name="Windows 11")
    locked = make_device("kiosk-01", policy={"allow": ["snapshot"]})
    frozen = make_device("lab-01")
    window("freeze", timezone.now() - datetime.timedelta(hours=1),
           timezone.now() + datetime.timedelta(hours=5), ci=frozen.device, name="Exam week")
    printer = CIFactory(name="printer-01", ci_class=ci_class("workstation"))
    for extra in (windows_pc.device, locked.device, frozen.device, printer):
        Relationship.objects.create(source=extra, target=service, type=rel_type("depends_on"))
    client.force_login(operator)
    # Arriving from the change: its number and "all devices of the ticket" are filled in.
    form = client.get(START, {"change": change.pk}).context["form"]
    assert form.initial["change"] == change.number and form.initial["ticket_devices"]
    # The ticket's devices (with an agent), plus a device picked by name and id.
    response = client.post(START, form_data(action, change=change.number,
                                            ticket_devices="on", step="preview",
                                            devices=[f"printer-01 (CI {printer.pk})", ""]),
                           HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    assert response.templates[0].name == "remediation/_start_form.html"
    preview = response.context["preview"]
    assert (len(preview.eligible), preview.online, preview.offline) == (10, 9, 1)
    groups = {g["kind"]: [i["name"] for i in g["items"]]
              for g in response.context["excluded_groups"]}
    assert groups == {"platform": ["win-01"], "policy": ["kiosk-01"], "freeze": ["lab-01"],
                      "no_agent": ["printer-01"]}
    body = text(response)
    for shown in ("Not allowed by the device&#x27;s local policy", "In a freeze window",
                  "Another platform", "No endpoint agent", "Exam week", "kiosk-01",
                  "Start run on 10 devices"):
        assert shown in body, shown
    assert not Run.objects.exists()


@pytest.mark.parametrize("case, field, message", [
    ("wrong_type", "param_depth", "A whole number."),
    ("out_of_range", "param_depth", "At most 5."),
    ("missing", "param_depth", "Required."),
    ("no_match", "tag", "match no device"),
    ("unknown_tag", "tag", "No tag is called"),
    ("change_not_approved", "change", "a run needs an approved change"),
    ("changing_action_under_incident", "authority_kind", "only read-only actions run"),
    ("no_such_change", "change", "No change numbered"),
    ("waves_without_batch", "batch_size", "batch size"),
    ("expiry", "expires_minutes", "1 minute to 7 days"),
])
def test_bad_input_is_shown_at_its_field(client, operator, fleet, health, action, change,
                                         incident, case, field, message):
    client.force_login(operator)
    data = form_data(health, change=change.number, ticket_devices="on", param_depth="2",
                     step="start")
    if case == "wrong_type":
        data["param_depth"] = "two"
    elif case == "out_of_range":
        data["param_depth"] = "9"
    elif case == "missing":
        del data["param_depth"]
    elif case == "no_match":
        Tag.objects.create(name="nobody")
        del data["ticket_devices"]
        data["tag"] = "nobody"
    elif case == "unknown_tag":
        del data["ticket_devices"]
        data["tag"] = "ghost"
    elif case == "change_not_approved":
        Change.objects.filter(pk=change.pk).update(state="assess")
    elif case == "changing_action_under_incident":
        data = form_data(action, authority_kind="incident", incident=incident.number,
                         ticket_devices="on", step="start")
    elif case == "no_such_change":
        data["change"] = "CHG9999999"
    elif case == "waves_without_batch":
        data.update(rollout="waves", canary_size=2)
    elif case == "expiry":
        data["expires_minutes"] = 0
    response = client.post(START, data)
    assert response.status_code == 400
    errors = " ".join(field_errors(response, field))
    assert message in errors, (case, response.context["form"].errors)
    assert 'aria-invalid="true"' in response.content.decode()
    assert not Run.objects.exists() and not Job.objects.exists()


def test_the_parameter_fields_follow_the_chosen_version(client, operator, health, action):
    client.force_login(operator)
    body = text(client.get(START, {"part": "params", "version": health.pk}))
    assert 'name="param_depth"' in body and 'type="number"' in body and 'max="5"' in body
    assert '<option value="full">' in body and 'name="param_verbose"' in body
    body = text(client.get(START, {"part": "params", "version": action.pk}))
    assert "takes no parameters" in body


# --- A run from an incident, in waves ---------------------------------------------------

@pytest.fixture
def started(client, operator, fleet, health, incident, django_capture_on_commit_callbacks):
    """A read-only action started from the incident's page: canary 2, then batches of 4."""
    client.force_login(operator)
    incident_page = reverse("incidents:detail", kwargs={"key": incident.number})
    body = text(client.get(incident_page))
    link = f"{START}?incident={incident.pk}"
    assert "Run an action" in body and link.replace("&", "&amp;") in body
    form = client.get(link).context["form"]
    assert form.initial["authority_kind"] == "incident"
    data = form_data(health, authority_kind="incident", incident=incident.number,
                     ticket_devices="on", param_depth="3", param_mode="quick",
                     rollout="waves", canary_size=2, batch_size=4, failure_threshold=40)
    preview = client.post(START, {**data, "step": "preview"}, HTTP_HX_REQUEST="true")
    assert preview.context["sizes"] == [2, 4, 4]
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(START, {**data, "step": "start"}, HTTP_HX_REQUEST="true")
    run = Run.objects.get()
    assert response.status_code == 204
    assert response["HX-Redirect"] == reverse("remediation:run_detail", args=[run.pk])
    assert run.incident == incident and run.params == {"depth": 3, "mode": "quick",
                                                        "verbose": False}
    return run


def live(client, run, **params):
    return client.get(reverse("remediation:run_detail", args=[run.pk]),
                      {"part": "live", "seen": "running", **params})


def test_a_run_started_from_an_incident_shows_its_progress_live(client, started, incident):
    """The partial the page polls: the counts move as results are recorded."""
    run = started
    page = client.get(reverse("remediation:run_detail", args=[run.pk]))
    body = text(page)
    assert incident.number in body and "health v1" in body
    assert run.started_by.get_full_name() in body
    assert 'hx-trigger="every 2s"' in body and "Cancel the run" in body
    assert "Continue" not in body  # only a stopped run continues
    progress = live(client, run).context["progress"]
    assert (progress["devices"], progress["done"], progress["wave_count"]) == (10, 0, 3)
    assert [w["size"] for w in progress["waves"]] == [2, 4, 4]
    canary = list(Execution.objects.filter(run=run, wave=1).values_list("pk", flat=True))
    answer(canary[:1], status="succeeded")
    answer(canary[1:], status="failed", exit_code=3)
    response = live(client, run)
    counts = response.context["progress"]["counts"]
    assert counts["succeeded"] == 1 and counts["failed"] == 1 and counts["queued"] == 8
    body = text(response)
    assert "2 / 10" in body and "2 / 2" in body  # overall, and the canary wave
    assert body.count("seen=") == 1
    # The incident's page lists the run with its counts.
    body = text(client.get(reverse("incidents:detail", kwargs={"key": incident.number})))
    assert run.reference in body and "1 succeeded · 1 failed" in body


def test_a_stopped_run_continues_and_a_running_one_cancels(
        client, started, django_capture_on_commit_callbacks):
    run = started
    canary = list(Execution.objects.filter(run=run, wave=1).values_list("pk", flat=True))
    with django_capture_on_commit_callbacks(execute=True):
        answer(canary, status="failed", exit_code=1)
    run.refresh_from_db()
    assert run.state == "paused"
    # The poll brings the new state and the Continue button, out of band.
    body = text(live(client, run))
    assert 'hx-swap-oob="true"' in body and "Continue…" in body and "threshold" in body
    assert 'hx-swap-oob' not in text(live(client, run, seen="paused"))
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("remediation:run_continue", args=[run.pk]),
                               follow=True)
    assert "continues with its next wave" in text(response)
    run.refresh_from_db()
    assert run.state == "running" and run.current_wave == 2
    # Continue again: refused with the reason, shown as a message.
    response = client.post(reverse("remediation:run_continue", args=[run.pk]), follow=True)
    assert "Only a stopped run continues" in text(response)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("remediation:run_cancel", args=[run.pk]), follow=True)
    run.refresh_from_db()
    assert run.state == "cancelled" and "cancelled" in text(response)
    body = text(response)
    assert 'hx-trigger="every 2s"' not in body and "Cancel the run" not in body


def test_only_runners_continue_or_cancel(client, started, desk_agent, approver):
    for user in (desk_agent, approver):
        client.force_login(user)
        assert client.post(reverse("remediation:run_cancel", args=[started.pk])).status_code \
            == 403
        body = text(client.get(reverse("remediation:run_detail", args=[started.pk])))
        assert "Cancel the run" not in body
    started.refresh_from_db()
    assert started.state == "running"


def test_the_device_table_filters_by_state_and_wave_and_shows_output(client, started):
    run = started
    canary = list(Execution.objects.filter(run=run, wave=1).order_by("device__name"))
    answer([canary[0].pk], status="succeeded")
    Job.objects.filter(pk=canary[1].pk).update(state="sent")  # a job still held
    from fleet import services as fleet_services
    fleet_services.results_record([(canary[1].agent_id, {
        "execution_id": str(canary[1].pk), "status": "failed", "exit_code": 7,
        "stdout": "checking…", "stderr": "resolver unreachable", "duration_ms": 2500,
        "data": {}})])
    url = reverse("remediation:run_detail", args=[run.pk])
    rows = client.get(url, {"state": "failed"}).context["executions"]
    assert [e.device.name for e in rows] == [canary[1].device.name]
    assert rows[0].exit_code == 7 and rows[0].duration == "2.5 s"
    assert "resolver unreachable" in rows[0].detail
    assert len(client.get(url, {"wave": 2}).context["executions"]) == 4
    assert len(client.get(url, {"wave": 1, "state": "queued"}).context["executions"]) == 0
    assert len(client.get(url).context["executions"]) == 10
    # The poll keeps the filters.
    body = text(live(client, run, state="failed"))
    assert "state=failed" in body
    output = client.get(reverse("remediation:execution_output", args=[run.pk, canary[1].pk]))
    body = text(output)
    assert "resolver unreachable" in body and "checking…" in body and "2500 ms" in body


def test_the_runs_list_filters_by_state_and_action(client, operator, approver, fleet, action,
                                                   change, started):
    cancelled = runs.run_start(actor=operator, version=action, targets={"ticket": True},
                               authority=Authority("change", change=change))
    runs.run_cancel(actor=operator, run=cancelled)
    url = reverse("remediation:run_list")
    shown = list(client.get(url).context["runs"])
    assert {r.pk for r in shown} == {started.pk, cancelled.pk}
    assert [r.pk for r in client.get(url, {"state": "cancelled"}).context["runs"]] == [
        cancelled.pk]
    assert [r.pk for r in client.get(url, {"action": "health"}).context["runs"]] == [
        started.pk]
    row = next(r for r in shown if r.pk == started.pk)
    assert (row.devices, row.done) == (10, 0)
    # The change's page lists its run.
    body = text(client.get(reverse("changes:detail", args=[change.pk])))
    assert cancelled.reference in body and "Run an action" in body


def test_an_unapproved_version_is_not_offered(client, operator, action):
    services.version_new(actor=operator, action=action.action)
    client.force_login(operator)
    form = client.get(START).context["form"]
    assert list(form.fields["version"].queryset) == [action]
    draft = ActionVersion.objects.get(status="draft")
    response = client.post(START, form_data(draft, ticket_devices="on", step="preview"))
    assert response.status_code == 400 and field_errors(response, "version")
