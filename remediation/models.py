"""The remediation action library: actions with versions. A version runs only once a
remediation approver who is not its author approved it (four eyes); editing an approved
version makes a new draft. Runs and their executions are added with batch dispatch."""

from __future__ import annotations

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
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                   on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

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
    run_as = models.CharField(_("run as"), max_length=64, default="root")
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
