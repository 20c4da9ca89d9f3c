"""Demo escalations and notifications: one incident escalated to its group's manager
(level 1), one escalated on to the incident managers by the SLA hook (level 2), and the
everyday notices the demo agent and the demo requester find in their inboxes. Everything
goes through the services, so the audit log, timelines and inbox rows are real."""

from __future__ import annotations

from django.contrib.auth import get_user_model

from accounts.models import Team
from incidents import services
from incidents.escalation import EscalationSource, incident_escalate
from incidents.models import Channel, Incident

User = get_user_model()

LEVEL_1_TITLE = "Shared finance drive missing for the whole third floor"
LEVEL_2_TITLE = "Warehouse scanners cannot sync orders"
ASSIGNED_TITLE = "Mailbox full warnings for the accounts payable team"
ANSWERED_TITLE = "Expense app rejects my receipts"
RESOLVED_TITLE = "Second monitor not detected after the update"


def load_escalations() -> None:
    if Incident.objects.filter(title=LEVEL_1_TITLE).exists():  # seeded once
        return
    agent = User.objects.get(username="agent")
    requester = User.objects.get(username="requester")
    incident_manager = User.objects.get(username="incident.manager")
    desk = Team.objects.get(name="Service Desk")
    endpoints = Team.objects.get(name="End-User Computing")

    # Reported in the portal: routed to the service desk, whose members are told; the
    # agent escalates it to the desk's manager (level 1).
    level_1 = services.incident_create(
        actor=requester, title=LEVEL_1_TITLE, channel=Channel.PORTAL, impact=2, urgency=1,
        description="Since 8:00 the S: drive is gone for everyone on floor 3. Month-end "
                    "close is today.")
    incident_escalate(actor=agent, incident=level_1,
                      reason="Twelve people blocked during month-end close; no fix in sight "
                             "at first line.")

    # Escalated by hand to the group's manager, then on to the incident managers by the
    # SLA engine's hook (system actor, source "sla", idempotent target level).
    level_2 = services.incident_create(
        actor=agent, title=LEVEL_2_TITLE, requester=requester, channel=Channel.PHONE,
        impact=1, urgency=1, assignment_group=endpoints,
        description="Handheld scanners in the Leeds warehouse show 'sync failed'. "
                    "Dispatch is stopped.")
    person = services.suggest_assignee(endpoints)
    if person is not None:
        level_2 = services.incident_assign(actor=agent, incident=level_2, group=endpoints,
                                           assignee=person)
    incident_escalate(actor=agent, incident=level_2,
                      reason="Dispatch stopped: needs the team manager's attention.")
    incident_escalate(actor=None, incident=level_2, source=EscalationSource.SLA, to_level=2,
                      reason="Resolution target breached (P1, 4 hours).")

    # Everyday notices: the incident manager gives the agent an incident; the agent
    # answers the requester publicly and resolves another of theirs.
    assigned = services.incident_create(
        actor=incident_manager, title=ASSIGNED_TITLE, requester=requester,
        channel=Channel.EMAIL, assignment_group=desk,
        description="Several people get 'mailbox almost full' every hour.")
    services.incident_assign(actor=incident_manager, incident=assigned, group=desk,
                             assignee=agent)
    answered = services.incident_create(
        actor=requester, title=ANSWERED_TITLE, channel=Channel.PORTAL,
        description="Uploading a photo of a receipt says 'unsupported file'.")
    services.incident_assign(actor=agent, incident=answered, group=desk, assignee=agent)
    services.incident_respond(actor=agent, incident=answered,
                              body="Could you tell us the file type of the photo? The app "
                                   "takes JPEG and PDF.")
    resolved = services.incident_create(
        actor=requester, title=RESOLVED_TITLE, channel=Channel.PORTAL,
        description="The second screen stays black since this morning's update.")
    resolved = services.incident_assign(actor=agent, incident=resolved, group=desk,
                                        assignee=agent)
    services.incident_transition(
        actor=agent, incident=resolved, to_state="resolved",
        resolution_code="solved_permanently",
        resolution_notes="Rolled back the display driver; both screens work again.")
