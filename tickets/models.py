"""The shared ticket base and what every ticket type has: a number, an activity stream,
attachments and watchers. Incidents, problems, changes and requests inherit from
:class:`Ticket` and declare their states and workflow."""

from __future__ import annotations

from typing import Any, ClassVar

from django.conf import settings
from django.contrib.contenttypes.fields import GenericForeignKey, GenericRelation
from django.contrib.contenttypes.models import ContentType
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from .workflow import Workflow


class TicketNumberSequence(models.Model):
    """The last number handed out per prefix (INC, PRB, CHG…) on SQLite; on PostgreSQL
    only where its sequence starts (tickets/numbering.py)."""

    prefix = models.CharField(max_length=8, primary_key=True)
    last_value = models.BigIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.prefix}{self.last_value:07d}"


class Priority(models.IntegerChoices):
    P1 = 1, _("P1 – Critical")
    P2 = 2, _("P2 – High")
    P3 = 3, _("P3 – Moderate")
    P4 = 4, _("P4 – Low")


class ActivityKind(models.TextChoices):
    COMMENT = "comment", _("Comment")
    WORK_NOTE = "work_note", _("Work note")
    FIELD_CHANGE = "field_change", _("Field change")
    SYSTEM = "system", _("System event")


class Activity(models.Model):
    """One entry in a ticket's stream. Comments are public (the requester sees them);
    work notes and field changes are for the desk; system events are public."""

    content_type = models.ForeignKey(ContentType, on_delete=models.CASCADE, related_name="+")
    object_id = models.PositiveBigIntegerField()
    target = GenericForeignKey("content_type", "object_id")
    kind = models.CharField(max_length=20, choices=ActivityKind.choices)
    public = models.BooleanField(default=False)
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="+",
    )
    author_label = models.CharField(max_length=200)
    body = models.TextField(blank=True)
    changes = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["content_type", "object_id", "created_at"],
                                name="activity_target_idx")]
        verbose_name = _("activity")
        verbose_name_plural = _("activities")

    def __str__(self) -> str:
        return f"{self.get_kind_display()} by {self.author_label}"


def attachment_path(instance: Attachment, filename: str) -> str:
    # The stored name is not the uploaded one: it never decides a path or a type.
    return f"attachments/{instance.content_type_id}/{instance.object_id}/{instance.sha256[:16]}"


class Attachment(models.Model):
    content_type = models.ForeignKey(ContentType, on_delete=models.CASCADE, related_name="+")
    object_id = models.PositiveBigIntegerField()
    target = GenericForeignKey("content_type", "object_id")
    file = models.FileField(upload_to=attachment_path, max_length=255)
    filename = models.CharField(max_length=255)
    mime_type = models.CharField(max_length=100)
    size = models.PositiveBigIntegerField()
    sha256 = models.CharField(max_length=64)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    uploaded_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["uploaded_at", "id"]
        indexes = [models.Index(fields=["content_type", "object_id"], name="attachment_target_idx")]

    def __str__(self) -> str:
        return self.filename


class Watcher(models.Model):
    content_type = models.ForeignKey(ContentType, on_delete=models.CASCADE, related_name="+")
    object_id = models.PositiveBigIntegerField()
    target = GenericForeignKey("content_type", "object_id")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="watching"
    )
    added_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["content_type", "object_id", "user"],
                                               name="unique_watcher")]

    def __str__(self) -> str:
        return f"{self.user} watches {self.content_type.model} {self.object_id}"


class Ticket(models.Model):
    """Abstract base of every ticket type.

    A concrete type sets ``NUMBER_PREFIX``, a ``state`` field with its choices, and
    ``workflow``; it gets numbering, the activity stream, attachments, watchers, the
    audit trail and visibility rules from here and from ``tickets.services``.
    """

    NUMBER_PREFIX: ClassVar[str] = ""
    workflow: ClassVar[Workflow]
    # Fields ``ticket_update`` may change; state moves only through ``ticket_transition``.
    EDITABLE_FIELDS: ClassVar[tuple[str, ...]] = (
        "title", "description", "priority", "requester", "assignment_group", "assignee",
    )

    number = models.CharField(_("number"), max_length=20, unique=True, editable=False)
    title = models.CharField(_("title"), max_length=200)
    description = models.TextField(_("description"), blank=True)
    state = models.CharField(_("state"), max_length=30)
    priority = models.PositiveSmallIntegerField(
        _("priority"), choices=Priority.choices, default=Priority.P4
    )
    requester = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, verbose_name=_("requester"),
        related_name="%(app_label)s_%(class)s_requested",
    )
    opened_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="%(app_label)s_%(class)s_opened", verbose_name=_("opened by"),
    )
    assignment_group = models.ForeignKey(
        "accounts.Team", null=True, blank=True, on_delete=models.SET_NULL,
        related_name="%(app_label)s_%(class)s_assigned", verbose_name=_("assignment group"),
    )
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="%(app_label)s_%(class)s_assigned", verbose_name=_("assignee"),
    )
    created_at = models.DateTimeField(_("opened"), auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)
    resolved_at = models.DateTimeField(_("resolved"), null=True, blank=True)
    closed_at = models.DateTimeField(_("closed"), null=True, blank=True)
    # Kept by the SLA engine (sla.engine): the earliest due time of the ticket's running
    # timers (none while every clock is paused or stopped) and the highest share of a
    # goal its live timers have reached (0: no warning yet). The queues sort and filter
    # on them without reading the timers.
    sla_due_at = models.DateTimeField(_("SLA due"), null=True, blank=True)
    sla_warned = models.PositiveSmallIntegerField(_("SLA threshold reached (%)"), default=0)

    activities = GenericRelation(Activity)
    attachments = GenericRelation(Attachment)
    watchers = GenericRelation(Watcher)

    class Meta:
        abstract = True
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["state", "priority"], name="%(class)s_st_idx"),
            models.Index(fields=["assignment_group", "state"],
                         name="%(class)s_grp_idx"),
            models.Index(fields=["assignee", "state"], name="%(class)s_asg_idx"),
            models.Index(fields=["sla_due_at", "id"], name="%(class)s_sla_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.number} {self.title}"

    @classmethod
    def visible_to(cls, user: Any) -> Q:
        """Who may see which tickets: the desk sees all; others their own and watched."""
        if user is None or not user.is_authenticated:
            return Q(pk__in=[])
        if user.has_perm("accounts.access_desk"):
            return Q()
        ct = ContentType.objects.get_for_model(cls)
        watched = Watcher.objects.filter(content_type=ct, user=user).values("object_id")
        return Q(requester=user) | Q(opened_by=user) | Q(pk__in=watched)

    def is_visible_to(self, user: Any) -> bool:
        return type(self).objects.filter(type(self).visible_to(user), pk=self.pk).exists()
