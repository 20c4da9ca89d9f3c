"""Reads for major incidents: who may manage one, who receives its updates, what the
portal banner shows, and the post-incident review's timeline (built from the audit log)."""

from __future__ import annotations

import datetime
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import FieldDoesNotExist
from django.db.models import Count, Exists, F, IntegerField, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.utils import formats, timezone
from django.utils.text import capfirst
from django.utils.translation import gettext as _

from audit.display import related_names
from audit.models import AuditAction, AuditEntry
from cmdb.models import CIStatus, ConfigurationItem
from tickets.models import Priority, Watcher

from .models import (
    OPEN_STATES,
    Channel,
    HoldReason,
    Impact,
    Incident,
    IncidentState,
    ResolutionCode,
    StakeholderUpdate,
    Urgency,
)

User = get_user_model()
BANNER_LIMIT = 5
TIMELINE_LIMIT = 1000


# --- People ---------------------------------------------------------------------------

def _holders(app_label: str, codename: str) -> QuerySet:
    permission = Permission.objects.filter(content_type__app_label=app_label,
                                           codename=codename)
    return User.objects.filter(Q(is_superuser=True) | Q(groups__permissions__in=permission)
                               | Q(user_permissions__in=permission)).values("pk")


def major_managers() -> QuerySet:
    """Who can manage a major incident: active desk users holding
    ``incidents.manage_major_incidents`` (the incident manager role, administrators)."""
    return (User.objects.filter(is_active=True)
            .filter(pk__in=_holders("incidents", "manage_major_incidents"))
            .filter(pk__in=_holders("accounts", "access_desk"))
            .select_related("profile").order_by("first_name", "last_name", "username"))


def stakeholder_subscribers(incident: Incident) -> list[tuple[Any, Incident]]:
    """Who receives the incident's stakeholder updates, each once, with the incident whose
    portal page they can open: its watchers and its caller (this incident), and the
    callers of its child incidents (their own incident, which shows the parent's
    updates)."""
    found: dict[int, tuple[Any, Incident]] = {}
    watchers = Watcher.objects.filter(
        content_type=ContentType.objects.get_for_model(Incident), object_id=incident.pk
    ).select_related("user").order_by("added_at", "pk")
    for watcher in watchers:
        found.setdefault(watcher.user_id, (watcher.user, incident))
    found.setdefault(incident.requester_id, (incident.requester, incident))
    for child in incident.children.select_related("requester").order_by("pk"):
        found.setdefault(child.requester_id, (child.requester, child))
    return list(found.values())


def is_subscribed(incident: Incident, user: Any) -> bool:
    return Watcher.objects.filter(content_type=ContentType.objects.get_for_model(Incident),
                                  object_id=incident.pk, user=user).exists()


# --- Portal ---------------------------------------------------------------------------

def services_in_use(user: Any = None) -> QuerySet[ConfigurationItem]:
    """The services a person uses. Until usage data exists (who uses which service), this
    is every operational service: the same list the portal's report form offers."""
    return ConfigurationItem.objects.filter(ci_class__is_service=True,
                                            status=CIStatus.OPERATIONAL)


def banner_incidents(user: Any = None) -> QuerySet[Incident]:
    """Ongoing major incidents on the services ``user`` uses, newest first, each with its
    latest stakeholder update and, for ``user``, whether they follow it (``following``)
    or are affected through an incident of their own (``affected``). One query."""
    latest = StakeholderUpdate.objects.filter(incident=OuterRef("pk")).order_by(
        "-created_at", "-id")
    items = (Incident.objects.filter(is_major=True, state__in=OPEN_STATES,
                                     service__in=services_in_use(user))
             .select_related("service")
             .annotate(latest_update=Subquery(latest.values("body")[:1]),
                       latest_update_at=Subquery(latest.values("created_at")[:1]))
             .order_by("-major_declared_at", "-pk"))
    if user is not None and user.is_authenticated:
        watched = Watcher.objects.filter(
            content_type=ContentType.objects.get_for_model(Incident),
            object_id=OuterRef("pk"), user=user)
        own = Incident.objects.filter(Q(pk=OuterRef("pk")) | Q(parent=OuterRef("pk")),
                                      requester=user)
        items = items.annotate(following=Exists(watched), affected=Exists(own))
    return items


def updates_for(incident: Incident) -> tuple[Incident | None, list[StakeholderUpdate]]:
    """The stakeholder updates a follower of ``incident`` sees: its own when it is a major
    incident, else its parent's when that is one (a child's caller follows the parent)."""
    source = incident if incident.is_major else None
    if source is None and incident.parent_id is not None:
        parent = Incident.objects.filter(pk=incident.parent_id, is_major=True).first()
        source = parent
    if source is None:
        return None, []
    return source, list(source.stakeholder_updates.all())


# --- API ------------------------------------------------------------------------------

def with_family(items: QuerySet[Incident]) -> QuerySet[Incident]:
    """Add ``parent_number`` and ``children_count`` (a correlated count, evaluated only
    for the rows returned: no GROUP BY over the list) for the API."""
    children = (Incident.objects.filter(parent=OuterRef("pk")).order_by()
                .values("parent").annotate(n=Count("pk")).values("n"))
    return items.annotate(
        parent_number=F("parent__number"),
        children_count=Coalesce(Subquery(children, output_field=IntegerField()), 0))


# --- Review timeline ------------------------------------------------------------------

@dataclass(frozen=True)
class TimelineEntry:
    at: datetime.datetime
    number: str  # which incident: the major incident or one of its children
    is_child: bool
    actor: str
    kind: str  # opened, state, major, stakeholder, comment, work_note, change
    title: str
    details: tuple[str, ...] = field(default=())


CHOICE_LABELS = {"state": dict(IncidentState.choices), "hold_reason": dict(HoldReason.choices),
                 "resolution_code": dict(ResolutionCode.choices),
                 "priority": dict(Priority.choices), "channel": dict(Channel.choices),
                 "impact": dict(Impact.choices), "urgency": dict(Urgency.choices)}
# Bookkeeping fields not worth a line in a timeline.
QUIET_FIELDS = {"updated_at", "is_major", "major_declared_at", "resolved_at", "closed_at",
                "number"}


def _label(name: str) -> str:
    try:
        return str(Incident._meta.get_field(name).verbose_name)
    except FieldDoesNotExist:
        return name.replace("_", " ")


def _value(name: str, value: Any, related: dict[str, dict[int, str]]) -> str:
    if value in (None, "", [], {}):
        return "—"
    if isinstance(value, bool):
        return _("yes") if value else _("no")
    if isinstance(value, dict):  # a related object, as audit_value stores it
        return str(value.get("repr") or value.get("id", ""))
    if isinstance(value, int) and value in related.get(name, {}):
        return related[name][value]
    if name in CHOICE_LABELS:
        return str(CHOICE_LABELS[name].get(value, value))
    if name.endswith("_at") and isinstance(value, str):
        try:
            moment = datetime.datetime.fromisoformat(value)
        except ValueError:
            return value
        return formats.date_format(timezone.localtime(moment), "SHORT_DATETIME_FORMAT")
    return str(value)


def _change_lines(changes: dict[str, Any], related: dict[str, dict[int, str]],
                  skip: Iterable[str] = ()) -> tuple[str, ...]:
    skipped = QUIET_FIELDS | set(skip)
    return tuple(
        _("%(field)s: %(before)s → %(after)s") % {
            "field": capfirst(_label(name)), "before": _value(name, change[0], related),
            "after": _value(name, change[1], related)}
        for name, change in changes.items()
        if name not in skipped and isinstance(change, list) and len(change) == 2)


def _describe(entry: AuditEntry, related: dict[str, dict[int, str]],
              ) -> tuple[str, str, tuple[str, ...]] | None:
    """(kind, title, details) for an audit entry, or None when another source shows it."""
    changes = entry.changes if isinstance(entry.changes, dict) else {}
    if "stakeholder_update" in changes:
        return None  # the update itself is on the timeline, from its own row
    if entry.action == AuditAction.CREATE:
        title = changes.get("title", [None, entry.object_repr])[1]
        return "opened", _("Opened: %(title)s") % {"title": title}, ()
    for kind, label in (("comment", _("Comment")), ("work_note", _("Work note"))):
        if kind in changes:
            return kind, label, (str(changes[kind][1] or ""),)
    if "watchers" in changes:
        before, after = changes["watchers"]
        who = _value("watchers", after or before, related)
        title = (_("%(name)s subscribed to updates") if after
                 else _("%(name)s unsubscribed")) % {"name": who}
        return "change", title, ()
    if "attachments" in changes:
        added = changes["attachments"][1] or {}
        return "change", _("Attached %(name)s") % {"name": added.get("added", "")}, ()
    if entry.action == AuditAction.TRANSITION and "state" in changes:
        before, after = changes["state"]
        title = _("%(before)s → %(after)s") % {"before": _value("state", before, related),
                                               "after": _value("state", after, related)}
        return "state", title, _change_lines(changes, related, skip=("state",))
    if "is_major" in changes:
        return "major", entry.message, _change_lines(changes, related)
    if set(changes) == {"parent"} and not entry.message:
        before, after = changes["parent"]
        if after:
            return "change", _("Linked as a child of %(parent)s") % {
                "parent": _value("parent", after, related)}, ()
        return "change", _("Unlinked from %(parent)s") % {
            "parent": _value("parent", before, related)}, ()
    if changes and set(changes) <= {"assignment_group", "assignee"} and not entry.message:
        return "change", _("Assigned"), _change_lines(changes, related)
    return "change", entry.message or _("Updated"), _change_lines(changes, related)


def review_timeline(incident: Incident) -> list[TimelineEntry]:
    """What happened, in time order: the audit log of the incident and of its children,
    with the stakeholder updates, in readable words."""
    family = {incident.pk: incident.number}
    family.update(incident.children.values_list("pk", "number"))
    entries = list(AuditEntry.objects.filter(
        content_type=ContentType.objects.get_for_model(Incident),
        object_id__in=[str(pk) for pk in family]).order_by("at", "id")[:TIMELINE_LIMIT])
    related = related_names(Incident, (entry.changes for entry in entries))
    watcher_ids = {value["id"] for entry in entries if isinstance(entry.changes, dict)
                   for value in entry.changes.get("watchers", []) if isinstance(value, dict)}
    people = {pk: _person(user) for pk, user in User.objects.select_related("profile")
              .in_bulk({entry.actor_id for entry in entries if entry.actor_id} | watcher_ids)
              .items()}
    related["watchers"] = people
    timeline: list[TimelineEntry] = []
    for entry in entries:
        described = _describe(_with_watcher_ids(entry), related)
        if described is None:
            continue
        kind, title, details = described
        number = family.get(int(entry.object_id), entry.object_repr)
        timeline.append(TimelineEntry(
            at=entry.at, number=number, is_child=number != incident.number,
            actor=people.get(entry.actor_id, entry.actor_label), kind=kind, title=title,
            details=details))
    for update in incident.stakeholder_updates.all():
        timeline.append(TimelineEntry(
            at=update.created_at, number=incident.number, is_child=False,
            actor=update.author_label, kind="stakeholder", title=_("Stakeholder update"),
            details=(update.body,)))
    timeline.sort(key=lambda item: item.at)
    return timeline


def _with_watcher_ids(entry: AuditEntry) -> AuditEntry:
    """Watchers are stored as {"id", "repr"}; show them by name like other people."""
    changes = entry.changes if isinstance(entry.changes, dict) else {}
    if "watchers" in changes:
        entry.changes = {**changes, "watchers": [
            value["id"] if isinstance(value, dict) else value for value in changes["watchers"]]}
    return entry


def _person(user: Any) -> str:
    profile = getattr(user, "profile", None)
    return (profile.name if profile is not None else "") or user.get_username()
