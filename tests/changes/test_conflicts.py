"""Conflict detection (overlap through CI relationships, maintenance fit, freezes) and the
freeze rule of the scheduling guard."""

import datetime as dt

import pytest
from django.utils import timezone

from audit.models import AuditEntry
from changes.conflicts import (
    conflicts_check,
    conflicts_detect,
    conflicts_refresh,
    freeze_problems,
    reschedule_problems,
)
from changes.models import ChangeConflict, ChangeSettings
from changes.workflow import CHANGE_WORKFLOW
from itsm.errors import DomainError, NotPermitted
from tests.changes.schedule_helpers import (
    PARIS,
    app,
    at,
    link,
    make_change,
    server,
    service,
    window,
)
from tests.factories import UserFactory

START, END = at(2026, 6, 7, 1), at(2026, 6, 7, 3)  # a Sunday, 03:00–05:00 Paris


@pytest.fixture(autouse=True)
def _utc():
    # Reasons show times in the acting person's zone (named).
    with timezone.override("UTC"):
        yield


@pytest.fixture
def manager(db):
    return UserFactory(username="cm", roles=["change_manager"])


@pytest.fixture
def graph(db):
    """web-01 runs on esx-02, which also hosts app-02; Email depends on web-01; db-09 is
    three links from web-01 (web-01 → esx-02 → san-01 → db-09)."""
    nodes = {name: server(name) for name in ("esx-02", "san-01")}
    nodes.update({name: app(name) for name in ("web-01", "app-02", "db-09", "lonely")})
    nodes["email"] = service("Email")
    link(nodes["web-01"], "runs_on", nodes["esx-02"])
    link(nodes["app-02"], "runs_on", nodes["esx-02"])
    link(nodes["esx-02"], "depends_on", nodes["san-01"])
    link(nodes["db-09"], "depends_on", nodes["san-01"])
    link(nodes["email"], "depends_on", nodes["web-01"])
    return nodes


def kinds(found):
    return [item.kind for item in found]


# --- Overlap -----------------------------------------------------------------------------

def test_overlapping_changes_on_the_same_ci(manager, graph):
    mine = make_change(manager, "Patch web", start=START, end=END, cis=(graph["web-01"],))
    other = make_change(manager, "Restart web", start=at(2026, 6, 7, 2),
                        end=at(2026, 6, 7, 4), cis=(graph["web-01"],))
    found = conflicts_detect(mine)
    assert kinds(found) == ["overlap"]
    assert found[0].other_change == other and found[0].ci == graph["web-01"]
    assert f"{other.number} “Restart web”" in found[0].reason
    assert "both change web-01" in found[0].reason
    assert not found[0].blocking


def test_one_link_is_named_with_its_direction(manager, graph):
    mine = make_change(manager, start=START, end=END, cis=(graph["web-01"],))
    make_change(manager, "Firmware", start=START, end=END, cis=(graph["esx-02"],))
    [found] = conflicts_detect(mine)
    assert "web-01 runs on esx-02 (1 link)" in found.reason
    # and from the host's side
    host_change = make_change(manager, start=START, end=END, cis=(graph["esx-02"],))
    reasons = [item.reason for item in conflicts_detect(host_change)]
    assert any("esx-02 hosts web-01 (1 link)" in reason for reason in reasons)


def test_a_chain_within_the_depth_conflicts_and_beyond_it_does_not(manager, graph):
    mine = make_change(manager, start=START, end=END, cis=(graph["web-01"],))
    sibling = make_change(manager, "App upgrade", start=START, end=END,
                          cis=(graph["app-02"],))
    far = make_change(manager, "DB upgrade", start=START, end=END, cis=(graph["db-09"],))
    found = conflicts_detect(mine)  # default depth 2
    assert [item.other_change for item in found] == [sibling]
    assert "web-01 runs on esx-02, which hosts app-02 (2 links)" in found[0].reason
    ChangeSettings.objects.create(conflict_depth=3)
    assert {item.other_change for item in conflicts_detect(mine)} == {sibling, far}
    ChangeSettings.objects.update(conflict_depth=0)
    assert conflicts_detect(mine) == []


def test_services_count_and_non_overlapping_closed_or_cancelled_changes_do_not(manager,
                                                                                graph):
    mine = make_change(manager, start=START, end=END, services=(graph["email"],))
    make_change(manager, "Later", start=END, end=END + dt.timedelta(hours=1),
                cis=(graph["web-01"],))
    make_change(manager, "Cancelled", start=START, end=END, cis=(graph["web-01"],),
                state="cancelled")
    make_change(manager, "Closed", start=START, end=END, cis=(graph["web-01"],),
                state="closed")
    make_change(manager, "Unrelated", start=START, end=END, cis=(graph["lonely"],))
    assert conflicts_detect(mine) == []
    current = make_change(manager, "Web fix", start=START, end=END, cis=(graph["web-01"],),
                          state="scheduled")
    [found] = conflicts_detect(mine)
    assert found.other_change == current
    assert "Email depends on web-01 (1 link)" in found.reason


def test_a_preview_uses_the_dates_given(manager, graph):
    mine = make_change(manager, cis=(graph["web-01"],))
    make_change(manager, start=START, end=END, cis=(graph["web-01"],))
    assert conflicts_detect(mine) == []  # not planned yet
    assert kinds(conflicts_detect(mine, START, END)) == ["overlap"]


def test_detection_reads_a_bounded_number_of_queries(manager, graph,
                                                     django_assert_max_num_queries):
    mine = make_change(manager, start=START, end=END, cis=(graph["web-01"], graph["app-02"]),
                       services=(graph["email"],))
    for index in range(8):
        make_change(manager, f"Other {index}", start=START, end=END,
                    cis=(graph["esx-02"], graph["san-01"]))
    window("maintenance", START, END, ci=graph["web-01"])
    window("freeze", START, END, ci=graph["email"])
    with django_assert_max_num_queries(16):
        found = conflicts_detect(mine)
    assert kinds(found).count("overlap") == 8


# --- Maintenance ---------------------------------------------------------------------------

def test_a_change_inside_a_maintenance_occurrence_fits(manager, graph):
    window("maintenance", at(2026, 3, 22, 2, tz=PARIS), at(2026, 3, 22, 6, tz=PARIS),
           ci=graph["web-01"], recurrence="weekly", tz="Europe/Paris", name="Sunday")
    mine = make_change(manager, start=START, end=END, cis=(graph["web-01"],))
    assert conflicts_detect(mine) == []


def test_a_change_outside_its_maintenance_windows_names_the_next_ones(manager, graph):
    sunday = window("maintenance", at(2026, 3, 22, 2, tz=PARIS),
                    at(2026, 3, 22, 6, tz=PARIS), ci=graph["web-01"], recurrence="weekly",
                    tz="Europe/Paris", name="Sunday")
    # runs past the window's end (06:00 Paris = 04:00 UTC)
    mine = make_change(manager, start=START, end=at(2026, 6, 7, 5),
                       cis=(graph["web-01"], graph["app-02"]))
    [found] = conflicts_detect(mine)
    assert found.kind == "outside_maintenance" and found.ci == graph["web-01"]
    assert found.window == sunday
    assert found.reason.startswith("web-01: 2026-06-07 01:00–05:00 UTC is outside its "
                                   "maintenance windows (next: Sun 2026-06-07 02:00–06:00 "
                                   "Europe/Paris, Sun 2026-06-14 02:00–06:00 Europe/Paris")


def test_back_to_back_windows_of_a_ci_count_as_one(manager, graph):
    window("maintenance", at(2026, 6, 6, 22), at(2026, 6, 7, 2), ci=graph["web-01"])
    window("maintenance", at(2026, 6, 7, 2), at(2026, 6, 7, 6), ci=graph["web-01"])
    mine = make_change(manager, start=START, end=END, cis=(graph["web-01"],))
    assert conflicts_detect(mine) == []


def test_inactive_and_finished_maintenance_windows_are_ignored(manager, graph):
    window("maintenance", at(2026, 1, 1), at(2026, 1, 1, 2), ci=graph["web-01"])
    window("maintenance", at(2026, 6, 1), at(2026, 6, 1, 2), ci=graph["web-01"],
           recurrence="daily", is_active=False)
    mine = make_change(manager, start=START, end=END, cis=(graph["web-01"],))
    assert conflicts_detect(mine) == []


# --- Freezes -------------------------------------------------------------------------------

def test_a_global_freeze_conflicts_and_blocks(manager, graph):
    freeze = window("freeze", at(2026, 6, 1), at(2026, 6, 15), name="Release freeze",
                    reason="Quarter end")
    mine = make_change(manager, start=START, end=END, cis=(graph["lonely"],))
    [found] = conflicts_detect(mine)
    assert found.kind == "freeze" and found.window == freeze and found.blocking
    assert found.ci is None
    assert "“Release freeze”" in found.reason and "applies everywhere" in found.reason
    assert "Why: Quarter end" in found.reason


def test_a_freeze_on_an_affected_service(manager, graph):
    window("freeze", at(2026, 6, 1), at(2026, 6, 15), ci=graph["email"], name="Email freeze")
    mine = make_change(manager, start=START, end=END, services=(graph["email"],))
    [found] = conflicts_detect(mine)
    assert "“Email freeze” on Email" in found.reason and found.ci == graph["email"]
    other = make_change(manager, start=START, end=END, cis=(graph["lonely"],))
    assert conflicts_detect(other) == []


def test_a_freeze_on_a_service_that_depends_on_an_affected_ci(manager, graph):
    window("freeze", at(2026, 6, 1), at(2026, 6, 15), ci=graph["email"], name="Email freeze")
    host_change = make_change(manager, start=START, end=END, cis=(graph["esx-02"],))
    [found] = conflicts_detect(host_change)
    assert found.kind == "freeze" and found.ci == graph["esx-02"]
    assert "esx-02 hosts web-01, which used by Email (2 links)" in found.reason
    # only upstream: Email does not depend on the SAN's other user db-09
    db_change = make_change(manager, start=START, end=END, cis=(graph["db-09"],))
    assert "freeze" not in kinds(conflicts_detect(db_change))


def test_a_recurring_freeze_only_conflicts_when_an_occurrence_overlaps(manager, graph):
    window("freeze", at(2026, 1, 31, 18), at(2026, 2, 1, 6), recurrence="monthly",
           name="Month end")
    mine = make_change(manager, start=START, end=END, cis=(graph["web-01"],))
    assert conflicts_detect(mine) == []
    assert kinds(conflicts_detect(mine, at(2026, 5, 31, 20), at(2026, 5, 31, 21))) == [
        "freeze"]


# --- Stored conflicts ------------------------------------------------------------------------

def test_refresh_replaces_the_stored_rows(manager, graph):
    mine = make_change(manager, start=START, end=END, cis=(graph["web-01"],))
    other = make_change(manager, start=START, end=END, cis=(graph["web-01"],))
    window("freeze", at(2026, 6, 1), at(2026, 6, 15))
    rows = conflicts_refresh(change=mine)
    assert sorted(row.kind for row in rows) == ["freeze", "overlap"]
    assert ChangeConflict.objects.filter(change=mine).count() == 2
    other.planned_start, other.planned_end = at(2026, 7, 1), at(2026, 7, 1, 1)
    other.save()
    conflicts_refresh(change=mine)
    assert list(ChangeConflict.objects.filter(change=mine).values_list("kind", flat=True)) == [
        "freeze"]


def test_check_again_is_for_desk_staff_and_audited(manager, graph, requester):
    mine = make_change(manager, start=START, end=END, cis=(graph["web-01"],))
    window("freeze", at(2026, 6, 1), at(2026, 6, 15), name="June")
    rows = conflicts_check(actor=manager, change=mine)
    assert len(rows) == 1
    entry = AuditEntry.objects.filter(content_type__model="change",
                                      object_id=str(mine.pk)).latest("id")
    assert entry.message == "Conflicts checked: 1 found"
    assert entry.changes["conflicts"][0] == [] and "June" in entry.changes["conflicts"][1][0]
    with pytest.raises(NotPermitted):
        conflicts_check(actor=requester, change=mine)


# --- The freeze guard ---------------------------------------------------------------------

def test_scheduling_into_a_freeze_is_refused_with_the_reason(manager, graph):
    window("freeze", at(2026, 6, 1), at(2026, 6, 15), name="Release freeze")
    mine = make_change(manager, cis=(graph["web-01"],), backout_plan="Roll back")
    problems = freeze_problems(mine, {"planned_start": START, "planned_end": END})
    assert problems == {"planned_start": [
        "Inside the change freeze “Release freeze” (Mon 2026-06-01 00:00–Mon 2026-06-15 "
        "00:00 UTC), which applies everywhere.",
        "Scheduling into a change freeze needs an authorised emergency change with a reason "
        "to override the freeze."]}
    assert freeze_problems(mine, {"planned_start": at(2026, 6, 20),
                                  "planned_end": at(2026, 6, 20, 1)}) is None
    assert freeze_problems(mine, {}) is None  # no dates: their own guard speaks
    assert reschedule_problems(mine, START, END) == problems


def test_the_workflow_guard_uses_the_freeze_rule(manager, graph):
    window("freeze", at(2026, 6, 1), at(2026, 6, 15), name="Release freeze")
    mine = make_change(manager, cis=(graph["web-01"],), backout_plan="Roll back",
                       start=START, end=END, state="authorize")
    mine.authorized_at = at(2026, 5, 1)
    with pytest.raises(DomainError) as raised:
        CHANGE_WORKFLOW.check(mine, "scheduled", manager, {})
    assert raised.value.code == "guard_failed"
    assert "Release freeze" in raised.value.fields["planned_start"][0]


@pytest.mark.parametrize("type_, reason, authorised, retro, allowed", [
    ("emergency", "Security fix cannot wait", True, False, True),
    ("emergency", "Security fix cannot wait", False, True, True),
    ("emergency", "   ", True, False, False),
    ("emergency", "Security fix cannot wait", False, False, False),
    ("normal", "Security fix cannot wait", True, False, False),
])
def test_the_emergency_override_needs_a_reason_and_authorisation(manager, graph, type_,
                                                                 reason, authorised, retro,
                                                                 allowed):
    window("freeze", at(2026, 6, 1), at(2026, 6, 15), name="Release freeze")
    mine = make_change(manager, type=type_, cis=(graph["web-01"],),
                       authorized_at=at(2026, 5, 1) if authorised else None,
                       retro_approval_due=at(2026, 6, 10) if retro else None)
    values = {"planned_start": START, "planned_end": END, "freeze_override_reason": reason}
    assert (freeze_problems(mine, values) is None) is allowed
    # the reason may also be on the change itself
    mine.freeze_override_reason = reason
    assert (freeze_problems(mine, {"planned_start": START, "planned_end": END}) is None) \
        is allowed
    mine.planned_start, mine.planned_end = START, END
    assert all(item.blocking is not allowed for item in conflicts_detect(mine))
