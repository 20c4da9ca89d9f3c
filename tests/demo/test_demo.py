"""What the demo organisation (``manage.py load_demo``) shows, practice by practice.

Loading the demo takes seconds (several on PostgreSQL), so it is loaded once for this
module: ``loaded_demo`` runs the command inside an outer transaction that is rolled back
when the module is done, and each test's own transaction (the ``db`` fixture) is a
savepoint inside it, so a test may write without the next one seeing it. The load runs
its commit hooks (inbox rows, emails) as a real load does.
"""

import datetime
import io

import pytest
from django.contrib.auth import get_user_model
from django.core import mail
from django.core.management import call_command
from django.db import transaction
from django.test import TestCase
from django.utils import timezone

from accounts.models import Team
from audit.context import acting_as_system
from audit.models import AuditEntry
from changes.models import Change
from cmdb import expiry, selectors
from cmdb.models import ConfigurationItem, Installation, Relationship, SoftwareLicence
from demo.cmdb_estate import WORKSTATIONS
from demo.desk_demo import load_saved_views
from demo.escalation_demo import LEVEL_1_TITLE, LEVEL_2_TITLE
from demo.incident_history import HISTORY_MARK
from demo.major_demo import EMAIL_TITLE, PAYROLL_TITLE
from desk.models import SavedView
from incidents import major_selectors, metrics
from incidents.escalation import escalation_history
from incidents.metrics import incident_metrics
from incidents.models import Incident, IncidentState
from incidents.similar import similar_open_incidents
from notifications.models import Notification
from problems.models import Problem
from tickets.models import Watcher
from trends.models import Proposal

User = get_user_model()
UTC = datetime.UTC
MINUTES = datetime.timedelta(minutes=1)
HOURS = datetime.timedelta(hours=1)

pytestmark = [pytest.mark.usefixtures("loaded_demo"), pytest.mark.django_db]


def load_demo_command() -> None:
    call_command("load_demo", "--quiet", stdout=io.StringIO())


def counts() -> dict[str, int]:
    """What a second load must leave as it is."""
    return {
        "users": User.objects.count(),
        "teams": Team.objects.count(),
        "cis": ConfigurationItem.objects.count(),
        "relationships": Relationship.objects.count(),
        "licences": SoftwareLicence.objects.count(),
        "installations": Installation.objects.count(),
        "incidents": Incident.objects.count(),
        "history": Incident.objects.filter(description__endswith=HISTORY_MARK).count(),
        "saved_views": SavedView.objects.count(),
        "notifications": Notification.objects.count(),
        "audit": AuditEntry.objects.count(),
        "changes": Change.objects.count(),
        "problems": Problem.objects.count(),
        "proposals": Proposal.objects.count(),
    }


@pytest.fixture(scope="module")
def loaded_demo(django_db_setup, django_db_blocker):
    with django_db_blocker.unblock():
        before = counts()
        with transaction.atomic():
            with TestCase.captureOnCommitCallbacks(execute=True):
                load_demo_command()
            yield
            transaction.set_rollback(True)
        # The demo must not reach the tests that run after this module.
        assert counts() == before


# --- Loading again ---------------------------------------------------------------------

def test_loading_the_demo_again_changes_nothing(django_capture_on_commit_callbacks):
    # Given the demo loaded once
    first = counts()
    assert first["cis"] > WORKSTATIONS and first["relationships"] > 80
    assert first["history"] > 0
    # When it is loaded again, its commit hooks included
    with django_capture_on_commit_callbacks(execute=True):
        load_demo_command()
    # Then nothing was added (not an incident, a notification, nor an audit entry)
    assert counts() == first
    assert Incident.objects.filter(title=LEVEL_1_TITLE).count() == 1


# --- People and audit ------------------------------------------------------------------

def test_the_management_command_acts_as_the_system():
    entry = AuditEntry.objects.filter(object_repr="Service Desk", action="create").get()
    assert entry.actor is None and entry.actor_label == "system (demo loader)"


# --- CMDB ------------------------------------------------------------------------------

def test_a_core_switch_failing_reaches_the_business_services():
    core = ConfigurationItem.objects.get(name="core-sw-ldn-01")
    impact = selectors.ci_impact(core, direction="up", depth=5)
    reached = {ci.name for ci, _distance in impact.nodes if ci.ci_class.key == "business_service"}
    assert "Online Ordering" in reached and "Payroll" in reached
    assert not impact.truncated
    # and the other way round: what Online Ordering needs reaches the network
    service = ConfigurationItem.objects.get(name="Online Ordering",
                                            ci_class__key="business_service")
    needs = {ci.name for ci, _distance in selectors.ci_impact(service, direction="down",
                                                               depth=5).nodes}
    assert {"orders-db", "pg-ldn-01", "core-sw-ldn-01", "shop.aldermoor.example"} <= needs


def test_the_estate_is_realistic(django_capture_on_commit_callbacks):
    items = ConfigurationItem.objects
    # Every business service, wired to what it runs on
    services = set(items.filter(ci_class__key="business_service").values_list("name", flat=True))
    assert {"Online Ordering", "Payroll", "Email & Collaboration", "Clinical Records",
            "Warehouse Management"} <= services
    # ~200 workstations with serials, most of them assigned to people (and the store PCs
    # remediation's demo adds, all alike)
    workstations = items.filter(ci_class__key="workstation").exclude(name__startswith="ALD-ST-")
    assert workstations.count() == WORKSTATIONS
    assert not workstations.filter(serial_number="").exists()
    assert workstations.filter(assigned_to__isnull=False).count() > 100
    assert items.filter(ci_class__key="mobile_device").exists()
    assert items.filter(ci_class__key="ot_device").count() >= 2
    # Warranties spread over two years, a few within a month
    today = timezone.localdate()
    soon = workstations.filter(warranty_end__lte=today + datetime.timedelta(days=30))
    assert 2 <= soon.count() <= 6
    assert workstations.filter(warranty_end__gt=today + datetime.timedelta(days=365)).exists()
    # One product is over-deployed
    over = [row["product"].name for row in selectors.licence_compliance()
            if row["over_deployed"]]
    assert over == ["Adobe Acrobat Pro"]
    # A certificate ends in five days, so the expiry sweep has something to say
    with django_capture_on_commit_callbacks(execute=True):
        sent = expiry.expiry_warnings_send(today=today)
    assert sent["certificate"] == 1 and sent["warranty"] == soon.count()
    assert any("shop.aldermoor.example" in m.subject for m in mail.outbox)


# --- Incidents -------------------------------------------------------------------------

def test_the_demo_holds_incidents_in_every_state():
    states = set(Incident.objects.values_list("state", flat=True))
    assert states == {s.value for s in IncidentState}
    held = Incident.objects.filter(state="on_hold").first()
    assert held.hold_reason == "awaiting_caller" and held.first_response_at is not None


def test_the_demo_has_duplicates_to_find():
    original = Incident.objects.get(title="Outlook keeps asking for my password")
    found = similar_open_incidents(title=original.title, service=original.service,
                                   exclude=original)
    assert found[0].incident.title == "Outlook asks for my password again and again"


def test_the_demo_gives_believable_metrics():
    quarter = metrics.default_period(90)
    overall = metrics.incident_metrics_overall(period=quarter, tz=UTC)
    assert overall.resolved >= 30
    assert 2 * MINUTES < overall.mtta < 8 * HOURS
    assert HOURS < overall.mttr < 7 * 24 * HOURS
    by_priority = incident_metrics(period=quarter, by="priority", tz=UTC)
    assert by_priority[0].mttr < by_priority[-1].mttr  # P1 is fixed sooner than P4
    assert len(incident_metrics(period=quarter, by="team", tz=UTC)) >= 3
    # The current incidents were given ages too: nothing is acknowledged in milliseconds.
    week = metrics.incident_metrics_overall(period=metrics.default_period(7), tz=UTC)
    assert week.opened >= 5 and week.mtta > 5 * MINUTES
    new = Incident.objects.filter(state="new").order_by("created_at").first()
    opened = new.activities.order_by("created_at").first()
    assert new.created_at < datetime.datetime.now(UTC) - 10 * MINUTES
    assert abs(opened.created_at - new.created_at) < datetime.timedelta(seconds=1)


# --- Major incidents -------------------------------------------------------------------

def test_the_demo_holds_an_ongoing_and_a_reviewed_major_incident(client):
    ongoing = Incident.objects.get(title=EMAIL_TITLE)
    assert ongoing.is_major and ongoing.state in ("new", "assigned", "in_progress")
    assert ongoing.major_manager.username == "incident.manager"
    updates = list(ongoing.stakeholder_updates.order_by("created_at"))
    assert len(updates) == 3 and updates[0].created_at < updates[-1].created_at
    callers = {child.requester.username for child in ongoing.children.all()}
    assert len(callers) == 4 and "requester" not in callers
    assert Watcher.objects.filter(object_id=ongoing.pk).count() == 3
    done = Incident.objects.get(title=PAYROLL_TITLE)
    assert done.state == "closed" and set(done.children.values_list("state", flat=True)) == {
        "resolved"}
    assert done.review.status == "completed" and done.review.actions.count() == 3
    timeline = major_selectors.review_timeline(done)
    assert len(timeline) > 20 and timeline[0].at < timeline[-1].at
    # The banner greets the demo requester, who can follow it.
    client.force_login(User.objects.get(username="requester"))
    html = client.get("/portal/").content.decode()
    assert EMAIL_TITLE in html and "Get updates" in html


# --- Escalations and inboxes -----------------------------------------------------------

def test_demo_escalations_and_inboxes():
    level_1 = Incident.objects.get(title=LEVEL_1_TITLE)
    level_2 = Incident.objects.get(title=LEVEL_2_TITLE)
    assert (level_1.escalation_level, level_2.escalation_level) == (1, 2)
    assert escalation_history(level_1)[0].told == ["Grace Okafor"]
    assert [step.source for step in escalation_history(level_2)] == ["manual", "sla"]
    unread = Notification.objects.filter(read_at__isnull=True)
    agent, requester = (User.objects.get(username=name) for name in ("agent", "requester"))
    agent_kinds = set(unread.filter(recipient=agent).values_list("kind", flat=True))
    assert {"incident.routed", "incident.assigned"} <= agent_kinds
    requester_kinds = set(unread.filter(recipient=requester).values_list("kind", flat=True))
    assert {"incident.commented", "incident.resolved"} <= requester_kinds
    escalated = unread.filter(recipient__username="incident.manager",
                              kind="incident.escalated")
    # The two demo escalations, and any the demo's SLA breaches made (sla_demo).
    assert {LEVEL_1_TITLE, LEVEL_2_TITLE} <= {
        title for n in escalated for title in (LEVEL_1_TITLE, LEVEL_2_TITLE)
        if title in n.subject}
    assert escalated.count() == 2 + Incident.objects.filter(
        escalation_level__gt=0).exclude(title__in=[LEVEL_1_TITLE, LEVEL_2_TITLE]).count()


# --- Desk: saved views -----------------------------------------------------------------

def test_demo_has_shared_views_of_both_lists_once():
    with acting_as_system("demo loader"):
        load_saved_views()  # again: nothing new
    views = set(SavedView.objects.values_list("list_key", "name", "shared"))
    assert views == {("incidents.incident", "Critical (P1)", True),
                     ("incidents.incident", "On hold", True),
                     ("incidents.incident", "Network backlog", False),
                     ("cmdb.ci", "Production servers", True)}
    network = SavedView.objects.get(name="Network backlog")
    assert network.query.startswith("assignment_group=") and network.owner.username == "agent"


# --- Service levels -------------------------------------------------------------------

def test_demo_shows_tickets_in_every_sla_condition():
    from demo.sla_demo import NEXT_UPDATE_TITLE, PAUSED_TITLE, REEVALUATED_TITLE
    from sla.engine import timers_of
    from sla.models import Agreement, Holiday, Timer, TimerState

    assert set(Agreement.objects.values_list("kind", flat=True)) == {"sla", "ola", "uc"}
    assert Holiday.objects.filter(calendar__name="Office hours", name__icontains="Christmas",
                                  date__month=12, date__day=25).exists()
    states = set(Timer.objects.values_list("state", flat=True))
    assert states == {s.value for s in TimerState}
    running = Timer.objects.filter(state=TimerState.RUNNING)
    assert running.filter(warned_percent=0).exists()  # on track
    assert running.filter(warned_percent__gt=0, warned_percent__lt=100).exists()  # at risk
    assert running.filter(breached_at__isnull=False).exists()  # breached, still open
    paused = timers_of(Incident.objects.get(title=PAUSED_TITLE))
    assert any(t.state == TimerState.PAUSED and t.pause_reason == "on_hold:awaiting_caller"
               for t in paused)
    assert any(t.metric == "first_response" and t.state == TimerState.MET for t in paused)
    changed = timers_of(Incident.objects.get(title=REEVALUATED_TITLE))
    assert any(t.state == TimerState.CANCELLED and "Critical (P1)" in t.cancelled_reason
               for t in changed)
    assert any(t.agreement.name == "Critical (P1)" and t.is_active for t in changed)
    waiting = timers_of(Incident.objects.get(title=NEXT_UPDATE_TITLE))
    assert any(t.metric == "next_update" and t.state == TimerState.RUNNING for t in waiting)
    at_risk = Incident.objects.filter(sla_warned__gt=0, state__in=["new", "assigned",
                                                                   "in_progress", "on_hold"])
    assert at_risk.exists()


def test_demo_shows_service_availability():
    from availability.models import AvailabilityTarget, MaintenanceWindow, Outage

    assert AvailabilityTarget.objects.count() == 6
    assert Outage.objects.filter(source_incident__isnull=False).exists()  # from a major one
    assert Outage.objects.filter(source_incident__isnull=True).count() == 3
    assert MaintenanceWindow.objects.filter(starts_at__gt=timezone.now()).exists()


def test_demo_holds_changes_in_every_state_and_a_populated_calendar(client):
    from changes.models import (
        ApprovalRequest,
        CabAgendaItem,
        ChangeConflict,
        ChangeState,
        ChangeTemplateVersion,
        ScheduleWindow,
    )
    from changes.schedule import forward_schedule

    states = set(Change.objects.values_list("state", flat=True))
    assert states == set(ChangeState.values)
    assert set(Change.objects.values_list("type", flat=True)) == {
        "standard", "normal", "emergency"}
    # The catalogue shows an approved, a retired and a draft version.
    assert {"approved", "retired", "draft"} <= set(
        ChangeTemplateVersion.objects.values_list("status", flat=True))
    # Approval rounds in every outcome, an approval after the fact, CAB decisions.
    assert {"pending", "approved", "rejected", "info_requested"} <= set(
        ApprovalRequest.objects.values_list("state", flat=True))
    assert ApprovalRequest.objects.filter(retrospective=True).exists()
    assert CabAgendaItem.objects.filter(decision="approved").exists()
    assert CabAgendaItem.objects.filter(meeting__status="planned").exists()
    # Windows of both kinds; a conflict to show; history for the success rates.
    assert {"maintenance", "freeze"} == set(ScheduleWindow.objects.values_list("kind",
                                                                                flat=True))
    assert ChangeConflict.objects.exists()
    assert Change.objects.filter(state="closed", result="failed").exists()
    assert Change.objects.filter(caused_incidents__isnull=False).exists()
    now = timezone.now()
    entries = forward_schedule(now, now + datetime.timedelta(days=31))
    assert {"change", "maintenance", "freeze"} <= {entry.kind for entry in entries}
    # The business approver sees two changes waiting on the portal.
    client.force_login(User.objects.get(username="requester"))
    page = client.get("/portal/approvals/")
    assert page.status_code == 200 and page.content.decode().count("CHG") >= 2


def test_demo_shows_a_fleet_of_devices(client):
    from cmdb.models import Installation
    from fleet.models import Agent, EnrolmentSecret, Inventory, LiveAnswer, SigningKey

    assert SigningKey.objects.filter(retired_at__isnull=True).exists()
    agents = Agent.objects.select_related("device")
    assert agents.count() >= 10
    assert agents.filter(online=True).exists() and agents.filter(online=False).exists()
    # Enrolled onto the demo's existing CMDB records, not new ones.
    assert all(not agent.device.name.startswith("bench-") for agent in agents)
    assert Inventory.objects.exclude(snapshot={}).exists()
    assert Installation.objects.filter(device__agent__isnull=False).exists()
    assert LiveAnswer.objects.filter(matched=True).exists()
    assert EnrolmentSecret.objects.filter(revoked_at__isnull=False).exists()
    client.force_login(User.objects.get(username="agent"))
    page = client.get("/desk/fleet/")
    assert page.status_code == 200 and agents.first().hostname in page.content.decode()



def test_demo_remediation_library_store_incident_and_a_finished_run():
    from changes.models import ChangeTemplateVersion
    from remediation import runs
    from remediation.authority import Authority
    from remediation.models import ActionVersion, Run

    statuses = set(ActionVersion.objects.values_list("action__name", "status"))
    assert {("flush-dns", "approved"), ("restart-service", "retired"),
            ("restart-service", "approved"), ("clear-teams-cache", "draft")} <= statuses
    incident = Incident.objects.get(title="Card payments time out at store tills")
    template = ChangeTemplateVersion.objects.get(remediation_action="flush-dns",
                                                 status="approved")
    flush = ActionVersion.objects.get(action__name="flush-dns", status="approved")
    found = runs.run_preview(version=flush, targets={"ticket": True},
                             authority=Authority("template", template_version=template,
                                                 incident=incident))
    assert len(found.eligible) == 2000 and found.offline == 0 and not found.excluded
    finished = Run.objects.get(version__action__name="restart-service")
    assert finished.state == "completed"
    counts_by_state = runs.progress(finished)["counts"]
    assert counts_by_state["failed"] == 1 and counts_by_state["succeeded"] >= 5
    note = finished.change.activities.filter(kind="work_note").order_by("pk").last()
    assert finished.reference in note.body and "1 failed" in note.body


# --- Problems --------------------------------------------------------------------------

def test_the_demo_problems_span_the_lifecycle_with_known_errors_and_fixes():
    from demo.problems_demo import PROBLEMS
    from tickets.models import Activity

    problems = {p.title: p for p in Problem.objects.prefetch_related("incidents")}
    assert len(problems) == len(PROBLEMS) and 6 <= len(problems) <= 8
    assert {p.state for p in problems.values()} >= {"new", "assess", "rca", "fix_in_progress",
                                                    "resolved", "closed"}
    assert all(p.number.startswith("PRB") for p in problems.values())
    known = [p for p in problems.values() if p.known_error]
    assert len(known) >= 3 and all(p.workaround and p.known_error_at for p in known)
    assert sum(1 for p in problems.values() if p.incidents.all()) >= 6
    assert any(len(p.five_whys) >= 5 for p in problems.values())
    not_found = [p for p in problems.values() if p.cause_not_found]
    assert any(p.state == "closed" and p.cause_not_found_reason for p in not_found)
    assert any(p.fix_change_id for p in problems.values())
    # The known error's workaround reached the callers of its open incidents.
    vpn = problems["VPN sessions drop after about an hour for home workers"]
    open_incident = vpn.incidents.get(title="Cannot connect to VPN from home")
    assert Activity.objects.filter(content_type__model="incident", object_id=open_incident.pk,
                                   kind="comment", public=True,
                                   body__contains="TCP 443").exists()
    assert vpn.state == "fix_in_progress" and open_incident.state != "resolved"


def test_the_demo_fixes_a_known_error_everywhere_with_a_finished_read_only_run():
    from demo.kedb_demo import PROBLEM_TITLE
    from problems import kedb
    from remediation import runs

    problem = Problem.objects.get(title=PROBLEM_TITLE)
    run = problem.remediation_runs.get()
    assert run.authority_kind == "problem" and run.state == "completed"
    assert run.targets == {"ticket": "problem"}
    counts_by_state = runs.progress(run)["counts"]
    assert counts_by_state["failed"] == 1 and counts_by_state["succeeded"] >= 5
    note = problem.activities.filter(kind="work_note").order_by("pk").last()
    assert run.reference in note.body and "1 failed" in note.body
    # The known errors are found by what the desk types and picks.
    email = problem.services.get(name="Email & Collaboration")
    found = kedb.known_error_suggestions(title="Outlook keeps asking for my password",
                                         service=email)
    assert found and found[0].problem == problem and "same service" in found[0].reasons
    assert problem in [s.problem for s in kedb.known_errors_search("outlook")]


def test_demo_knowledge_base(client):
    from knowledge.models import Article, ArticleState, VersionState
    from knowledge.search import articles_search

    # Given the demo's knowledge base
    articles = Article.objects.all()
    assert articles.filter(state=ArticleState.PUBLISHED).count() >= 18
    assert articles.filter(state=ArticleState.REVIEW).count() == 1
    assert articles.filter(state=ArticleState.RETIRED).count() == 1
    assert articles.filter(audience="staff", state=ArticleState.PUBLISHED).count() >= 2
    assert articles.filter(state=ArticleState.PUBLISHED,
                           next_review_at__lte=timezone.now()).count() == 1
    vpn = articles.get(title="Connect to the VPN from home")
    assert vpn.versions.filter(state=VersionState.DRAFT).exists()
    assert articles.filter(helpful_count__gt=0).exists()
    # When a requester searches the way people type
    requester = User.objects.get(username="requester")
    found = articles_search("vpn wont connect", user=requester)
    # Then the right article comes first and staff runbooks stay hidden
    assert found[0] == vpn
    assert not [a for a in articles_search("till synchronising", user=requester)
                if a.audience == "staff"]
    assert User.objects.get(username="knowledge.manager").has_perm(
        "knowledge.publish_article")
    client.force_login(requester)
    page = client.get("/portal/knowledge/")
    assert page.status_code == 200 and "Tills &amp; point of sale" in page.content.decode()


def test_the_demo_known_errors_are_in_the_knowledge_base():
    from knowledge.models import ArticleState
    from problems.publishing import known_error_article

    known_errors = list(Problem.objects.filter(known_error=True))
    assert len(known_errors) >= 3
    for problem in known_errors:
        article = known_error_article(problem)
        assert article.state == ArticleState.PUBLISHED and article.audience == "everyone"
        assert article.category.slug == "known-errors"
        assert problem.workaround.strip() in article.current_version.body


def test_demo_shows_trend_proposals_open_and_one_dismissed(client):
    from demo.trends_demo import ACCESS_POINT, TEAMS_CALLS, WAREHOUSE, WAREHOUSE_CI

    open_ones = Proposal.objects.filter(state="open")
    by_ci = open_ones.get(kind="ci", ci__name=WAREHOUSE_CI)
    assert {i.title for i in by_ci.incidents.all()} == {row[0] for row in WAREHOUSE}
    text = open_ones.get(kind="text", incidents__title=TEAMS_CALLS[0][0])
    assert {row[0] for row in TEAMS_CALLS} <= {i.title for i in text.incidents.all()}
    dismissed = Proposal.objects.get(state="dismissed")
    assert dismissed.ci.name == ACCESS_POINT and dismissed.dismiss_reason
    assert dismissed.decided_by.username == "problem.manager"
    client.force_login(User.objects.get(username="problem.manager"))
    page = client.get("/desk/trends/").content.decode()
    assert by_ci.title in page and text.title in page and "Accept: open a problem" in page
    history = client.get("/desk/trends/?state=dismissed").content.decode()
    assert dismissed.dismiss_reason in history
