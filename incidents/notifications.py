"""Who hears about what happens to an incident, in their inbox and by email.

A ticket hook (``tickets.services.register_ticket_hook``, registered in
``IncidentsConfig.ready``), so it runs only after the change has committed. The hook
decides without a query whether the event can concern anyone and, if so, hands it to
the worker (``incidents.tasks.notify_incident_event`` on the ``notify`` queue): finding
the audience and writing the inbox rows is not the requester's wait. The rules:

* **Assigned to you**: the new assignee, when someone else assigns the incident to them.
* **Routed to your group**: when an incident lands in a group with nobody assigned (logged,
  routed, or moved there by a functional escalation), the group's active members are
  told. In a group of more than ``GROUP_NOTIFY_LIMIT`` members only its manager is: a
  large team works from its "My groups" queue rather than from a message per incident.
* **The desk answered you**: the caller, when the desk adds a public comment.
* **Resolved**: the caller, with a link to the portal page where they confirm the fix or
  reopen.
* **The caller answered**: the assignee, when the caller comments or reopens.

Nobody is told about their own action. Escalation notifications are sent by the
escalation service itself (``incidents.escalation``), in the escalating transaction.
"""

from __future__ import annotations

import logging
from typing import Any

from django.contrib.auth import get_user_model
from django.urls import reverse
from django.utils.translation import gettext as _

from notifications.services import notify
from tickets.models import Activity

from .models import Incident, IncidentState

logger = logging.getLogger(__name__)
User = get_user_model()

GROUP_NOTIFY_LIMIT = 20


def _desk_url(incident: Incident) -> str:
    return reverse("incidents:detail", kwargs={"key": incident.number})


def _portal_url(incident: Incident) -> str:
    return reverse("portal:incident_detail", kwargs={"pk": incident.pk})


def _except(people: list[Any], actor_id: int | None) -> list[Any]:
    return [person for person in people if person is not None and person.pk != actor_id]


def _new_value(changes: dict[str, Any], name: str) -> Any:
    change = changes.get(name)
    return change[1] if isinstance(change, list) and len(change) == 2 else None


def _group_audience(incident: Incident) -> list[Any]:
    group = incident.assignment_group
    members = list(User.objects.filter(team_memberships__team=group, is_active=True)
                   .order_by("pk")[:GROUP_NOTIFY_LIMIT + 1])
    if len(members) > GROUP_NOTIFY_LIMIT:
        return [group.manager] if group.manager_id else []
    return members


def _assigned(incident: Incident, actor_id: int | None) -> None:
    notify(_except([incident.assignee], actor_id), kind="incident.assigned",
           subject=_("%(number)s is assigned to you: %(title)s") % {
               "number": incident.number, "title": incident.title},
           body=_("P%(priority)d · %(group)s") % {
               "priority": incident.priority, "group": incident.assignment_group.name
               if incident.assignment_group_id else "—"},
           url=_desk_url(incident))


def _routed(incident: Incident, actor_id: int | None) -> None:
    notify(_except(_group_audience(incident), actor_id), kind="incident.routed",
           subject=_("New in %(group)s: %(number)s %(title)s") % {
               "group": incident.assignment_group.name, "number": incident.number,
               "title": incident.title},
           body=_("P%(priority)d, nobody assigned yet.") % {"priority": incident.priority},
           url=_desk_url(incident))


def _commented(incident: Incident, details: dict[str, Any], actor_id: int | None) -> None:
    if details.get("internal"):
        return
    entry = Activity.objects.filter(pk=details.get("activity_id")).select_related(
        "author__profile").first()
    if entry is None or entry.author is None:
        return
    author = entry.author
    if author.pk == incident.requester_id:
        # The caller wrote: the person working on it hears.
        notify(_except([incident.assignee], author.pk), kind="incident.caller_commented",
               subject=_("%(number)s: the caller replied") % {"number": incident.number},
               body=entry.body[:1000], url=_desk_url(incident))
    elif author.has_perm("accounts.access_desk"):
        notify(_except([incident.requester], author.pk), kind="incident.commented",
               subject=_("The service desk replied on %(number)s: %(title)s") % {
                   "number": incident.number, "title": incident.title},
               body=entry.body[:1000], url=_portal_url(incident))


def _transitioned(incident: Incident, details: dict[str, Any], actor_id: int | None) -> None:
    target = details.get("to")
    if target == IncidentState.RESOLVED:
        notify(_except([incident.requester], actor_id), kind="incident.resolved",
               subject=_("%(number)s is resolved: %(title)s") % {
                   "number": incident.number, "title": incident.title},
               body=_("%(notes)s\n\nIs it fixed? Confirm it, or reopen it if it still does "
                      "not work.") % {"notes": incident.resolution_notes},
               url=_portal_url(incident))
    elif details.get("from") == IncidentState.RESOLVED and target == IncidentState.IN_PROGRESS \
            and actor_id == incident.requester_id:
        notify(_except([incident.assignee], actor_id), kind="incident.reopened",
               subject=_("%(number)s was reopened by the caller") % {"number": incident.number},
               url=_desk_url(incident))


def incident_notifications(event: str, ticket: Any, details: dict[str, Any]) -> None:
    """The ticket hook. It runs after the commit, so a failure here is logged and never
    undoes or fails the change it is about."""
    if not isinstance(ticket, Incident) or not _concerns_anyone(event, ticket, details):
        return
    from .tasks import notify_incident_event

    try:
        notify_incident_event.delay(event, ticket.pk, details)
    except Exception:  # the change is committed: a lost notice must not turn into a 500
        logger.exception("Incident notifications failed for %s (%s)", ticket.pk, event)


def incident_event_notify(event: str, incident_id: int, details: dict[str, Any]) -> None:
    """Notify whoever the event concerns (the worker's half of the hook)."""
    # Read again: later changes may have followed the one this event is about.
    incident = Incident.objects.select_related(
        "requester", "assignee", "assignment_group", "assignment_group__manager").filter(
        pk=incident_id).first()
    if incident is not None:
        _dispatch(event, incident, details)


def _concerns_anyone(event: str, ticket: Incident, details: dict[str, Any]) -> bool:
    """Whether the event can notify anyone, decided without a query (most edits cannot)."""
    if event == "created":
        return bool(ticket.assignment_group_id) and ticket.assignee_id is None
    if event == "updated":
        return bool({"assignee", "assignment_group"} & set(details.get("changes") or {}))
    if event == "commented":
        return not details.get("internal")
    if event == "transitioned":
        return details.get("to") == IncidentState.RESOLVED or details.get("from") == \
            IncidentState.RESOLVED
    return False


def _dispatch(event: str, incident: Incident, details: dict[str, Any]) -> None:
    actor_id = details.get("actor_id")
    if event == "created":
        if incident.assignment_group_id and incident.assignee_id is None:
            _routed(incident, actor_id)
    elif event == "updated":
        changes = details.get("changes") or {}
        if "assignee" in changes and _new_value(changes, "assignee") is not None:
            if incident.assignee_id == _new_value(changes, "assignee"):
                _assigned(incident, actor_id)
        elif "assignment_group" in changes and incident.assignee_id is None and \
                incident.assignment_group_id is not None:
            _routed(incident, actor_id)
    elif event == "commented":
        _commented(incident, details, actor_id)
    elif event == "transitioned":
        _transitioned(incident, details, actor_id)
