"""The change record through its services: every pair of states, each guard naming its
field, standard changes from approved templates, template versions, bad input."""

import itertools

import pytest
from django.contrib.contenttypes.models import ContentType

from audit.models import AuditEntry
from changes import services
from changes.models import Change, ChangeReview, ChangeState, ChangeTemplateVersion
from changes.workflow import CHANGE_WORKFLOW
from itsm.errors import DomainError, NotPermitted
from tests.cmdb.factories import CIFactory, ci_class

from .conftest import normal_change, soon

# The type a change must have for each declared move (the workflow limits some moves to
# one type); any type for the others.
TYPE_FOR = {("new", "assess"): "normal", ("new", "authorize"): "emergency",
            ("new", "scheduled"): "standard", ("authorize", "assess"): "normal"}


def _ready(change: Change, state: str, type_: str, template) -> Change:
    """Put ``change`` in ``state`` with every guard of every move satisfied."""
    version = services.template_current_version(template) if type_ == "standard" else None
    Change.objects.filter(pk=change.pk).update(
        state=state, type=type_, template_version=version, risk="low",
        authorized_at=soon(days=-1), planned_start=soon(hours=-1), planned_end=soon(hours=1),
        backout_plan="Restore", result="successful")
    change.refresh_from_db()
    return change


@pytest.mark.parametrize(("source", "target"),
                         list(itertools.permutations(ChangeState.values, 2)))
def test_every_pair_of_states(change_manager, template, source, target):
    type_ = TYPE_FOR.get((source, target), "normal")
    change = _ready(normal_change(change_manager), source, type_, template)
    declared = CHANGE_WORKFLOW.find(source, target) is not None
    if declared:
        moved = services.change_transition(actor=change_manager, change=change,
                                           to_state=target)
        assert moved.state == target
    else:
        with pytest.raises(DomainError) as error:
            services.change_transition(actor=change_manager, change=change, to_state=target)
        assert error.value.code == "invalid_transition"
        change.refresh_from_db()
        assert change.state == source


def test_a_normal_change_walks_the_whole_lifecycle(change_manager):
    change = normal_change(change_manager)
    assert change.number.startswith("CHG") and change.state == "new"
    for state, values in (("assess", {}),):
        change = services.change_transition(actor=change_manager, change=change,
                                            to_state=state, **values)
    Change.objects.filter(pk=change.pk).update(risk="moderate")
    change.refresh_from_db()
    change = services.change_transition(actor=change_manager, change=change,
                                        to_state="authorize")
    Change.objects.filter(pk=change.pk).update(authorized_at=soon(), planned_start=soon(
        minutes=-5), planned_end=soon(hours=1))
    change.refresh_from_db()
    change = services.change_transition(actor=change_manager, change=change,
                                        to_state="scheduled")
    change = services.change_transition(actor=change_manager, change=change,
                                        to_state="implement")
    assert change.actual_start is not None
    change = services.change_transition(actor=change_manager, change=change,
                                        to_state="review", result="successful")
    assert change.actual_end is not None
    change = services.change_transition(actor=change_manager, change=change,
                                        to_state="closed")
    assert change.closed_at is not None
    moves = AuditEntry.objects.filter(
        content_type=ContentType.objects.get_for_model(Change), object_id=str(change.pk),
        action="transition").count()
    assert moves == 6


def test_scheduling_needs_a_backout_plan_and_dates(change_manager, template):
    change = _ready(normal_change(change_manager), "authorize", "normal", template)
    Change.objects.filter(pk=change.pk).update(backout_plan="", planned_end=None)
    with pytest.raises(DomainError) as error:
        services.change_transition(actor=change_manager, change=change, to_state="scheduled")
    assert set(error.value.fields) == {"backout_plan", "planned_end"}
    change.refresh_from_db()
    assert change.state == "authorize"


def test_scheduling_needs_authorisation(change_manager, template):
    change = _ready(normal_change(change_manager), "authorize", "normal", template)
    Change.objects.filter(pk=change.pk).update(authorized_at=None)
    with pytest.raises(DomainError) as error:
        services.change_transition(actor=change_manager, change=change, to_state="scheduled")
    assert error.value.fields == {"state": ["The change is not authorised yet."]}


def test_authorisation_needs_an_assessed_risk(change_manager):
    change = services.change_transition(actor=change_manager,
                                        change=normal_change(change_manager),
                                        to_state="assess")
    with pytest.raises(DomainError) as error:
        services.change_transition(actor=change_manager, change=change, to_state="authorize")
    assert "risk" in error.value.fields


@pytest.mark.parametrize(("type_", "allowed"), [("normal", False), ("emergency", True)])
def test_only_an_emergency_change_starts_before_its_planned_start(change_manager, template,
                                                                   type_, allowed):
    change = _ready(normal_change(change_manager), "scheduled", type_, template)
    Change.objects.filter(pk=change.pk).update(planned_start=soon(hours=3),
                                               planned_end=soon(hours=4))
    if allowed:
        change = services.change_transition(actor=change_manager, change=change,
                                            to_state="implement")
        assert change.state == "implement"
    else:
        with pytest.raises(DomainError) as error:
            services.change_transition(actor=change_manager, change=change,
                                       to_state="implement")
        assert "planned_start" in error.value.fields
        assert "unless it is an emergency change" in error.value.fields["planned_start"][0]


def test_finishing_needs_a_result(change_manager, template):
    change = _ready(normal_change(change_manager), "implement", "normal", template)
    Change.objects.filter(pk=change.pk).update(result="")
    with pytest.raises(DomainError) as error:
        services.change_transition(actor=change_manager, change=change, to_state="review")
    assert error.value.fields == {"result": ["Say how it went."]}


@pytest.mark.parametrize("result", ["failed", "backed_out"])
def test_a_failed_change_closes_only_after_its_review(change_manager, template, result):
    change = _ready(normal_change(change_manager), "review", "normal", template)
    Change.objects.filter(pk=change.pk).update(result=result)
    with pytest.raises(DomainError) as error:
        services.change_transition(actor=change_manager, change=change, to_state="closed")
    assert "review" in error.value.fields
    ChangeReview.objects.create(change=change, result=result, lessons="Test the backout",
                                completed_at=soon())
    closed = services.change_transition(actor=change_manager, change=change,
                                        to_state="closed")
    assert closed.state == "closed"


# --- Standard changes from templates --------------------------------------------------

def test_a_standard_change_from_a_template_is_scheduled_without_approval(
        change_manager, template, server):
    start = soon(days=1)
    change = services.change_create_from_template(
        actor=change_manager, template=template, cis=[server], planned_start=start)
    assert change.type == "standard" and change.title == "Monthly OS patching"
    assert change.backout_plan == "Restore the snapshot"
    assert change.planned_end == start + __import__("datetime").timedelta(minutes=45)
    assert change.risk == "low" and change.authorized_at is not None
    assert change.risk_factors[0]["key"] == "template"
    assert list(change.cis.all()) == [server]
    change = services.change_transition(actor=change_manager, change=change,
                                        to_state="scheduled")
    assert change.state == "scheduled"


def test_a_template_refuses_a_ci_class_it_does_not_allow(change_manager, template, app_ci):
    before = Change.objects.count()
    with pytest.raises(DomainError) as error:
        services.change_create_from_template(actor=change_manager, template=template,
                                             cis=[app_ci])
    assert error.value.fields == {"cis": ["Not allowed by the template."]}
    assert "payroll-app (Application)" in error.value.message
    assert Change.objects.count() == before


def test_updating_the_cis_of_a_standard_change_is_checked_too(change_manager, template,
                                                              server, app_ci):
    change = services.change_create_from_template(actor=change_manager, template=template,
                                                  cis=[server])
    with pytest.raises(DomainError):
        services.change_update(actor=change_manager, change=change, cis=[server, app_ci])
    assert list(change.cis.all()) == [server]


def test_template_versions_approve_once_and_retire(change_manager, template, server):
    v1 = services.template_current_version(template)
    v2 = services.template_version_create(actor=change_manager, template=template)
    assert (v2.version, v2.status, v2.backout_plan) == (2, "draft", v1.backout_plan)
    assert [c.key for c in v2.allowed_ci_classes.all()] == ["server"]
    with pytest.raises(DomainError):  # one draft at a time
        services.template_version_create(actor=change_manager, template=template)
    with pytest.raises(DomainError):  # approved versions never change
        services.template_version_update(actor=change_manager, version=v1, title="x")
    services.template_version_update(actor=change_manager, version=v2,
                                     title="Patch with kernel live-patching")
    services.template_version_approve(actor=change_manager, version=v2)
    v1.refresh_from_db()
    assert v1.status == "retired" and v1.retired_at is not None
    change = services.change_create_from_template(actor=change_manager, template=template,
                                                  cis=[server])
    assert change.template_version == v2
    assert change.title == "Patch with kernel live-patching"
    services.template_version_retire(actor=change_manager, version=v2)
    with pytest.raises(DomainError) as error:
        services.change_create_from_template(actor=change_manager, template=template)
    assert error.value.code == "template_not_approved"
    with pytest.raises(DomainError):
        services.change_create(actor=change_manager, type="standard", template_version=v2,
                               title="Sneak in")


def test_only_change_managers_manage_templates(implementer):
    with pytest.raises(NotPermitted):
        services.template_create(actor=implementer, name="Mine", title="x",
                                 implementation_plan="a", backout_plan="b")
    assert not ChangeTemplateVersion.objects.exists()


# --- Bad input ------------------------------------------------------------------------

def test_end_before_start_is_refused_by_field(change_manager):
    with pytest.raises(DomainError) as error:
        normal_change(change_manager, planned_start=soon(days=2), planned_end=soon(days=1))
    assert "planned_end" in error.value.fields
    assert not Change.objects.exists()


def test_standard_without_template_and_services_that_are_not(change_manager, server):
    with pytest.raises(DomainError) as error:
        services.change_create(actor=change_manager, type="standard", title="x")
    assert "template" in error.value.fields
    with pytest.raises(DomainError) as error:
        normal_change(change_manager, services=[server])
    assert "services" in error.value.fields
    with pytest.raises(DomainError) as error:
        services.change_create(actor=change_manager, type="tiny", title="x")
    assert "type" in error.value.fields


def test_a_closed_change_is_not_edited(change_manager, template):
    change = _ready(normal_change(change_manager), "closed", "normal", template)
    with pytest.raises(DomainError) as error:
        services.change_update(actor=change_manager, change=change, title="Late")
    assert error.value.code == "closed"


def test_update_links_cis_and_services_with_audit(change_manager, server):
    service = CIFactory(name="Payroll", ci_class=ci_class("business_service"))
    change = normal_change(change_manager)
    services.change_update(actor=change_manager, change=change, cis=[server],
                           services=[service], outage_expected=True, outage_minutes=30)
    change.refresh_from_db()
    assert list(change.services.all()) == [service] and change.outage_minutes == 30
    entry = AuditEntry.objects.filter(object_id=str(change.pk), action="update").latest("id")
    assert entry.changes["cis"][1] and entry.changes["services"][1]


def test_the_implementer_must_be_in_the_assignment_group(change_manager, team, implementer):
    with pytest.raises(DomainError) as error:
        normal_change(change_manager, assignment_group=team, assignee=change_manager)
    assert "assignee" in error.value.fields
    change = normal_change(change_manager, assignment_group=team, assignee=implementer)
    with pytest.raises(DomainError):
        services.change_update(actor=change_manager, change=change, assignee=change_manager)


@pytest.mark.parametrize(("type_", "offered"), [
    ("normal", {"assess", "cancelled"}), ("emergency", {"authorize", "cancelled"}),
    ("standard", {"scheduled", "cancelled"})])
def test_moves_offered_follow_the_change_type(change_manager, template, type_, offered):
    from changes.workflow import change_moves

    change = _ready(normal_change(change_manager), "new", type_, template)
    assert {t.target for t in change_moves(change, change_manager)} == offered


def test_editing_a_standard_changes_start_moves_its_end(change_manager, template, server):
    change = services.change_create_from_template(actor=change_manager, template=template,
                                                  cis=[server])
    start = soon(days=4)
    services.change_update(actor=change_manager, change=change, planned_start=start)
    change.refresh_from_db()
    assert change.planned_end == start + __import__("datetime").timedelta(minutes=45)
