"""The remediation action library: actions with versions. A version runs only once a
remediation approver who is not its author approved it (four eyes); editing an approved
version makes a new draft. Runs and their executions are added with batch dispatch."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils.translation import gettext_lazy as _


class ActionKind(models.TextChoices):
    SCRIPT = "script", _("Script")
    BUILTIN = "builtin", _("Built-in")


class Builtin(models.TextChoices):
    RESTART_SERVICE = "restart_service", _("Restart a service")
    KILL_PROCESS = "kill_process", _("Kill a process")
    CLEAR_DIRECTORY = "clear_directory", _("Clear a directory")
    FLUSH_DNS = "flush_dns", _("Flush the DNS cache")
    INSTALL_PACKAGE = "install_package", _("Install a package")
    REMOVE_PACKAGE = "remove_package", _("Remove a package")
    RENEW_CERTIFICATE = "renew_certificate", _("Renew a certificate")
    HEALTH_CHECK = "health_check", _("Run a health check")


class Interpreter(models.TextChoices):
    SH = "sh", "sh"
    BASH = "bash", "bash"
    PYTHON3 = "python3", "python3"
    POWERSHELL = "powershell", "PowerShell"


class ActionRisk(models.TextChoices):
    LOW = "low", _("Low")
    MEDIUM = "medium", _("Medium")
    HIGH = "high", _("High")


class Action(models.Model):
    """A named remediation; its content lives in versions."""

    name = models.SlugField(_("name"), max_length=100, unique=True,
                            help_text=_("The name changes and templates refer to."))
    title = models.CharField(_("title"), max_length=200)
    description = models.TextField(_("description"), blank=True)
    resolves_incident = models.BooleanField(
        _("resolve the incident when it succeeds"), default=False,
        help_text=_("A run for an incident resolves it once the action succeeded on every "
                    "device of the incident."))
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                   on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        permissions = [("run_action", _("Can start, continue and cancel remediation runs"))]

    def __str__(self) -> str:
        return self.name


class VersionStatus(models.TextChoices):
    DRAFT = "draft", _("Draft")
    APPROVED = "approved", _("Approved")
    RETIRED = "retired", _("Retired")


class ActionVersion(models.Model):
    action = models.ForeignKey(Action, on_delete=models.CASCADE, related_name="versions")
    version = models.PositiveIntegerField(_("version"))
    status = models.CharField(_("status"), max_length=10, choices=VersionStatus.choices,
                              default=VersionStatus.DRAFT)
    kind = models.CharField(_("kind"), max_length=10, choices=ActionKind.choices)
    builtin = models.CharField(_("built-in"), max_length=30, choices=Builtin.choices,
                               blank=True)
    interpreter = models.CharField(_("interpreter"), max_length=20,
                                   choices=Interpreter.choices, blank=True)
    script = models.TextField(_("script"), blank=True)
    script_sha256 = models.CharField(max_length=64, blank=True, editable=False)
    # [{"name", "type": string|integer|boolean|choice, "required", "choices", "min", "max",
    #   "pattern", "help"}]: validated on the server and again by the agent.
    parameters = models.JSONField(_("parameters"), default=list, blank=True)
    platforms = models.JSONField(_("platforms"), default=list, blank=True,
                                 help_text=_("linux, windows, macos; empty: all."))
    timeout_seconds = models.PositiveIntegerField(
        _("timeout (seconds)"), default=300, validators=[MinValueValidator(1),
                                                         MaxValueValidator(3600)])
    run_as = models.CharField(_("run as"), max_length=64, blank=True,
                              help_text=_("A user name; empty: as the agent itself."))
    risk = models.CharField(_("risk"), max_length=10, choices=ActionRisk.choices,
                            default=ActionRisk.LOW)
    read_only = models.BooleanField(_("read-only"), default=False)
    expected_outcome = models.TextField(_("expected outcome"), blank=True)
    author = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                               on_delete=models.SET_NULL, related_name="+",
                               verbose_name=_("author"))
    created_at = models.DateTimeField(auto_now_add=True)
    approved_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                    on_delete=models.SET_NULL, related_name="+",
                                    verbose_name=_("approved by"))
    approved_at = models.DateTimeField(_("approved"), null=True, blank=True)
    retired_at = models.DateTimeField(_("retired"), null=True, blank=True)

    class Meta:
        ordering = ["action", "-version"]
        permissions = [("approve_actionversion",
                        _("Can approve remediation action versions (not their own)"))]
        constraints = [models.UniqueConstraint(fields=["action", "version"],
                                               name="unique_action_version")]

    def __str__(self) -> str:
        return f"{self.action.name} v{self.version}"


class AuthorityKind(models.TextChoices):
    TEMPLATE = "template", _("Standard change template")
    CHANGE = "change", _("Approved change")
    INCIDENT = "incident", _("Open incident (read-only actions)")
    PROBLEM = "problem", _("Open problem (read-only actions)")


class Rollout(models.TextChoices):
    ALL = "all", _("All at once")
    WAVES = "waves", _("Waves: a canary, then batches")


class RunState(models.TextChoices):
    RUNNING = "running", _("Running")
    PAUSED = "paused", _("Stopped: waiting for a decision")
    COMPLETED = "completed", _("Completed")
    CANCELLED = "cancelled", _("Cancelled")


FINISHED_RUN_STATES = (RunState.COMPLETED, RunState.CANCELLED)


class Run(models.Model):
    """One approved action version sent to a set of devices under an authority."""

    version = models.ForeignKey(ActionVersion, on_delete=models.PROTECT, related_name="runs",
                                verbose_name=_("action version"))
    params = models.JSONField(_("parameters"), default=dict, blank=True)
    authority_kind = models.CharField(_("authority"), max_length=10,
                                      choices=AuthorityKind.choices)
    change = models.ForeignKey("changes.Change", null=True, blank=True,
                               on_delete=models.PROTECT, related_name="remediation_runs",
                               verbose_name=_("change"))
    template_version = models.ForeignKey(
        "changes.ChangeTemplateVersion", null=True, blank=True, on_delete=models.PROTECT,
        related_name="+", verbose_name=_("standard change template"))
    incident = models.ForeignKey("incidents.Incident", null=True, blank=True,
                                 on_delete=models.PROTECT, related_name="remediation_runs",
                                 verbose_name=_("incident"))
    # Its authority (kind "problem"), or the problem a run under a change fixes
    # everywhere: its summary goes to the problem's timeline either way.
    problem = models.ForeignKey("problems.Problem", null=True, blank=True,
                                on_delete=models.PROTECT, related_name="remediation_runs",
                                verbose_name=_("problem"))
    # What was asked, as chosen: {"devices": [ids], "tag": name, "ci_class": key,
    # "query": text, "ticket": true|"incident"|"change"|"problem"}; the executions are
    # what it resolved to.
    targets = models.JSONField(_("targets"), default=dict, blank=True)
    excluded = models.JSONField(_("excluded devices"), default=list, blank=True,
                                help_text=_("[{device, name, reason}] at the start."))
    rollout = models.CharField(_("rollout"), max_length=10, choices=Rollout.choices,
                               default=Rollout.ALL)
    canary_size = models.PositiveIntegerField(_("canary devices"), null=True, blank=True)
    canary_percent = models.PositiveSmallIntegerField(
        _("canary percentage"), null=True, blank=True,
        validators=[MinValueValidator(1), MaxValueValidator(100)])
    batch_size = models.PositiveIntegerField(_("batch size"), null=True, blank=True)
    pause_seconds = models.PositiveIntegerField(_("pause between waves (seconds)"), default=0)
    failure_threshold = models.PositiveSmallIntegerField(
        _("stop when a wave fails more than (%)"), default=10,
        validators=[MaxValueValidator(100)])
    resolve_incident = models.BooleanField(_("resolve the incident on success"),
                                           default=False)
    state = models.CharField(_("state"), max_length=10, choices=RunState.choices,
                             default=RunState.RUNNING)
    stop_reason = models.CharField(_("stopped because"), max_length=300, blank=True)
    current_wave = models.PositiveIntegerField(default=1)
    wave_count = models.PositiveIntegerField(default=1)
    expires_at = models.DateTimeField(_("deliver until"),
                                      help_text=_("Devices offline until then are "
                                                  "unreachable."))
    started_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                   on_delete=models.SET_NULL, related_name="+",
                                   verbose_name=_("started by"))
    created_at = models.DateTimeField(_("started"), auto_now_add=True)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)
    summary_posted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["state"], name="run_state_idx")]

    def __str__(self) -> str:
        return f"RUN-{self.pk} {self.version}"

    @property
    def reference(self) -> str:
        return f"RUN-{self.pk}"

    @property
    def finished(self) -> bool:
        return self.state in FINISHED_RUN_STATES


class WaveState(models.TextChoices):
    PENDING = "pending", _("Waiting")
    RUNNING = "running", _("Running")
    DONE = "done", _("Done")
    STOPPED = "stopped", _("Stopped: failure rate too high")
    CANCELLED = "cancelled", _("Cancelled")


class Wave(models.Model):
    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="waves")
    number = models.PositiveIntegerField()
    size = models.PositiveIntegerField()
    canary = models.BooleanField(default=False)
    state = models.CharField(max_length=10, choices=WaveState.choices,
                             default=WaveState.PENDING)
    not_before = models.DateTimeField(null=True, blank=True)
    dispatched_at = models.DateTimeField(null=True, blank=True)
    # A wave is sent in execution id order, a part at a time: the last id sent, so a
    # worker killed between parts is followed by one that sends only the rest.
    sent_through = models.UUIDField(null=True, blank=True, editable=False)
    finished_at = models.DateTimeField(null=True, blank=True)
    failure_percent = models.FloatField(null=True, blank=True)

    class Meta:
        ordering = ["run", "number"]
        constraints = [models.UniqueConstraint(fields=["run", "number"],
                                               name="unique_run_wave")]

    def __str__(self) -> str:
        return f"{self.run} wave {self.number}"


class ExecutionState(models.TextChoices):
    QUEUED = "queued", _("Queued")
    SENT = "sent", _("Sent")
    RUNNING = "running", _("Running")
    SUCCEEDED = "succeeded", _("Succeeded")
    FAILED = "failed", _("Failed")
    TIMED_OUT = "timed_out", _("Timed out")
    REFUSED = "refused", _("Refused by the agent")
    CANCELLED = "cancelled", _("Cancelled")
    UNREACHABLE = "unreachable", _("Unreachable")


PENDING_EXECUTION_STATES = (ExecutionState.QUEUED, ExecutionState.SENT,
                            ExecutionState.RUNNING)
FAILED_EXECUTION_STATES = (ExecutionState.FAILED, ExecutionState.TIMED_OUT,
                           ExecutionState.REFUSED, ExecutionState.UNREACHABLE)


class Execution(models.Model):
    """The action on one device. Its id is the id of the signed fleet job that carries it
    (the job's result holds exit code, output and duration)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    # Indexed by (run, wave) and (run, device): no index of its own.
    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="executions",
                            db_index=False)
    wave = models.PositiveIntegerField()
    device = models.ForeignKey("cmdb.ConfigurationItem", on_delete=models.PROTECT,
                               related_name="+")
    agent = models.ForeignKey("fleet.Agent", on_delete=models.PROTECT, related_name="+")
    state = models.CharField(max_length=12, choices=ExecutionState.choices,
                             default=ExecutionState.QUEUED)
    reason = models.CharField(max_length=300, blank=True)
    updated_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["run", "wave", "device_id"]
        # No index holds the state: a wave's executions change state thousands at a time
        # (sent, running, the result), and with no indexed column changing PostgreSQL
        # updates them in place (HOT, with the free space of migration 0004).
        indexes = [models.Index(fields=["run", "wave"], name="execution_run_wave_idx")]
        constraints = [models.UniqueConstraint(fields=["run", "device"],
                                               name="one_execution_per_device")]

    def __str__(self) -> str:
        return f"{self.run} on {self.device_id}: {self.state}"
