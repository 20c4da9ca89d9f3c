"""What a threshold does when a timer reaches it: notify people, reassign, raise the
priority, mark the incident escalated. Each action goes through the practice's own
service as the system (the audit log says "system", the activity says why), and each
outcome is kept on the ``Firing``. A refused action (the incident was closed meanwhile)
is recorded, not raised: the other actions still run."""

from __future__ import annotations

from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.urls import reverse
from django.utils.translation import gettext as _

from itsm.errors import DomainError

from .definitions import BREACH, PlannedThreshold
from .models import Firing, ThresholdAction


def _incident(firing: Firing) -> Any:
    from incidents.models import Incident

    timer = firing.timer
    if ContentType.objects.get_for_id(timer.content_type_id).model != "incident":
        return None
    return (Incident.objects.select_related("assignee", "assignment_group",
                                            "assignment_group__manager")
            .filter(pk=timer.object_id).first())


def _message(firing: Firing, incident: Any) -> tuple[str, str]:
    timer = firing.timer
    metric = timer.get_metric_display()
    if firing.percent >= BREACH:
        subject = _("SLA breached: %(number)s missed its %(metric)s target") % {
            "number": incident.number, "metric": metric.lower()}
    else:
        subject = _("SLA warning: %(number)s has used %(percent)s%% of its %(metric)s time") % {
            "number": incident.number, "percent": firing.percent, "metric": metric.lower()}
    body = _("%(title)s\nAgreement: %(agreement)s\nDue: %(due)s UTC") % {
        "title": incident.title, "agreement": timer.agreement.name,
        "due": f"{timer.due_at:%Y-%m-%d %H:%M}" if timer.due_at else "—"}
    return subject, body


def threshold_actions_run(firing: Firing, threshold: PlannedThreshold) -> list[dict[str, str]]:
    """Run the threshold's actions for the fired timer; what each did, in order."""
    from incidents import escalation, services
    from incidents.models import OPEN_STATES
    from notifications.services import notify

    if not threshold.actions:
        return []
    incident = _incident(firing)
    if incident is None:
        return []
    subject, body = _message(firing, incident)
    url = reverse("incidents:detail", kwargs={"key": incident.number})
    kind = "sla.breached" if firing.percent >= BREACH else "sla.warning"
    outcome = []
    for action in threshold.actions:
        try:
            outcome.append({"action": action, "result": _run(
                action, firing, threshold, incident, subject, body, url, kind,
                notify, services, escalation, OPEN_STATES)})
        except DomainError as error:
            outcome.append({"action": action, "result": f"refused: {error.message}"})
        incident.refresh_from_db()
    return outcome


def _run(action: str, firing: Firing, threshold: PlannedThreshold, incident: Any,
         subject: str, body: str, url: str, kind: str, notify: Any, services: Any,
         escalation: Any, open_states: Any) -> str:
    group = incident.assignment_group
    if action == ThresholdAction.NOTIFY_ASSIGNEE:
        sent = notify([incident.assignee], kind=kind, subject=subject, body=body, url=url)
        return _("told %(n)s") % {"n": len(sent)}
    if action == ThresholdAction.NOTIFY_TEAM:
        members = list(group.members.filter(is_active=True)) if group else []
        sent = notify(members, kind=kind, subject=subject, body=body, url=url)
        return _("told %(n)s") % {"n": len(sent)}
    if action == ThresholdAction.NOTIFY_TEAM_MANAGER:
        sent = notify([group.manager if group else None], kind=kind, subject=subject,
                      body=body, url=url)
        return _("told %(n)s") % {"n": len(sent)}
    if action == ThresholdAction.NOTIFY_INCIDENT_MANAGER:
        sent = notify(escalation.incident_managers(), kind=kind, subject=subject, body=body,
                      url=url)
        return _("told %(n)s") % {"n": len(sent)}
    if incident.state not in open_states:
        return _("skipped: the incident is no longer open")
    if action == ThresholdAction.REASSIGN:
        from accounts.models import Team

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
        escalation.incident_escalate(
            actor=None, incident=incident, source="sla", to_level=level,
            reason=subject)
        return _("escalated to level %(level)s") % {"level": level}
    return _("unknown action")
