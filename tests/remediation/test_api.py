"""The remediation API over real HTTP with API tokens: the library (create, edit, four-eyes
approval, new version, retire, filters), a pipeline's run (preview, start in waves for an
incident under an approved change, results, progress and output, the automatic stop,
continue, cancel), every refusal naming its field with nothing written, and who may do
what."""

from __future__ import annotations

import datetime
import time

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.services import api_token_create
from changes.models import Change
from cmdb.models import Relationship, Tag
from fleet import services as fleet_services
from fleet.models import Job
from remediation import services
from remediation.models import Action, ActionVersion, Run
from tests.cmdb.factories import rel_type
from tests.factories import UserFactory

from .conftest import approve, make_device

BASE = "/api/v1/remediation"


def client_for(user) -> APIClient:
    """A pipeline's client: the user's API token, no session."""
    _row, token = api_token_create(actor=user, user=user, name="pipeline")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


def results(job_ids, *, status="succeeded", exit_code=0, stdout="flushed", stderr=""):
    """Results as the channel records them, each from the agent holding the job."""
    jobs = Job.objects.filter(pk__in=list(job_ids))
    return fleet_services.results_record([(job.agent_id, {
        "execution_id": str(job.pk), "status": status, "exit_code": exit_code,
        "stdout": stdout, "stderr": stderr, "duration_ms": 840, "data": {}}) for job in jobs])


def queued_jobs():
    return Job.objects.filter(kind="action", state="queued").values_list("pk", flat=True)


@pytest.fixture
def lead(db):
    """Writes actions and approves them: four eyes still applies to their own."""
    return UserFactory(username="lead", roles=["remediation_operator",
                                               "remediation_approver"])


@pytest.fixture
def op(operator):
    return client_for(operator)


@pytest.fixture
def ap(approver):
    return client_for(approver)


FLUSH = {"name": "flush-dns", "title": "Flush the DNS cache", "kind": "builtin",
         "builtin": "flush_dns", "platforms": ["linux"], "timeout_seconds": 60}


# --- The library ------------------------------------------------------------------------

def test_the_library_with_four_eyes(lead, ap, approver):
    mine = client_for(lead)
    response = mine.post(f"{BASE}/actions/", {
        **FLUSH, "resolves_incident": True,
        "parameters": [{"name": "scope", "type": "choice", "choices": ["all", "pos"]}]},
        format="json")
    assert response.status_code == 201, response.json()
    action = response.json()
    assert action["resolves_incident"] is True and action["approved_version"] is None
    [draft] = action["versions"]
    assert (draft["version"], draft["status"], draft["author"]) == (1, "draft", "lead")
    # Four eyes: the author may approve versions, but not this one.
    response = mine.post(f"{BASE}/versions/{draft['id']}/approve/")
    assert response.status_code == 403
    assert response.json()["message"] == ("You wrote this version: another approver must "
                                          "approve it.")
    assert ActionVersion.objects.get(pk=draft["id"]).status == "draft"
    response = ap.post(f"{BASE}/versions/{draft['id']}/approve/")
    assert response.status_code == 200 and response.json()["approved_by"] == "approver"
    # An approved version never changes: a new draft copies it.
    response = mine.patch(f"{BASE}/versions/{draft['id']}/", {"timeout_seconds": 90},
                          format="json")
    assert response.status_code == 400 and response.json()["code"] == "not_draft"
    assert "status" in response.json()["fields"]
    response = mine.post(f"{BASE}/actions/{action['id']}/new-version/")
    assert response.status_code == 201
    second = response.json()
    assert (second["version"], second["status"], second["parameters"]) == (
        2, "draft", draft["parameters"])
    response = mine.post(f"{BASE}/actions/{action['id']}/new-version/")
    assert response.status_code == 400 and response.json()["code"] == "draft_exists"
    response = mine.patch(f"{BASE}/versions/{second['id']}/",
                          {"timeout_seconds": 90, "risk": "medium"}, format="json")
    assert response.status_code == 200, response.json()
    assert (response.json()["timeout_seconds"], response.json()["risk"]) == (90, "medium")
    response = ap.post(f"{BASE}/versions/{second['id']}/approve/")
    assert response.status_code == 200
    body = mine.get(f"{BASE}/actions/{action['id']}/").json()
    assert body["approved_version"] == second["id"]
    assert [(v["version"], v["status"]) for v in body["versions"]] == [
        (2, "approved"), (1, "retired")]
    response = ap.post(f"{BASE}/versions/{second['id']}/retire/")
    assert response.status_code == 200 and response.json()["status"] == "retired"
    response = mine.patch(f"{BASE}/actions/{action['id']}/", {"title": "Flush DNS"},
                          format="json")
    assert response.status_code == 200 and response.json()["title"] == "Flush DNS"
    assert response.json()["resolves_incident"] is True  # untouched


def test_the_action_list_filters_on_one_version(op, operator, approver):
    approve(operator, approver, name="flush-dns")
    approve(operator, approver, name="health", builtin="health_check", read_only=True)
    services.action_create(actor=operator, name="wipe-temp", title="Wipe temp",
                           kind="builtin", builtin="clear_directory", risk="high")

    def names(query: str) -> list[str]:
        response = op.get(f"{BASE}/actions/?{query}")
        assert response.status_code == 200, response.json()
        return [row["name"] for row in response.json()["results"]]

    assert names("") == ["flush-dns", "health", "wipe-temp"]
    assert names("status=approved") == ["flush-dns", "health"]
    assert names("status=draft") == ["wipe-temp"]
    assert names("risk=high") == ["wipe-temp"]
    assert names("status=approved&risk=high") == []
    assert names("read_only=true") == ["health"]
    assert names("name=dns") == ["flush-dns"]
    versions = op.get(f"{BASE}/versions/?action=health").json()["results"]
    assert [(v["action_name"], v["status"]) for v in versions] == [("health", "approved")]


@pytest.mark.parametrize("body, field", [
    ({"parameters": [{"name": "Bad Name", "type": "string"}]}, "parameters"),
    ({"parameters": [{"name": "n", "type": "float"}]}, "parameters"),
    ({"kind": "script", "builtin": ""}, "script"),
    ({"builtin": "format_disk"}, "builtin"),
    ({"platforms": ["amiga"]}, "platforms.0"),
    ({"timeout_seconds": 0}, "timeout_seconds"),
    ({"name": "Not a slug!"}, "name"),
])
def test_a_bad_action_is_refused_naming_the_field(op, body, field):
    response = op.post(f"{BASE}/actions/", {**FLUSH, **body}, format="json")
    assert response.status_code == 400, response.json()
    assert field in response.json()["fields"]
    assert not Action.objects.exists()


# --- A run from a pipeline --------------------------------------------------------------

def test_a_pipeline_runs_an_action_on_an_incidents_devices_in_waves(
        lead, ap, op, fleet, service, incident, change, django_capture_on_commit_callbacks,
        django_assert_max_num_queries):
    # Given an action its author cannot approve but another approver does,
    author = client_for(lead)
    action = author.post(f"{BASE}/actions/", FLUSH, format="json").json()
    version = action["versions"][0]["id"]
    assert author.post(f"{BASE}/versions/{version}/approve/").status_code == 403
    assert ap.post(f"{BASE}/versions/{version}/approve/").status_code == 200
    # and a Windows PC behind the service, where a Linux action does not run,
    windows = make_device("win-01", os_name="Windows 11")
    Relationship.objects.create(source=windows.device, target=service,
                                type=rel_type("depends_on"))
    request = {"action": "flush-dns", "targets": {"ticket": True},
               "authority": {"kind": "change", "change": change.number,
                             "incident": incident.number},
               "rollout": {"mode": "waves", "canary_size": 2, "batch_size": 4,
                           "failure_threshold": 40},
               "expires_in_minutes": 120}
    # when the pipeline previews it, nothing is written
    response = op.post(f"{BASE}/runs/preview/", request, format="json")
    assert response.status_code == 200, response.json()
    preview = response.json()
    assert (preview["receive"], preview["online"], preview["offline"]) == (10, 10, 0)
    assert preview["waves"] == [2, 4, 4]
    assert preview["excluded"] == [{"device": windows.device_id, "name": "win-01",
                                    "kind": "platform", "reason": preview["excluded"][0][
                                        "reason"]}]
    assert preview["excluded_by_reason"] == {"platform": 1}
    assert not Run.objects.exists() and not Job.objects.exists()
    # then starts it: the canary is sent,
    with django_capture_on_commit_callbacks(execute=True):
        response = op.post(f"{BASE}/runs/", request, format="json")
    assert response.status_code == 201, response.json()
    run = response.json()
    assert run["state"] == "running" and run["action"] == "flush-dns"
    assert (run["incident_number"], run["change_number"]) == (incident.number,
                                                              change.number)
    assert run["authority"] == f"change {change.number}"
    assert run["rollout"] == {"mode": "waves", "canary_size": 2, "canary_percent": None,
                              "batch_size": 4, "pause_seconds": 0, "failure_threshold": 40}
    assert [w["size"] for w in run["progress"]["waves"]] == [2, 4, 4]
    assert run["progress"]["devices"] == 10 and run["excluded"][0]["name"] == "win-01"
    assert Job.objects.filter(kind="action").count() == 2
    url = f"{BASE}/runs/{run['id']}/"
    # the canary fails on one of two devices, above the 40 % threshold: the run stops.
    canary = list(queued_jobs())
    with django_capture_on_commit_callbacks(execute=True):
        results(canary[:1], status="failed", exit_code=3, stdout="",
                stderr="resolvectl: permission denied")
        results(canary[1:])
    body = op.get(url).json()
    assert body["state"] == "paused" and "Wave 1 failed on 1 of 2" in body["stop_reason"]
    assert body["progress"]["counts"]["failed"] == 1
    assert body["progress"]["counts"]["succeeded"] == 1
    assert body["progress"]["waves"][0]["state"] == "stopped"
    assert (body["done"], body["succeeded"], body["failed"]) == (2, 1, 1)
    started = time.monotonic()
    assert op.get(f"{url}wait/?timeout=5").json()["state"] == "paused"
    assert time.monotonic() - started < 2  # not running: answers at once
    # The executions carry the job's output, read in one query per page.
    with django_assert_max_num_queries(12):
        response = op.get(f"{url}executions/?wave=1")
    rows = {row["device_name"]: row for row in response.json()["results"]}
    assert len(rows) == 2
    failed = op.get(f"{url}executions/?state=failed").json()["results"]
    assert len(failed) == 1
    assert (failed[0]["exit_code"], failed[0]["stderr"], failed[0]["duration_ms"],
            failed[0]["wave"]) == (3, "resolvectl: permission denied", 840, 1)
    ok = next(row for row in rows.values() if row["state"] == "succeeded")
    assert (ok["stdout"], ok["exit_code"]) == ("flushed", 0)
    assert len(op.get(f"{url}executions/?state=queued").json()["results"]) == 8
    page = op.get(f"{url}executions/?page_size=3").json()
    assert len(page["results"]) == 3 and page["next"]
    # A person decides to continue: the next wave goes; continuing twice is refused.
    with django_capture_on_commit_callbacks(execute=True):
        response = op.post(f"{url}continue/")
    assert response.status_code == 200 and response.json()["state"] == "running"
    assert Job.objects.filter(kind="action").count() == 6
    response = op.post(f"{url}continue/")
    assert response.status_code == 400 and response.json()["code"] == "not_paused"
    assert "state" in response.json()["fields"]
    with django_capture_on_commit_callbacks(execute=True):
        results(queued_jobs())
    assert Job.objects.filter(kind="action").count() == 10  # the last wave sent
    started = time.monotonic()
    assert op.get(f"{url}wait/?timeout=1").json()["state"] == "running"
    assert time.monotonic() - started >= 0.9
    # then cancels: the last wave's agents are asked to stop; the summary is there.
    with django_capture_on_commit_callbacks(execute=True):
        response = op.post(f"{url}cancel/")
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["state"] == "cancelled" and body["finished_at"]
    assert body["progress"]["counts"]["cancelled"] == 4
    assert body["summary"].startswith(f"RUN-{run['id']} flush-dns v1: cancelled.")
    response = op.post(f"{url}cancel/")
    assert response.status_code == 400 and response.json()["code"] == "finished"
    # The runs list finds it by ticket, action and state.
    for query in (f"incident={incident.number}", f"incident={incident.pk}",
                  f"change={change.number.lower()}", "action=flush-dns", "state=cancelled"):
        found = op.get(f"{BASE}/runs/?{query}").json()["results"]
        assert [r["id"] for r in found] == [run["id"]], query
    assert op.get(f"{BASE}/runs/?state=running").json()["results"] == []
    assert op.get(f"{BASE}/runs/?incident=INC9999999").json()["results"] == []


def test_a_read_only_check_runs_under_an_open_incident_by_version_id(
        op, operator, approver, fleet, incident, django_capture_on_commit_callbacks):
    check = approve(operator, approver, name="health", builtin="health_check",
                    read_only=True)
    with django_capture_on_commit_callbacks(execute=True):
        response = op.post(f"{BASE}/runs/", {
            "version": check.pk, "targets": {"ticket": True},
            "authority": {"kind": "incident", "incident": incident.pk}}, format="json")
    assert response.status_code == 201, response.json()
    run = response.json()
    assert run["authority_kind"] == "incident" and run["wave_count"] == 1
    assert run["incident"] == incident.pk and run["rollout"]["mode"] == "all"
    assert Job.objects.filter(kind="action").count() == 10


def test_the_runs_list_is_bounded_in_queries(op, operator, action, fleet, change,
                                             django_assert_max_num_queries):
    from remediation import runs
    from remediation.authority import Authority

    for _ in range(4):
        runs.run_start(actor=operator, version=action, targets={"ticket": True},
                       authority=Authority("change", change=change))
    with django_assert_max_num_queries(8):
        response = op.get(f"{BASE}/runs/")
    assert len(response.json()["results"]) == 4
    assert response.json()["results"][0]["devices"] == 10


# --- Refusals -----------------------------------------------------------------------------

def _outside_window(change, **_):
    Change.objects.filter(pk=change.pk).update(
        planned_start=timezone.now() + datetime.timedelta(hours=3),
        planned_end=timezone.now() + datetime.timedelta(hours=4))


def _not_approved(change, **_):
    Change.objects.filter(pk=change.pk).update(state="assess")


def _draft_version(operator, action, request, **_):
    draft = services.version_new(actor=operator, action=action.action)
    request.pop("action")
    request["version"] = draft.pk


def _typed_action(operator, approver, request, **_):
    approve(operator, approver, name="clear-cache", builtin="clear_directory",
            parameters=[{"name": "days", "type": "integer", "min": 1, "max": 30,
                         "required": True}])
    request["action"] = "clear-cache"


def _no_approved_version(operator, request, **_):
    services.action_create(actor=operator, name="drafty", title="Drafty", kind="builtin",
                           builtin="flush_dns")
    request["action"] = "drafty"


def _empty_tag(**_):
    Tag.objects.create(name="nobody-has-this")


@pytest.mark.parametrize("endpoint", ["runs/preview/", "runs/"])
@pytest.mark.parametrize("case, change_request, field, code", [
    ("wrong parameter type", {"params": {"days": "many"}}, "params.days", "bad_params"),
    ("parameter out of range", {"params": {"days": 90}}, "params.days", "bad_params"),
    ("unknown parameter", {"params": {"force": True}}, "params.force", "bad_params"),
    ("params not an object", {"params": [1]}, "params", "invalid"),
    ("unknown version", {"action": None, "version": 999999}, "version", "not_found"),
    ("unknown action", {"action": "no-such-action"}, "action", "not_found"),
    ("version and action", {"version": 1}, "version", "invalid"),
    ("draft version", {}, "version", "version_not_approved"),
    ("action never approved", {}, "action", "version_not_approved"),
    ("change not approved", {}, "authority.change", "authority_not_approved"),
    ("change outside its window", {}, "authority.change", "outside_change_window"),
    ("unknown change", {"authority": {"kind": "change", "change": "CHG9999999"}},
     "authority.change", "not_found"),
    ("no change given", {"authority": {"kind": "change"}}, "authority.change",
     "authority_missing"),
    ("changing action under an incident", {"authority": {"kind": "incident",
                                                         "incident": "INCIDENT"}},
     "authority.kind", "authority_read_only"),
    ("unknown authority kind", {"authority": {"kind": "whim"}}, "authority.kind", "invalid"),
    ("template version unknown", {"authority": {"kind": "template",
                                                "template_version": 999999}},
     "authority.template_version", "not_found"),
    ("targets matching nothing", {"targets": {"tag": "nobody-has-this"}}, "targets",
     "no_targets"),
    ("no targets", {"targets": {}}, "targets", "invalid"),
    ("unknown target key", {"targets": {"tags": "pos"}}, "targets.tags", "invalid"),
    ("unknown device", {"targets": {"devices": [999999]}}, "targets.devices", "invalid"),
    ("waves without a batch size", {"rollout": {"mode": "waves", "canary_size": 2}},
     "rollout.batch_size", "invalid"),
    ("waves without a canary", {"rollout": {"mode": "waves", "batch_size": 2}},
     "rollout.canary_size", "invalid"),
    ("unknown rollout", {"rollout": {"mode": "zigzag"}}, "rollout.mode", "invalid"),
    ("canary above 100 %", {"rollout": {"mode": "waves", "canary_percent": 150,
                                        "batch_size": 2}}, "rollout.canary_percent",
     "invalid"),
    ("canary twice", {"rollout": {"mode": "waves", "canary_size": 1, "canary_percent": 10,
                                  "batch_size": 2}}, "rollout.canary_percent", "invalid"),
    ("threshold above 100", {"rollout": {"failure_threshold": 101}},
     "rollout.failure_threshold", "invalid"),
    ("delivery time zero", {"expires_in_minutes": 0}, "expires_in_minutes", "invalid"),
])
def test_bad_run_input_is_refused_naming_the_field_and_nothing_is_written(
        endpoint, case, change_request, field, code, op, operator, approver, action, fleet,
        change, incident):
    request = {"action": "flush-dns", "params": {}, "targets": {"ticket": True},
               "authority": {"kind": "change", "change": change.number}}
    setup = {"wrong parameter type": _typed_action, "parameter out of range": _typed_action,
             "unknown parameter": _typed_action, "draft version": _draft_version,
             "action never approved": _no_approved_version,
             "change not approved": _not_approved,
             "change outside its window": _outside_window,
             "targets matching nothing": _empty_tag}.get(case)
    if setup:
        setup(operator=operator, approver=approver, action=action, change=change,
              request=request)
    request.update(change_request)
    if "action" in request and request["action"] is None:
        request.pop("action")
    if request["authority"].get("incident") == "INCIDENT":
        request["authority"]["incident"] = incident.number
    response = op.post(f"{BASE}/{endpoint}", request, format="json")
    assert response.status_code == 400, response.json()
    body = response.json()
    assert field in body["fields"], body
    assert body["code"] == code, body
    assert body["message"]
    assert not Run.objects.exists() and not Job.objects.exists()


def test_no_eligible_device_is_refused_at_the_start_but_previewed(op, action, fleet, change):
    for agent in fleet:
        agent.policy = {"allow": ["snapshot"]}
        agent.save()
    request = {"action": "flush-dns", "targets": {"ticket": True},
               "authority": {"kind": "change", "change": change.pk}}
    preview = op.post(f"{BASE}/runs/preview/", request, format="json").json()
    assert preview["receive"] == 0 and preview["excluded_by_reason"] == {"policy": 10}
    assert preview["waves"] == []
    response = op.post(f"{BASE}/runs/", request, format="json")
    assert response.status_code == 400 and response.json()["code"] == "no_eligible_targets"
    assert "targets" in response.json()["fields"] and not Run.objects.exists()


def test_a_text_query_picks_devices_by_location(op, action, fleet, change):
    from cmdb.models import ConfigurationItem
    ConfigurationItem.objects.filter(name="lap-07").update(location="Store 017")
    request = {"action": "flush-dns", "targets": {"query": "Store 017"},
               "authority": {"kind": "change", "change": change.number}}
    preview = op.post(f"{BASE}/runs/preview/", request, format="json").json()
    assert preview["receive"] == 1 and preview["waves"] == [1]


# --- Permissions ----------------------------------------------------------------------------

def test_who_may_do_what(op, ap, agent_hand, approver, action, fleet, change, operator):
    desk = client_for(agent_hand)  # sees the fleet, so reads remediation
    request = {"action": "flush-dns", "targets": {"ticket": True},
               "authority": {"kind": "change", "change": change.number}}
    assert desk.get(f"{BASE}/actions/").status_code == 200
    assert desk.get(f"{BASE}/runs/").status_code == 200
    for client, path, body, needs in (
            (desk, "runs/", request, "run_action"),
            (desk, "runs/preview/", request, "run_action"),
            (ap, "runs/", request, "run_action"),
            (desk, "actions/", FLUSH, "add_action"),
            (ap, "actions/", FLUSH, "add_action"),
            (op, f"versions/{action.pk}/retire/", {}, "approve_actionversion"),
    ):
        response = client.post(f"{BASE}/{path}", body, format="json")
        assert response.status_code == 403, (path, response.json())
        assert needs in response.json()["message"]
    assert not Run.objects.exists() and Action.objects.count() == 1
    draft = services.version_new(actor=operator, action=action.action)
    assert op.post(f"{BASE}/versions/{draft.pk}/approve/").status_code == 403
    assert desk.patch(f"{BASE}/versions/{draft.pk}/", {"risk": "high"},
                      format="json").status_code == 403
    run = op.post(f"{BASE}/runs/", request, format="json").json()
    for verb in ("cancel", "continue"):
        assert desk.post(f"{BASE}/runs/{run['id']}/{verb}/").status_code == 403
        assert ap.post(f"{BASE}/runs/{run['id']}/{verb}/").status_code == 403
    assert Run.objects.get().state == "running"


def test_people_without_the_fleet_or_remediation_see_nothing(db, requester):
    cab = UserFactory(username="cab", roles=["cab_member"])  # desk, but no fleet
    for user in (cab, requester):
        response = client_for(user).get(f"{BASE}/actions/")
        assert response.status_code == 403
    assert APIClient().get(f"{BASE}/runs/").status_code == 401


def test_the_schema_documents_the_pipeline(client, db):
    schema = client.get("/api/schema/?format=json").json()
    paths = {path: ops for path, ops in schema["paths"].items() if "/remediation/" in path}
    assert len(paths) == 14
    assert all(op["tags"] == ["Remediation"] for ops in paths.values()
               for op in ops.values())
    for path, code in (("/api/v1/remediation/runs/", "201"),
                       ("/api/v1/remediation/runs/preview/", "200")):
        operation = schema["paths"][path]["post"]
        assert operation["requestBody"]["content"]["application/json"]["examples"]
        assert operation["responses"][code]["content"]["application/json"]["examples"]
        assert "Driving a run from a pipeline" in operation["description"]
