"""The endpoint fleet: enrolment groups and their secrets, agents (each bound to its device
CI and holding a hashed token), the job-signing keys, signed jobs (the envelopes the agents
run: live snapshots and fleet questions here, remediation actions in a later issue), the
latest inventory and live snapshot of each agent, and fleet-wide live questions with
their answers. The protocol is described in docs/agent.md."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _


class EnrolmentGroup(models.Model):
    """Devices enrolled with one of the group's secrets get its tags and owner team."""

    name = models.CharField(_("name"), max_length=100, unique=True)
    description = models.TextField(_("description"), blank=True)
    owner_team = models.ForeignKey("accounts.Team", null=True, blank=True,
                                   on_delete=models.SET_NULL, related_name="+",
                                   verbose_name=_("owner team"))
    tags = models.ManyToManyField("cmdb.Tag", blank=True, related_name="+",
                                  verbose_name=_("tags given to its devices"))
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        permissions = [
            ("manage_fleet", _("Can manage enrolment groups and secrets, revoke agents")),
            ("view_fleet", _("Can see devices and ask the fleet live questions")),
        ]

    def __str__(self) -> str:
        return self.name


class EnrolmentSecret(models.Model):
    """Exchanged by an agent for its identity. Shown once; stored as a hash."""

    group = models.ForeignKey(EnrolmentGroup, on_delete=models.CASCADE,
                              related_name="secrets")
    name = models.CharField(_("label"), max_length=100)
    prefix = models.CharField(max_length=16, db_index=True)
    secret_hash = models.CharField(max_length=64, unique=True)
    expires_at = models.DateTimeField(_("expires"))
    max_uses = models.PositiveIntegerField(_("use limit"), null=True, blank=True)
    uses = models.PositiveIntegerField(_("used"), default=0)
    revoked_at = models.DateTimeField(_("revoked"), null=True, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                   on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.group} / {self.name} ({self.prefix}…)"


class Agent(models.Model):
    """One enrolled endpoint agent. ``id`` is the agent's identity in every envelope."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    device = models.OneToOneField("cmdb.ConfigurationItem", on_delete=models.PROTECT,
                                  related_name="agent", verbose_name=_("device"))
    group = models.ForeignKey(EnrolmentGroup, null=True, blank=True,
                              on_delete=models.SET_NULL, related_name="agents")
    token_prefix = models.CharField(max_length=16, db_index=True)
    token_hash = models.CharField(max_length=64, unique=True)
    revoked_at = models.DateTimeField(_("revoked"), null=True, blank=True)
    enrolled_at = models.DateTimeField(_("enrolled"), auto_now_add=True)
    reenrolled_at = models.DateTimeField(_("enrolled again"), null=True, blank=True)
    last_seen_at = models.DateTimeField(_("last seen"), null=True, blank=True)
    online = models.BooleanField(_("online"), default=False)
    channel = models.CharField(_("channel"), max_length=10, blank=True,
                               help_text=_("websocket or poll"))
    agent_version = models.CharField(_("agent version"), max_length=40, blank=True)
    hostname = models.CharField(_("hostname"), max_length=255, blank=True)
    os_name = models.CharField(_("operating system"), max_length=200, blank=True)
    # The highest sequence number signed for this agent (the next job gets one more).
    last_sequence = models.BigIntegerField(default=0)
    # The agent's local policy as it reported it (what it will agree to run).
    policy = models.JSONField(_("local policy"), default=dict, blank=True)

    class Meta:
        ordering = ["hostname", "id"]
        indexes = [models.Index(fields=["online", "last_seen_at"], name="agent_online_idx")]

    def __str__(self) -> str:
        return self.hostname or str(self.id)

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None


class SigningKey(models.Model):
    """The public half of a job-signing key pair (Ed25519). The private half is a file
    only the dispatching worker reads (``FLEET_SIGNING_KEY_FILE``). One key is current."""

    key_id = models.CharField(max_length=16, unique=True)
    public_key = models.CharField(max_length=100, help_text=_("Raw Ed25519 key, base64."))
    created_at = models.DateTimeField(auto_now_add=True)
    retired_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [models.UniqueConstraint(fields=["retired_at"],
                                               condition=Q(retired_at__isnull=True),
                                               name="one_current_signing_key")]

    def __str__(self) -> str:
        return self.key_id


class JobKind(models.TextChoices):
    SNAPSHOT = "snapshot", _("Live snapshot")
    QUERY = "query", _("Live question")
    ACTION = "action", _("Action")
    CANCEL = "cancel", _("Cancel a running action")


class JobState(models.TextChoices):
    QUEUED = "queued", _("Queued")
    SENT = "sent", _("Sent")
    RUNNING = "running", _("Running")
    DONE = "done", _("Done")
    FAILED = "failed", _("Failed")
    REFUSED = "refused", _("Refused by the agent")
    EXPIRED = "expired", _("Expired")
    CANCELLED = "cancelled", _("Cancelled")


PENDING_JOB_STATES = (JobState.QUEUED, JobState.SENT, JobState.RUNNING)


class Job(models.Model):
    """A signed envelope for one agent. Pending (queued or sent) until the agent answers
    or it expires; an agent that reconnects is sent its pending jobs again (it ignores
    ids it has already run and answers them again from its own record)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    agent = models.ForeignKey(Agent, on_delete=models.CASCADE, related_name="jobs",
                              db_index=False)
    kind = models.CharField(max_length=10, choices=JobKind.choices)
    sequence = models.BigIntegerField()
    envelope = models.JSONField()
    signature = models.CharField(max_length=100)
    key_id = models.CharField(max_length=16)
    not_before = models.DateTimeField()
    expires_at = models.DateTimeField()
    state = models.CharField(max_length=10, choices=JobState.choices,
                             default=JobState.QUEUED)
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    result = models.JSONField(default=dict, blank=True)
    refusal_reason = models.CharField(max_length=300, blank=True)
    # What asked for it: a live question, a snapshot request (none), a remediation run.
    live_query = models.ForeignKey("LiveQuery", null=True, blank=True,
                                   on_delete=models.CASCADE, related_name="jobs")

    class Meta:
        ordering = ["created_at"]
        # The pending jobs by "not finished" rather than by state: a job's moves from
        # queued to sent to running then change no indexed column, so PostgreSQL makes
        # them in place (HOT, with the free space of migration 0004). Every end (result,
        # expiry, cancel, revoke) sets finished_at. The unique (agent, sequence) also
        # serves as the agent's index.
        indexes = [models.Index(fields=["agent", "created_at"], name="job_unfinished_idx",
                                condition=Q(finished_at__isnull=True))]
        constraints = [models.UniqueConstraint(fields=["agent", "sequence"],
                                               name="unique_job_sequence")]

    def __str__(self) -> str:
        return f"{self.kind} {self.id} → {self.agent_id}"


class Inventory(models.Model):
    """The agent's last full inventory (diffs are applied to it) and its live state."""

    agent = models.OneToOneField(Agent, on_delete=models.CASCADE, primary_key=True,
                                 related_name="inventory")
    data = models.JSONField(default=dict)
    digest = models.CharField(max_length=64, blank=True,
                              help_text=_("sha256 of the canonical inventory, to check "
                                          "that a diff applies to the same base."))
    received_at = models.DateTimeField(null=True, blank=True)
    # The latest live snapshot: processes, services, sessions.
    snapshot = models.JSONField(default=dict, blank=True)
    snapshot_at = models.DateTimeField(null=True, blank=True)
    snapshot_requested_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"inventory of {self.agent_id}"


class QueryKind(models.TextChoices):
    PROCESS_RUNNING = "process_running", _("Devices running a process")
    SERVICE_STOPPED = "service_stopped", _("Devices with a service stopped")
    PACKAGE_BELOW = "package_below", _("Devices with a package below a version")
    DISK_ABOVE = "disk_above", _("Devices with a disk fuller than a percentage")


class LiveQuery(models.Model):
    """A fleet-wide read-only question; answers stream in as devices reply."""

    kind = models.CharField(_("question"), max_length=20, choices=QueryKind.choices)
    params = models.JSONField(_("parameters"), default=dict)
    asked_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                 on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    targeted = models.PositiveIntegerField(default=0)
    offline = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.params}"


class LiveAnswer(models.Model):
    query = models.ForeignKey(LiveQuery, on_delete=models.CASCADE, related_name="answers")
    agent = models.ForeignKey(Agent, on_delete=models.CASCADE, related_name="+")
    matched = models.BooleanField(default=False)
    detail = models.JSONField(default=dict, blank=True)
    answered_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-matched", "agent_id"]
        constraints = [models.UniqueConstraint(fields=["query", "agent"],
                                               name="unique_live_answer")]

    def __str__(self) -> str:
        return f"{self.query_id}: {self.agent_id} {self.matched}"
