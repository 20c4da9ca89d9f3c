"""Demo change enablement: the risk questionnaire, approval policies (a CAB, an emergency
CAB that may approve after the fact, a business approver on the portal), maintenance and
freeze windows, the standard change catalogue (with a retired version and a draft), three
months of closed changes for the success rates (some failed, reviewed, one that caused an
incident), changes in every state today, and CAB meetings (one held, one planned).

Everything goes through the services (audit, activity, approvals and conflicts are real);
history is then moved back in time with queryset ``update()``, as the incident history
does: the audit log keeps the real time of writing."""

from __future__ import annotations

import datetime
import random
import zoneinfo
from typing import Any

from django.contrib.auth import get_user_model
from django.db.models import Q
from django.utils import timezone

from accounts import services as accounts
from accounts.models import Team
from changes import approvals, cab, review, risk, services, windows
from changes.models import (
    ApprovalState,
    CabMeeting,
    Change,
    ChangeCategory,
    ChangeTemplate,
    RiskQuestion,
)
from cmdb.models import CIClass, ConfigurationItem
from incidents.models import Incident
from tickets.models import Activity

User = get_user_model()

MINUTE = datetime.timedelta(minutes=1)
HOUR = datetime.timedelta(hours=1)
DAY = datetime.timedelta(days=1)
LONDON = "Europe/London"
HISTORY_MARK = "(Demo change history.)"

QUESTIONS = (
    ("Has the change been tested in a non-production environment?",
     (("Yes, fully", 0), ("Partly", 10), ("No", 25))),
    ("Can it be backed out within the planned window?",
     (("Yes, and the backout was tested", 0), ("Yes, not tested", 10), ("No", 25))),
    ("Who carries it out?",
     (("One team", 0), ("Several teams", 10), ("A vendor takes part", 15))),
    ("Has the same change been made here before?",
     (("Many times", 0), ("Once or twice", 5), ("Never", 15))),
)

# name, template description, version fields, allowed classes, remediation action
TEMPLATES = (
    ("Server OS patching", "Monthly security updates of one Linux or Windows server.",
     {"title": "Monthly OS patching", "implementation_plan":
      "1. Snapshot the VM.\n2. Drain it from the load balancer.\n3. Install the updates "
      "and reboot.\n4. Health check, then return it to the pool.",
      "backout_plan": "Revert to the snapshot taken in step 1.",
      "test_plan": "Service health check green; application smoke test.",
      "risk": "low", "expected_minutes": 60}, ("server", "virtual_machine"),
     "apply-os-updates"),
    ("Restart an application service", "Planned restart of a hung or leaking service.",
     {"title": "Restart application service", "implementation_plan":
      "Restart the service with systemctl / the service manager; watch the logs.",
      "backout_plan": "Start the service again; fail over to the second node if it does "
      "not start.", "risk": "low", "expected_minutes": 15, "outage_expected": True},
     ("application", "virtual_machine"), "restart-service"),
    ("Renew a TLS certificate", "Replace a certificate before it expires.",
     {"title": "Renew TLS certificate", "implementation_plan":
      "Request the certificate, install it on every node, reload the web servers.",
      "backout_plan": "Reinstall the previous certificate (kept for 30 days).",
      "test_plan": "Check the chain and expiry from outside with openssl s_client.",
      "risk": "low", "expected_minutes": 30}, ("certificate",), "renew-certificate"),
    ("Open a firewall port (approved list)", "A port from the approved services list, "
     "between internal zones only.",
     {"title": "Open firewall port", "implementation_plan":
      "Add the rule from the approved object group; commit; verify the hit count.",
      "backout_plan": "Disable the rule and commit.", "risk": "low",
      "expected_minutes": 30}, ("network_device",), ""),
)

# title, category, team, implementer, CIs, services, result, days ago, type
HISTORY = (
    ("Patch esx-ldn-01 to ESXi 8.0 U3", "Infrastructure", "Server & Cloud", "resolver",
     ("esx-ldn-01",), (), "successful", 84, "normal"),
    ("Upgrade Order API to 3.4.1", "Application release", "Application Support",
     "problem.manager", ("order-api-01",), ("Online Ordering",), "successful", 80, "normal"),
    ("Replace access switch on floor 1", "Network", "Network Operations", "cab",
     ("acc-sw-ldn-fl1",), (), "successful_with_issues", 77, "normal"),
    ("Rotate the Active Directory KRBTGT key", "Security", "Security Operations", "approver",
     ("dc-ldn-01",), ("Email & Collaboration",), "successful", 73, "normal"),
    ("Payroll 2025.2 release", "Application release", "Application Support",
     "problem.manager", ("pay-app-01",), ("Payroll",), "failed", 70, "normal"),
    ("Add disk to sql-ldn-01", "Database", "Database Administration", None,
     ("sql-ldn-01",), (), "successful", 66, "normal"),
    ("Firmware update of fw-ldn-edge-01", "Network", "Network Operations", "cab",
     ("fw-ldn-edge-01",), ("Online Ordering",), "backed_out", 62, "normal"),
    ("Roll out the new VPN client", "End-user computing", "End-User Computing", "operator",
     (), (), "successful", 58, "normal"),
    ("Emergency: block a phishing domain at the proxy", "Security", "Security Operations",
     "approver", (), ("Email & Collaboration",), "successful", 55, "emergency"),
    ("Resize wms-db-01 memory", "Infrastructure", "Server & Cloud", "resolver",
     ("wms-db-01",), ("Warehouse Management",), "successful", 51, "normal"),
    ("Exchange Hybrid CU14", "Application release", "Application Support",
     "problem.manager", ("exch-hyb-01",), ("Email & Collaboration",),
     "successful_with_issues", 47, "normal"),
    ("Re-index the clinical records database", "Database", "Database Administration", None,
     ("epr-db",), ("Clinical Records",), "successful", 43, "normal"),
    ("Move shop-web-02 to esx-ldn-02", "Infrastructure", "Server & Cloud", "resolver",
     ("shop-web-02",), (), "successful", 39, "normal"),
    ("Core switch OS upgrade (Manchester)", "Network", "Network Operations", "cab",
     ("core-sw-man-01",), ("Warehouse Management",), "failed", 35, "normal"),
    ("Emergency: restart the order queue workers", "Application release",
     "Application Support", "problem.manager", ("order-api-01",), ("Online Ordering",),
     "successful", 30, "emergency"),
    ("Enable MFA for the finance ledger", "Security", "Security Operations", "approver",
     ("fin-app-01",), ("Finance & Accounting",), "successful", 26, "normal"),
    ("Patch dc-man-01", "Infrastructure", "Server & Cloud", "resolver", ("dc-man-01",), (),
     "successful", 21, "normal"),
    ("Intranet SharePoint cumulative update", "Application release", "Application Support",
     "problem.manager", ("intranet-01",), ("Email & Collaboration",), "successful", 17,
     "normal"),
    ("Replace UPS batteries in London DC1", "Facilities", "Server & Cloud", "resolver", (),
     (), "successful", 12, "normal"),
    ("Laptop BIOS update wave 1", "End-user computing", "End-User Computing", "operator", (),
     (), "successful_with_issues", 8, "normal"),
)


class _Demo:
    def __init__(self) -> None:
        self.users = {u.username: u for u in User.objects.filter(username__in=(
            "change.manager", "cab", "incident.manager", "problem.manager", "resolver",
            "operator", "approver", "requester", "admin"))}
        self.cm = self.users["change.manager"]
        self.teams = {t.name: t for t in Team.objects.all()}
        self.cis = {ci.name: ci for ci in ConfigurationItem.objects.select_related("ci_class")}
        self.categories = {c.name: c for c in ChangeCategory.objects.all()}
        self.now = timezone.now().replace(second=0, microsecond=0)
        self.rng = random.Random(2026)
        self.answers: list[dict[int, int]] = []

    def ci(self, *names: str) -> list[ConfigurationItem]:
        return [self.cis[name] for name in names if name in self.cis]

    def local(self, days: int, hour: int, minute: int = 0) -> datetime.datetime:
        """A wall-clock time ``days`` from today in London."""
        zone = timezone.get_fixed_timezone(0) if False else None
        base = timezone.localtime(self.now, timezone=_zone(LONDON)).replace(
            hour=hour, minute=minute, second=0, microsecond=0)
        del zone
        return base + datetime.timedelta(days=days)


def _zone(name: str) -> Any:

    return zoneinfo.ZoneInfo(name)


def load_changes() -> None:
    if Change.objects.exists():  # seeded once
        return
    demo = _Demo()
    _cab_team(demo)
    _questionnaire(demo)
    _policies(demo)
    _windows(demo)
    templates = _templates(demo)
    _history(demo)
    held = _held_meeting(demo)
    _today(demo, templates, held)
    _upcoming_meeting(demo)


def _cab_team(demo: _Demo) -> None:
    """The CAB: the change manager, the network architect and two practice managers."""
    board = demo.teams["Change Advisory Board"]
    have = set(board.members.values_list("username", flat=True))
    for name in ("change.manager", "cab", "incident.manager", "problem.manager"):
        if name not in have:
            accounts.team_add_member(actor=None, team=board, user=demo.users[name])


def _questionnaire(demo: _Demo) -> None:
    if RiskQuestion.objects.exists():
        return
    # Tuned to the estate: most changes touch services thousands of people use.
    risk.change_settings_update(actor=demo.cm, moderate_from=30, high_from=60,
                                very_high_from=100)
    for text, answers in QUESTIONS:
        risk.risk_question_create(actor=demo.cm, text=text, answers=[
            {"text": label, "weight": weight} for label, weight in answers])
    questions = list(RiskQuestion.objects.prefetch_related("answers"))
    # Ready-made answer sets, from careful (index 0) to risky (index 2).
    for level in range(3):
        demo.answers.append({q.pk: list(q.answers.all())[min(level, q.answers.count() - 1)].pk
                             for q in questions})


def _policies(demo: _Demo) -> None:
    board = demo.teams["Change Advisory Board"]
    approvals.policy_create(
        actor=demo.cm, name="Emergency CAB", order=10, change_types=["emergency"],
        rule="any", people=[demo.cm, demo.users["incident.manager"]],
        allow_retrospective=True)
    approvals.policy_create(
        actor=demo.cm, name="Low risk: change manager", order=20, change_types=["normal"],
        risk_levels=["low"], rule="any", people=[demo.cm])
    approvals.policy_create(
        actor=demo.cm, name="CAB: moderate and high risk", order=30,
        change_types=["normal"], risk_levels=["moderate", "high"], rule="majority",
        groups=[board], cab=True)
    approvals.policy_create(
        actor=demo.cm, name="Very high risk: CAB and business owner", order=40,
        change_types=["normal"], risk_levels=["very_high"], rule="all",
        groups=[board], people=[demo.users["requester"]], cab=True)


def _windows(demo: _Demo) -> None:
    london = _zone(LONDON)
    today = timezone.localtime(demo.now, timezone=london).date()
    sunday = today - datetime.timedelta(days=(today.weekday() + 1) % 7) - 84 * DAY
    first = datetime.datetime.combine(sunday, datetime.time(2), tzinfo=london)
    shop = demo.cis.get("Online Ordering")
    if shop is not None:
        windows.window_create(
            actor=demo.cm, kind="maintenance", name="Online Ordering weekly maintenance",
            ci=shop, starts_at=first, ends_at=first + 4 * HOUR, recurrence="weekly",
            timezone=LONDON, reason="Agreed with the e-commerce business owner.")
    switch = demo.cis.get("core-sw-ldn-01")
    if switch is not None:
        tuesday = first + 2 * DAY + 20 * HOUR  # Tuesday 22:00
        windows.window_create(
            actor=demo.cm, kind="maintenance", name="London core network maintenance",
            ci=switch, starts_at=tuesday, ends_at=tuesday + 3 * HOUR, recurrence="weekly",
            timezone=LONDON, reason="Weekly network maintenance slot (Tuesday night).")
    year = today.year if today.month < 12 or today.day < 18 else today.year + 1
    freeze = datetime.datetime(year, 12, 18, 18, tzinfo=london)
    windows.window_create(
        actor=demo.cm, kind="freeze", name="Year-end change freeze", starts_at=freeze,
        ends_at=datetime.datetime(year + 1, 1, 4, 8, tzinfo=london), timezone=LONDON,
        reason="Peak trading and reduced staffing over the holidays.")
    payroll = demo.cis.get("Payroll")
    if payroll is not None:
        run = datetime.datetime(today.year, today.month, 1, tzinfo=london) + 27 * DAY
        if run.date() < today - 20 * DAY:
            run += 28 * DAY
        windows.window_create(
            actor=demo.cm, kind="freeze", name="Payroll run", ci=payroll,
            starts_at=run.replace(day=27, hour=0), ends_at=run.replace(day=28, hour=20),
            recurrence="monthly", timezone=LONDON,
            reason="Salaries are calculated and paid: no changes to payroll.")


def _templates(demo: _Demo) -> dict[str, ChangeTemplate]:
    classes = {c.key: c for c in CIClass.objects.all()}
    made = {}
    for name, description, fields, allowed, action in TEMPLATES:
        version = services.template_create(
            actor=demo.cm, name=name, template_description=description,
            owner_team=demo.teams["Change Advisory Board"],
            allowed_ci_classes=[classes[k] for k in allowed if k in classes],
            remediation_action=action, **fields)
        services.template_version_approve(actor=demo.cm, version=version)
        made[name] = version.template
    # Patching was reworked once: v1 is retired, v2 (with a pre-check) is current.
    patching = made["Server OS patching"]
    v2 = services.template_version_create(actor=demo.cm, template=patching)
    services.template_version_update(
        actor=demo.cm, version=v2, expected_minutes=45,
        implementation_plan="0. Check free disk space and the last backup.\n"
        + TEMPLATES[0][2]["implementation_plan"])
    services.template_version_approve(actor=demo.cm, version=v2)
    # A template still being written.
    services.template_create(
        actor=demo.cm, name="Rebuild database indexes",
        template_description="Online index rebuild outside business hours.",
        title="Rebuild indexes", implementation_plan="Run the maintenance plan online.",
        backout_plan="Stop the job; indexes stay usable.", risk="low", expected_minutes=90,
        allowed_ci_classes=[classes["database"]])
    return made


# --- Changes -----------------------------------------------------------------------------

def _new(demo: _Demo, title: str, *, type: str = "normal", category: str,
         team: str, implementer: str | None, cis: tuple[str, ...] = (),
         services_: tuple[str, ...] = (), start: datetime.datetime,
         hours: float = 2, **fields: Any) -> Change:
    values = {
        "justification": fields.pop("justification", f"{title}: planned work."),
        "implementation_plan": fields.pop("implementation_plan",
                                          "Follow the runbook linked in the description."),
        "backout_plan": fields.pop("backout_plan", "Restore from the pre-change backup."),
        "test_plan": fields.pop("test_plan", "Smoke test and monitoring green for 30 min."),
    }
    # Engineers raise their own changes; the change manager (who opens them here) stays
    # free to approve them.
    requester = demo.users.get(implementer or "resolver")
    return services.change_create(
        actor=demo.cm, type=type, title=title, category=demo.categories[category],
        requester=requester,
        assignment_group=demo.teams[team],
        assignee=demo.users.get(implementer) if implementer else None,
        cis=demo.ci(*cis), services=demo.ci(*services_), planned_start=start,
        planned_end=start + datetime.timedelta(hours=hours), **values, **fields)


def _move(demo: _Demo, change: Change, *states: str, **values: Any) -> Change:
    for state in states:
        change = services.change_transition(actor=demo.cm, change=change, to_state=state,
                                            **(values if state in ("review",) else {}))
    return change


def _assess(demo: _Demo, change: Change, level: int) -> Change:
    return risk.change_assess_risk(actor=demo.cm, change=change, answers=demo.answers[level])


def _vote(change: Change, decision: str, *usernames: str, comment: str = "") -> None:
    tasks = {t.approver.username: t for t in _open_tasks(change)}
    for name in usernames:
        if name in tasks:
            approvals.approval_vote(actor=tasks[name].approver, task=tasks[name],
                                    decision=decision, comment=comment)


def _open_tasks(change: Change) -> list[Any]:
    current = change.approvals.order_by("-created_at", "-id").first()
    if current is None:
        return []
    return list(current.tasks.filter(state=ApprovalState.PENDING).select_related("approver"))


def _history(demo: _Demo) -> None:
    """Closed changes over the last three months, moved back in time."""
    caused = Incident.objects.filter(
        Q(ci__name="pay-app-01") | Q(service__name="Payroll")).order_by("created_at").first()
    for (title, category, team, implementer, cis, services_, result, days,
         kind) in HISTORY:
        start = demo.now - days * DAY
        start = start.replace(hour=21, minute=0)
        change = _new(demo, title, type=kind, category=category, team=team,
                      implementer=implementer, cis=cis, services_=services_, start=start,
                      description=HISTORY_MARK)
        change = _assess(demo, change, demo.rng.choice((0, 0, 1)))
        if kind == "emergency":
            change = _move(demo, change, "authorize", "scheduled", "implement")
            _vote(change, "approve", "incident.manager",
                  comment="Approved after the fact at the next CAB.")
        else:
            change = _move(demo, change, "assess", "authorize")
            change.refresh_from_db()
            if change.state == "authorize":
                approvals.approval_override(actor=demo.cm, change=change, decision="approve",
                                            reason="Approved at the weekly CAB.")
            change.refresh_from_db()
            if change.state == "authorize":
                change = _move(demo, change, "scheduled")
            change = _move(demo, change, "implement")
        change = _move(demo, change, "review", result=result)
        failed = result in ("failed", "backed_out")
        review.change_review_save(
            actor=demo.cm, change=change, result=result,
            deviations="The upgrade script stopped half way; we backed out." if failed else "",
            lessons="Rehearse the backout on the test system first." if failed else
            "Went to plan.", complete=True)
        if title.startswith("Payroll") and caused is not None:
            review.change_mark_caused(actor=demo.cm, change=change, incident=caused)
        change = _move(demo, change, "closed")
        _back_in_time(change, start, hours=2)


def _back_in_time(change: Change, start: datetime.datetime, *, hours: float) -> None:
    opened = start - 6 * DAY
    end = start + datetime.timedelta(hours=hours)
    Change.objects.filter(pk=change.pk).update(
        created_at=opened, planned_start=start, planned_end=end, actual_start=start,
        actual_end=end, closed_at=end + 2 * DAY, risk_assessed_at=opened + HOUR,
        authorized_at=opened + 2 * DAY)
    Activity.objects.filter(object_id=change.pk, content_type__model="change").update(
        created_at=end + DAY)


def _today(demo: _Demo, templates: dict[str, ChangeTemplate], held: CabMeeting) -> None:
    """One or more changes in every state, around today."""
    sunday = demo.local((6 - timezone.localtime(demo.now).weekday()) % 7 or 7, 2)
    # Standard changes from the catalogue, in the shop's Sunday maintenance window; the
    # two web servers overlap on purpose (the calendar and the change show the conflict).
    for server in ("shop-web-01", "shop-web-02"):
        change = services.change_create_from_template(
            actor=demo.cm, template=templates["Server OS patching"], cis=demo.ci(server),
            planned_start=sunday, assignment_group=demo.teams["Server & Cloud"],
            assignee=demo.users["resolver"],
            justification="November security updates.")
        _move(demo, change, "scheduled")
    services.change_create_from_template(
        actor=demo.cm, template=templates["Renew a TLS certificate"],
        cis=demo.ci("mail.aldermoor.example"), planned_start=demo.local(9, 20),
        assignment_group=demo.teams["Application Support"],
        assignee=demo.users["problem.manager"], justification="Expires in 64 days.")
    # New and in assessment.
    _new(demo, "Upgrade Order API to 3.5", category="Application release",
         team="Application Support", implementer="problem.manager",
         cis=("order-api-01",), services_=("Online Ordering",), start=demo.local(12, 21),
         justification="3.4 leaves support in January; 3.5 fixes the basket timeout.")
    assess = _new(demo, "Migrate payroll-db to SQL Server 2022 CU16", category="Database",
                  team="Database Administration", implementer=None, cis=("payroll-db",),
                  services_=("Payroll",), start=demo.local(8, 19), hours=3,
                  outage_expected=True, outage_minutes=45)
    assess = _move(demo, assess, "assess")
    _assess(demo, assess, 1)
    # Awaiting the CAB: one vote of four so far; another where information was asked.
    switch = _new(demo, "Replace the supervisor module in core-sw-ldn-01",
                  category="Network", team="Network Operations", implementer="cab",
                  cis=("core-sw-ldn-01",), start=demo.local(7, 22), hours=2.5,
                  outage_expected=True, outage_minutes=20,
                  justification="The module logs ECC memory errors (vendor case 4471).")
    switch = _assess(demo, _move(demo, switch, "assess"), 2)
    switch = _move(demo, switch, "authorize")
    _vote(switch, "approve", "incident.manager", comment="Fine if the DR link is checked.")
    tls = _new(demo, "Allow TLS 1.3 only on lb-ldn-01", category="Security",
               team="Network Operations", implementer="cab", cis=("lb-ldn-01",),
               services_=("Online Ordering",), start=demo.local(10, 21))
    tls = _assess(demo, _move(demo, tls, "assess"), 1)
    tls = _move(demo, tls, "authorize")
    _vote(tls, "info", "problem.manager",
          comment="Which payment terminals still use TLS 1.2? List them first.")
    # Approved by the CAB, scheduled.
    memory = _new(demo, "Add 32 GB memory to epr-app-01", category="Infrastructure",
                  team="Server & Cloud", implementer="resolver", cis=("epr-app-01",),
                  services_=("Clinical Records",), start=demo.local(4, 21))
    memory = _assess(demo, _move(demo, memory, "assess"), 1)
    memory = _move(demo, memory, "authorize")
    _vote(memory, "approve", "cab", comment="Fine: the second node carries the load.")
    # Rejected by the CAB: back in assessment.
    vpn = _new(demo, "Switch off the legacy VPN concentrator", category="Network",
               team="Network Operations", implementer="cab", start=demo.local(5, 20))
    vpn = _assess(demo, _move(demo, vpn, "assess"), 1)
    vpn = _move(demo, vpn, "authorize")
    # Last week's CAB decided both: approved, and rejected (back to assessment).
    for change, decision, notes in (
            (memory, "approved", "Approved; do it after the evening clinic list."),
            (vpn, "rejected", "40 field engineers still use it: migrate them first.")):
        item = cab.cab_item_add(actor=demo.cm, meeting=held, change=change)
        cab.cab_record_decision(actor=demo.cm, item=item, decision=decision, notes=notes)
    cab.cab_meeting_hold(actor=demo.cm, meeting=held)
    # An emergency change being implemented before its approval (after the fact).
    fire = _new(demo, "Emergency: replace the expired payment gateway certificate",
                type="emergency", category="Security", team="Application Support",
                implementer="problem.manager", cis=("shop.aldermoor.example",),
                services_=("Online Ordering",), start=demo.now - 20 * MINUTE, hours=1,
                justification="Card payments fail since 06:00.")
    fire = _assess(demo, fire, 2)
    _move(demo, fire, "authorize", "scheduled", "implement")
    # In review, and cancelled.
    exch = _new(demo, "Exchange Hybrid CU15", category="Application release",
                team="Application Support", implementer="problem.manager",
                cis=("exch-hyb-01",), services_=("Email & Collaboration",),
                start=demo.now - 2 * DAY)
    exch = _assess(demo, _move(demo, exch, "assess"), 0)
    exch = _move(demo, exch, "authorize")
    approvals.approval_override(actor=demo.cm, change=exch, decision="approve",
                                reason="Low risk, approved by the change manager.")
    exch.refresh_from_db()
    exch = _move(demo, exch, *(["scheduled"] if exch.state == "authorize" else []),
                 "implement")
    exch = _move(demo, exch, "review", result="successful_with_issues")
    review.change_review_save(actor=demo.cm, change=exch, result="successful_with_issues",
                              deviations="The hybrid wizard needed a second run.")
    dropped = _new(demo, "Decommission intranet-01", category="Infrastructure",
                   team="Server & Cloud", implementer="resolver", cis=("intranet-01",),
                   start=demo.local(20, 21))
    services.change_transition(actor=demo.cm, change=dropped, to_state="cancelled",
                               note="SharePoint moves to the cloud next year instead.")


def _thursday(demo: _Demo) -> datetime.datetime:
    """Next Thursday 14:00 in London (the weekly CAB)."""
    local_now = timezone.localtime(demo.now, timezone=_zone(LONDON))
    return (local_now + datetime.timedelta(days=(3 - local_now.weekday()) % 7 or 7)).replace(
        hour=14, minute=0, second=0, microsecond=0)


def _held_meeting(demo: _Demo) -> CabMeeting:
    """Last week's CAB, with minutes (its decisions are recorded by ``_today``)."""
    held_at = _thursday(demo) - 7 * DAY
    held = cab.cab_meeting_create(
        actor=demo.cm, title="Weekly CAB", starts_at=held_at, ends_at=held_at + HOUR,
        agenda_from=held_at - 7 * DAY, agenda_to=held_at + 14 * DAY,
        location="Room 4.12 / Teams", chair=demo.cm)
    cab.cab_minutes_save(actor=demo.cm, meeting=held, minutes=(
        "Present: Mei Tanaka (chair), Daniel Brooks, Grace Okafor, Henrik Lund.\n"
        "- Year-end freeze confirmed from 18 December 18:00.\n"
        "- Reviewed last month's failed changes: rehearse backouts on test first."))
    return held


def _upcoming_meeting(demo: _Demo) -> None:
    """This week's CAB, its agenda built from the changes awaiting authorisation."""
    thursday = _thursday(demo)
    upcoming = cab.cab_meeting_create(
        actor=demo.cm, title="Weekly CAB", starts_at=thursday, ends_at=thursday + HOUR,
        agenda_from=demo.now, agenda_to=demo.now + 21 * DAY, location="Room 4.12 / Teams",
        chair=demo.cm)
    cab.cab_agenda_build(actor=demo.cm, meeting=upcoming)
