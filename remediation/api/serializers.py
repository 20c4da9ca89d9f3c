"""Serializers of the remediation API. They shape input and output; every write goes
through ``remediation.services`` / ``remediation.runs`` (never ``serializer.save()``), and
those decide what is allowed."""

from __future__ import annotations

import datetime
from typing import Any

from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from changes.models import Change, ChangeTemplateVersion
from incidents.models import Incident
from itsm.errors import DomainError
from problems.models import Problem

from ..authority import Authority
from ..models import (
    Action,
    ActionKind,
    ActionRisk,
    ActionVersion,
    AuthorityKind,
    Builtin,
    ExecutionState,
    Interpreter,
    Rollout,
    Run,
    VersionStatus,
)
from ..services import PLATFORMS

PARAMETERS_HELP = (
    "Typed parameters: a list of {name, type (string, integer, boolean, choice), required, "
    "choices, min, max, pattern, help}. Runs give their values in `params`.")

# --- The library ----------------------------------------------------------------------


class ActionVersionSerializer(serializers.ModelSerializer):
    action_name = serializers.CharField(source="action.name", read_only=True)
    author = serializers.CharField(source="author.username", read_only=True, default=None)
    approved_by = serializers.CharField(source="approved_by.username", read_only=True,
                                        default=None)

    class Meta:
        model = ActionVersion
        fields = ["id", "action", "action_name", "version", "status", "kind", "builtin",
                  "interpreter", "script", "script_sha256", "parameters", "platforms",
                  "timeout_seconds", "run_as", "risk", "read_only", "expected_outcome",
                  "author", "created_at", "approved_by", "approved_at", "retired_at"]
        read_only_fields = fields


class ActionVersionWriteSerializer(serializers.Serializer):
    """A version's content. On ``PATCH`` only the fields given change."""

    kind = serializers.ChoiceField(choices=ActionKind.choices)
    builtin = serializers.ChoiceField(choices=Builtin.choices, required=False,
                                      allow_blank=True)
    interpreter = serializers.ChoiceField(choices=Interpreter.choices, required=False,
                                          allow_blank=True)
    script = serializers.CharField(required=False, allow_blank=True, trim_whitespace=False)
    parameters = serializers.ListField(child=serializers.DictField(), required=False,
                                       help_text=PARAMETERS_HELP)
    platforms = serializers.ListField(child=serializers.ChoiceField(choices=PLATFORMS),
                                      required=False, help_text="Empty: every platform.")
    timeout_seconds = serializers.IntegerField(min_value=1, max_value=3600, required=False)
    run_as = serializers.CharField(max_length=64, required=False, allow_blank=True,
                                   help_text="A user name; empty: as the agent itself.")
    risk = serializers.ChoiceField(choices=ActionRisk.choices, required=False)
    read_only = serializers.BooleanField(required=False)
    expected_outcome = serializers.CharField(required=False, allow_blank=True)


class RemediationActionSerializer(serializers.ModelSerializer):
    created_by = serializers.CharField(source="created_by.username", read_only=True,
                                       default=None)
    approved_version = serializers.SerializerMethodField(
        help_text="The id of the version that runs (null: none is approved).")
    versions = ActionVersionSerializer(many=True, read_only=True, help_text="Newest first.")

    class Meta:
        model = Action
        fields = ["id", "name", "title", "description", "resolves_incident", "created_by",
                  "created_at", "approved_version", "versions"]
        read_only_fields = fields

    @extend_schema_field(OpenApiTypes.INT)
    def get_approved_version(self, action: Action) -> int | None:
        return next((v.pk for v in action.versions.all()
                     if v.status == VersionStatus.APPROVED), None)


class RemediationActionCreateSerializer(ActionVersionWriteSerializer):
    """The action and its first draft version (v1)."""

    name = serializers.SlugField(max_length=100,
                                 help_text="The name changes and templates refer to.")
    title = serializers.CharField(max_length=200)
    description = serializers.CharField(required=False, allow_blank=True)
    resolves_incident = serializers.BooleanField(
        required=False, help_text="A run for an incident resolves it once the action "
                                  "succeeded on every device of the incident.")


class RemediationActionUpdateSerializer(serializers.Serializer):
    title = serializers.CharField(max_length=200, required=False)
    description = serializers.CharField(required=False, allow_blank=True)
    resolves_incident = serializers.BooleanField(required=False)


# --- Runs: the request ----------------------------------------------------------------


class _Strict(serializers.Serializer):
    """Unknown keys are refused (a typo in a pipeline must not silently widen a run)."""

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, dict):
            unknown = sorted(set(data) - set(self.fields))
            if unknown:
                raise serializers.ValidationError(
                    {name: [_("Unknown key.")] for name in unknown})
        return super().to_internal_value(data)


@extend_schema_field({"oneOf": [{"type": "boolean"},
                                {"type": "string", "enum": ["incident", "change", "problem"]}]})
class TicketTargetField(serializers.Field):
    """``true``/``false``, or the name of the run's ticket whose devices are meant."""

    default_error_messages = {"invalid": _("true, false, or one of incident, change, "
                                           "problem.")}

    def to_internal_value(self, data: Any) -> bool | str:
        if isinstance(data, bool):
            return data
        if isinstance(data, str):
            lowered = data.strip().lower()
            if lowered in ("incident", "change", "problem"):
                return lowered
            if lowered in ("true", "1", "yes"):
                return True
            if lowered in ("false", "0", "no", ""):
                return False
        self.fail("invalid")
        return False  # not reached

    def to_representation(self, value: Any) -> Any:
        return value


class RunTargetsSerializer(_Strict):
    devices = serializers.ListField(child=serializers.IntegerField(min_value=1),
                                    required=False, help_text="CI ids of devices.")
    tag = serializers.CharField(required=False, allow_blank=True,
                                help_text="Every device with this CMDB tag.")
    ci_class = serializers.CharField(required=False, allow_blank=True,
                                     help_text="Every CI of this class (its key).")
    query = serializers.CharField(
        required=False, allow_blank=True, max_length=100,
        help_text="Every device whose name, hostname or location contains this text.")
    ticket = TicketTargetField(
        required=False,
        help_text="Every device of the run's tickets: `true` for all of them (incident, "
                  "change, problem), or `incident`, `change` or `problem` for that one. A "
                  "ticket's devices are its CIs and services (a problem's: its own and "
                  "those of its linked incidents) and the devices one relationship away.")


class RunAuthoritySerializer(_Strict):
    kind = serializers.ChoiceField(choices=AuthorityKind.choices)
    change = serializers.CharField(
        required=False, allow_blank=True, max_length=20,
        help_text="kind=change: the change's number (CHG0000012) or id; approved "
                  "(scheduled or implement) and within its planned window.")
    template_version = serializers.IntegerField(
        required=False, allow_null=True,
        help_text="kind=template: the id of an approved standard change template version "
                  "that names the action.")
    incident = serializers.CharField(
        required=False, allow_blank=True, max_length=20,
        help_text="The incident's number (INC0000042) or id. kind=incident: open, and the "
                  "action read-only. With another kind the run is still reported on it "
                  "(and may resolve it).")
    problem = serializers.CharField(
        required=False, allow_blank=True, max_length=20,
        help_text="The problem's number (PRB0000007) or id. kind=problem: open (not "
                  "resolved or closed), and the action read-only; an action that changes "
                  "devices needs kind=change. With another kind the run is still reported "
                  "on the problem (fix everywhere under a change).")


class RunRolloutSerializer(_Strict):
    mode = serializers.ChoiceField(choices=Rollout.choices, default=Rollout.ALL)
    canary_size = serializers.IntegerField(min_value=1, required=False, allow_null=True,
                                           help_text="waves: the canary in devices…")
    canary_percent = serializers.IntegerField(min_value=1, max_value=100, required=False,
                                              allow_null=True,
                                              help_text="…or in percent of the devices.")
    batch_size = serializers.IntegerField(min_value=1, required=False, allow_null=True,
                                          help_text="waves: devices per wave after the "
                                                    "canary.")
    pause_seconds = serializers.IntegerField(min_value=0, max_value=86400, default=0)
    failure_threshold = serializers.IntegerField(
        min_value=0, max_value=100, default=10,
        help_text="A wave failing on more than this percentage stops the run until "
                  "someone continues or cancels it.")

    def validate(self, data: dict[str, Any]) -> dict[str, Any]:
        if data.get("canary_size") is not None and data.get("canary_percent") is not None:
            raise serializers.ValidationError({"canary_percent": [
                _("Give the canary as devices or as a percentage, not both.")]})
        return data


class RunRequestSerializer(_Strict):
    version = serializers.IntegerField(
        required=False, help_text="The id of an approved action version…")
    action = serializers.CharField(
        required=False, max_length=100, help_text="…or the action's name: its approved "
                                                  "version runs.")
    params = serializers.DictField(default=dict, help_text="The values of the version's "
                                   "parameters; a wrong one is refused as `params.<name>`.")
    targets = RunTargetsSerializer(help_text="Several add up.")
    authority = RunAuthoritySerializer()
    rollout = RunRolloutSerializer(required=False)
    expires_in_minutes = serializers.IntegerField(
        min_value=1, max_value=7 * 24 * 60, default=60,
        help_text="Devices still offline after this are counted unreachable.")

    def validate(self, data: dict[str, Any]) -> dict[str, Any]:
        if ("version" in data) == ("action" in data):
            raise serializers.ValidationError({"version": [
                _("Give the version (its id) or the action (its name), one of them.")]})
        return data


def _refuse(field: str, message: str, code: str) -> DomainError:
    return DomainError(message, code=code, fields={field: [message]})


def _ticket(model: Any, value: str, field: str) -> Any:
    value = (value or "").strip()
    if not value:
        return None
    found = model.objects.filter(number__iexact=value).first()
    if found is None and value.isdigit():
        found = model.objects.filter(pk=int(value)).first()
    if found is None:
        raise _refuse(field, _("Nothing is numbered “%(v)s”.") % {"v": value}, "not_found")
    return found


def run_arguments(data: dict[str, Any]) -> dict[str, Any]:
    """The validated request as ``runs.run_start`` takes it: the version, the authority's
    records and the rollout found (a DomainError naming the field when one is not)."""
    if "version" in data:
        version = ActionVersion.objects.select_related("action").filter(
            pk=data["version"]).first()
        if version is None:
            raise _refuse("version", _("No action version has the id %(id)s.")
                          % {"id": data["version"]}, "not_found")
    else:
        action = Action.objects.filter(name=data["action"]).first()
        if action is None:
            raise _refuse("action", _("No action is called “%(name)s”.")
                          % {"name": data["action"]}, "not_found")
        version = action.versions.select_related("action").filter(
            status=VersionStatus.APPROVED).first()
        if version is None:
            raise _refuse("action", _("“%(name)s” has no approved version: only an approved "
                                      "version runs.") % {"name": action.name},
                          "version_not_approved")
    given = data["authority"]
    kind = given["kind"]
    template = None
    if kind == AuthorityKind.TEMPLATE and given.get("template_version") is not None:
        template = ChangeTemplateVersion.objects.select_related("template").filter(
            pk=given["template_version"]).first()
        if template is None:
            raise _refuse("authority.template_version",
                          _("No standard change template version has the id %(id)s.")
                          % {"id": given["template_version"]}, "not_found")
    authority = Authority(
        kind=kind, template_version=template,
        change=_ticket(Change, given.get("change", ""), "authority.change")
        if kind == AuthorityKind.CHANGE else None,
        incident=_ticket(Incident, given.get("incident", ""), "authority.incident"),
        problem=_ticket(Problem, given.get("problem", ""), "authority.problem"))
    targets = data["targets"]
    chosen: dict[str, Any] = {}
    if targets.get("devices"):
        chosen["devices"] = targets["devices"]
    for key in ("tag", "ci_class", "query"):
        if (targets.get(key) or "").strip():
            chosen[key] = targets[key].strip()
    if targets.get("ticket"):
        chosen["ticket"] = targets["ticket"]
    rollout = data.get("rollout") or {"mode": Rollout.ALL, "pause_seconds": 0,
                                      "failure_threshold": 10}
    return {"version": version, "params": data["params"], "targets": chosen,
            "authority": authority, "rollout": rollout["mode"],
            "canary_size": rollout.get("canary_size"),
            "canary_percent": rollout.get("canary_percent"),
            "batch_size": rollout.get("batch_size"),
            "pause_seconds": rollout["pause_seconds"],
            "failure_threshold": rollout["failure_threshold"],
            "expires_in": datetime.timedelta(minutes=data["expires_in_minutes"])}


# --- Runs: the answers -------------------------------------------------------------------


class RunExcludedSerializer(serializers.Serializer):
    device = serializers.IntegerField(help_text="The device's CI id.")
    name = serializers.CharField()
    kind = serializers.CharField(help_text="no_agent, revoked, platform, template_class, "
                                           "policy or freeze.")
    reason = serializers.CharField()


class RunPreviewSerializer(serializers.Serializer):
    receive = serializers.IntegerField(help_text="Devices the run would be sent to.")
    online = serializers.IntegerField()
    offline = serializers.IntegerField(help_text="Receive it when they come online before "
                                                 "the delivery time.")
    excluded = RunExcludedSerializer(many=True)
    excluded_by_reason = serializers.DictField(child=serializers.IntegerField())
    waves = serializers.ListField(child=serializers.IntegerField(),
                                 help_text="The size of each wave (the canary first).")


class RunWaveProgressSerializer(serializers.Serializer):
    number = serializers.IntegerField()
    size = serializers.IntegerField()
    canary = serializers.BooleanField()
    state = serializers.CharField(help_text="pending, running, done, stopped, cancelled.")
    failure_percent = serializers.FloatField(allow_null=True)
    counts = serializers.DictField(child=serializers.IntegerField(),
                                   help_text="Executions per state.")
    done = serializers.IntegerField(help_text="Executions that ended.")


class RunProgressSerializer(serializers.Serializer):
    state = serializers.CharField()
    stop_reason = serializers.CharField()
    devices = serializers.IntegerField()
    current_wave = serializers.IntegerField()
    wave_count = serializers.IntegerField()
    counts = serializers.DictField(
        child=serializers.IntegerField(),
        help_text="Executions per state: " + ", ".join(ExecutionState.values) + ".")
    done = serializers.IntegerField(help_text="Executions that ended.")
    waves = RunWaveProgressSerializer(many=True)


class RunRolloutSettingsSerializer(serializers.Serializer):
    mode = serializers.CharField(source="rollout")
    canary_size = serializers.IntegerField(allow_null=True)
    canary_percent = serializers.IntegerField(allow_null=True)
    batch_size = serializers.IntegerField(allow_null=True)
    pause_seconds = serializers.IntegerField()
    failure_threshold = serializers.IntegerField()


class RunSerializer(serializers.ModelSerializer):
    reference = serializers.CharField(read_only=True)
    action = serializers.CharField(source="version.action.name", read_only=True)
    version_number = serializers.IntegerField(source="version.version", read_only=True)
    change_number = serializers.CharField(source="change.number", read_only=True,
                                          default=None)
    incident_number = serializers.CharField(source="incident.number", read_only=True,
                                            default=None)
    problem_number = serializers.CharField(source="problem.number", read_only=True,
                                           default=None)
    authority = serializers.SerializerMethodField(help_text="What allows the run, in words.")
    rollout = RunRolloutSettingsSerializer(source="*", read_only=True)
    started_by = serializers.CharField(source="started_by.username", read_only=True,
                                       default=None)
    devices = serializers.IntegerField(read_only=True, default=None)
    done = serializers.IntegerField(read_only=True, default=None)
    succeeded = serializers.IntegerField(read_only=True, default=None)
    failed = serializers.IntegerField(read_only=True, default=None,
                                      help_text="Failed, timed out, refused or unreachable.")

    class Meta:
        model = Run
        fields = ["id", "reference", "action", "version", "version_number", "params",
                  "authority_kind", "authority", "change", "change_number",
                  "template_version", "incident", "incident_number", "problem",
                  "problem_number", "targets", "rollout",
                  "resolve_incident", "state", "stop_reason", "current_wave", "wave_count",
                  "expires_at", "started_by", "created_at", "finished_at", "devices",
                  "done", "succeeded", "failed"]
        read_only_fields = fields

    def get_authority(self, run: Run) -> str:
        from ..runs import authority_of

        return authority_of(run).describe()


class RunDetailSerializer(RunSerializer):
    excluded = RunExcludedSerializer(many=True, read_only=True,
                                  help_text="Devices left out at the start, and why.")
    progress = serializers.SerializerMethodField()
    summary = serializers.SerializerMethodField(
        help_text="Once finished: the summary posted on the ticket (else null).")

    class Meta(RunSerializer.Meta):
        fields = [*RunSerializer.Meta.fields, "excluded", "progress", "summary"]
        read_only_fields = fields

    @extend_schema_field(RunProgressSerializer)
    def get_progress(self, run: Run) -> dict[str, Any]:
        from ..runs import progress

        return progress(run)

    @extend_schema_field(OpenApiTypes.STR)
    def get_summary(self, run: Run) -> str | None:
        from ..runs import summary_text

        return summary_text(run) if run.finished else None


class RunExecutionSerializer(serializers.Serializer):
    """One device of the run. Output fields come from the fleet job with the same id
    (``outputs`` in the context)."""

    id = serializers.UUIDField()
    device = serializers.IntegerField(source="device_id", help_text="The device's CI id.")
    device_name = serializers.CharField(source="device.name")
    agent = serializers.IntegerField(source="agent_id")
    wave = serializers.IntegerField()
    state = serializers.ChoiceField(choices=ExecutionState.choices)
    reason = serializers.SerializerMethodField(
        help_text="Why it ended as it did (unreachable, refused by the agent's policy…).")
    exit_code = serializers.SerializerMethodField()
    duration_ms = serializers.SerializerMethodField()
    stdout = serializers.SerializerMethodField()
    stderr = serializers.SerializerMethodField()
    updated_at = serializers.DateTimeField(allow_null=True)

    def _job(self, row: Any) -> dict[str, Any]:
        return self.context.get("outputs", {}).get(row.pk) or {}

    def _result(self, row: Any, key: str) -> Any:
        return (self._job(row).get("result") or {}).get(key)

    def get_reason(self, row: Any) -> str:
        return row.reason or self._job(row).get("refusal_reason") or ""

    @extend_schema_field(OpenApiTypes.INT)
    def get_exit_code(self, row: Any) -> int | None:
        return self._result(row, "exit_code")

    @extend_schema_field(OpenApiTypes.INT)
    def get_duration_ms(self, row: Any) -> int | None:
        return self._result(row, "duration_ms")

    def get_stdout(self, row: Any) -> str:
        return self._result(row, "stdout") or ""

    def get_stderr(self, row: Any) -> str:
        return self._result(row, "stderr") or ""


class RunWaitQuerySerializer(serializers.Serializer):
    timeout = serializers.IntegerField(
        min_value=1, max_value=25, default=20,
        help_text="Seconds to wait at most (1–25); poll again after a timeout.")
