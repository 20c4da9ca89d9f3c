"""What a threshold does when a timer reaches it: notify people, reassign, raise the
priority, mark the incident escalated. Each action goes through the practice's own
service as the system (the audit log says "system", the activity says why), and each
outcome is kept on the ``Firing``. A refused action (the incident was closed meanwhile)
is recorded, not raised: the other actions still run."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.urls import reverse
from django.utils.translation import gettext as _

from accounts.models import Team
from incidents import escalation, services
from incidents.models import OPEN_STATES, Incident
from itsm.errors import DomainError
from notifications.services import notify

from .definitions import BREACH, PlannedThreshold
from .models import Firing, ThresholdAction


def _incident(firing: Firing) -> Incident | None:
    if ContentType.objects.get_for_id(firing.timer.content_type_id).model != "incident":
        return None
    return (Incident.objects.select_related("assignee", "assignment_group",
                                            "assignment_group__manager")
            .filter(pk=firing.timer.object_id).first())


@dataclass(frozen=True)
class _Notice:
    kind: str
    subject: str
    body: str
    url: str

    def send(self, recipients: Iterable[Any]) -> str:
        return _("told %(n)s") % {"n": len(notify(recipients, kind=self.kind,
                                                   subject=self.subject, body=self.body,
                                                   url=self.url))}


def _notice(firing: Firing, incident: Incident) -> _Notice:
    timer = firing.timer
    metric = timer.get_metric_display().lower()
    if firing.percent >= BREACH:
        subject = _("SLA breached: %(number)s missed its %(metric)s target") % {
            "number": incident.number, "metric": metric}
    else:
        subject = _("SLA warning: %(number)s has used %(percent)s%% of its %(metric)s time") % {
            "number": incident.number, "percent": firing.percent, "metric": metric}
    body = _("%(title)s\nAgreement: %(agreement)s\nDue: %(due)s UTC") % {
        "title": incident.title, "agreement": timer.agreement.name,
        "due": f"{timer.due_at:%Y-%m-%d %H:%M}" if timer.due_at else "—"}
    return _Notice("sla.breached" if firing.percent >= BREACH else "sla.warning", subject,
                   body, reverse("incidents:detail", kwargs={"key": incident.number}))


def threshold_actions_run(firing: Firing, threshold: PlannedThreshold) -> list[dict[str, str]]:
    """Run the threshold's actions for the fired timer; what each did, in order."""
    if not threshold.actions:
        return []
    incident = _incident(firing)
    if incident is None:
        return []
    notice = _notice(firing, incident)
    outcome = []
    for action in threshold.actions:
        try:
            result = _run(action, firing, threshold, incident, notice)
        except DomainError as error:
            result = f"refused: {error.message}"
        outcome.append({"action": action, "result": result})
        incident.refresh_from_db()
    return outcome


def _run(action: str, firing: Firing, threshold: PlannedThreshold, incident: Incident,
         notice: _Notice) -> str:
    group = incident.assignment_group
    if action == ThresholdAction.NOTIFY_ASSIGNEE:
        return notice.send([incident.assignee])
    if action == ThresholdAction.NOTIFY_TEAM:
        return notice.send(group.members.filter(is_active=True) if group else [])
    if action == ThresholdAction.NOTIFY_TEAM_MANAGER:
        return notice.send([group.manager if group else None])
    if action == ThresholdAction.NOTIFY_INCIDENT_MANAGER:
        return notice.send(escalation.incident_managers())
    if incident.state not in OPEN_STATES:
        return _("skipped: the incident is no longer open")
    if action == ThresholdAction.REASSIGN:
        team = Team.objects.filter(pk=threshold.reassign_to_id, is_active=True).first()
        if team is None:
            return _("skipped: no active team to reassign to")
        if incident.assignment_group_id == team.pk:
            return _("already with %(team)s") % {"team": team.name}
        services.incident_assign(actor=None, incident=incident, group=team)
        return _("reassigned to %(team)s") % {"team": team.name}
    if action == ThresholdAction.RAISE_PRIORITY:
        if incident.priority <= 1:
            return _("already P1")
        services.incident_override_priority(
            actor=None, incident=incident, priority=incident.priority - 1,
            reason=_("SLA: %(percent)s%% of the %(metric)s time used") % {
                "percent": firing.percent, "metric": firing.timer.get_metric_display().lower()})
        return _("raised to P%(p)s") % {"p": incident.priority - 1}
    if action == ThresholdAction.MARK_ESCALATED:
        level = 2 if firing.percent >= BREACH else 1
        escalation.incident_escalate(actor=None, incident=incident, source="sla",
                                     to_level=level, reason=notice.subject)
        return _("escalated to level %(level)s") % {"level": level}
    return _("unknown action")
