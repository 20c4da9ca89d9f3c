"""Administering calendars and agreements, through the services and the desk pages:
what is refused (the field named, nothing written), what is audited, who may change,
holiday generation, the preview, and the engine seeing an edit at once."""

import datetime as dt

import pytest
from django.contrib.contenttypes.models import ContentType
from django.urls import reverse

from audit.models import AuditEntry
from incidents import services as incident_services
from incidents.models import Category
from itsm.errors import Conflict, DomainError, NotPermitted
from sla import selectors, services
from sla.engine import timers_of
from sla.models import (
    Agreement,
    AgreementKind,
    BusinessCalendar,
    CalendarException,
    Holiday,
    HolidaySource,
    Metric,
    Target,
    Threshold,
    WorkingInterval,
)
from tests.cmdb.factories import CIFactory, ci_class
from tests.factories import TeamFactory, UserFactory

OFFICE = {day: ["09:00-17:00"] for day in ("monday", "tuesday", "wednesday", "thursday",
                                           "friday")}


@pytest.fixture
def manager(db):
    return UserFactory(username="slm", roles=["service_level_manager"])


@pytest.fixture
def calendar(manager):
    return services.calendar_create(actor=manager, name="London office",
                                    time_zone="Europe/London", weekly=OFFICE)


def audit_of(obj):
    return AuditEntry.objects.filter(content_type=ContentType.objects.get_for_model(obj),
                                     object_id=str(obj.pk))


def refused(call, field):
    with pytest.raises(DomainError) as caught:
        call()
    assert field in caught.value.fields, caught.value.fields
    return caught.value


def target(metric=Metric.RESOLUTION, goal=480, calendar=None, **extra):
    return {"metric": metric, "goal_minutes": goal, "calendar": calendar, **extra}


# --- Calendars ------------------------------------------------------------------------

def test_a_calendar_is_created_with_its_week_and_audited(manager):
    calendar = services.calendar_create(
        actor=manager, name="Support", time_zone="Europe/Paris",
        weekly={"monday": "08:00-12:00, 13:00-18:00", "saturday": ["09:00-12:00"]},
        exceptions=[{"date": "2026-12-24", "reason": "Christmas Eve",
                     "intervals": ["09:00-12:00"]}],
        holidays=[{"date": "2026-05-01", "name": "Labour Day"}])
    assert list(calendar.intervals.values_list("weekday", "start_minute", "end_minute")) == [
        (0, 480, 720), (0, 780, 1080), (5, 540, 720)]
    assert calendar.exceptions.get().intervals == [[540, 720]]
    assert calendar.holidays.get().source == HolidaySource.MANUAL
    entry = audit_of(calendar).get()
    assert entry.action == "create" and entry.actor_id == manager.pk
    assert entry.changes["weekly"][1]["monday"] == ["08:00-12:00", "13:00-18:00"]


@pytest.mark.parametrize(("weekly", "exceptions", "field"), [
    ({}, [], "weekly"),  # no working time at all
    ({"monday": []}, [{"date": "2026-01-01", "reason": "x", "intervals": []}], "weekly"),
    ({"monday": ["09:00-12:00", "11:00-13:00"]}, [], "weekly.monday"),  # overlapping
    ({"tuesday": ["17:00-09:00"]}, [], "weekly.tuesday"),  # inverted
    ({"friday": ["09:00-25:00"]}, [], "weekly.friday"),  # not a time
    ({"friday": ["nine to five"]}, [], "weekly.friday"),
    ({"funday": ["09:00-17:00"]}, [], "weekly"),
    (OFFICE, [{"date": "2026-01-02", "reason": "x", "intervals": ["10:00-09:00"]}],
     "exceptions.0.intervals"),
    (OFFICE, [{"date": "2026-01-02", "reason": "x"}, {"date": "2026-01-02", "reason": "y"}],
     "exceptions.1.date"),
])
def test_bad_calendars_are_refused_and_nothing_is_written(manager, weekly, exceptions,
                                                          field):
    refused(lambda: services.calendar_create(actor=manager, name="Bad", weekly=weekly,
                                             exceptions=exceptions), field)
    assert not BusinessCalendar.objects.exists()
    assert not WorkingInterval.objects.exists() and not AuditEntry.objects.filter(
        content_type__model="businesscalendar").exists()


def test_a_calendar_working_only_on_exceptions_is_accepted(manager):
    calendar = services.calendar_create(
        actor=manager, name="Event", weekly={},
        exceptions=[{"date": "2026-06-01", "reason": "Launch", "intervals": ["08:00-20:00"]}])
    assert calendar.exceptions.count() == 1


def test_an_unknown_time_zone_is_refused(manager):
    error = refused(lambda: services.calendar_create(actor=manager, name="Mars",
                                                     time_zone="Mars/Olympus",
                                                     weekly=OFFICE), "time_zone")
    assert "Mars/Olympus" in error.message
    assert not BusinessCalendar.objects.exists()


def test_touching_intervals_are_accepted(manager):
    calendar = services.calendar_create(actor=manager, name="Split",
                                        weekly={"monday": ["09:00-12:00", "12:00-24:00"]})
    assert calendar.intervals.count() == 2


def test_an_update_that_removes_all_working_time_is_refused_and_keeps_the_old_week(
        manager, calendar):
    refused(lambda: services.calendar_update(actor=manager, calendar=calendar, weekly={}),
            "weekly")
    assert calendar.intervals.count() == 5
    assert audit_of(calendar).count() == 1  # only the creation


def test_an_update_replaces_the_week_and_audits_before_and_after(manager, calendar):
    services.calendar_update(actor=manager, calendar=calendar, description="HQ",
                             weekly={"monday": ["08:00-16:00"]})
    assert list(calendar.intervals.values_list("weekday", "start_minute")) == [(0, 480)]
    entry = audit_of(calendar).filter(action="update").get()
    assert entry.changes["description"] == ["", "HQ"]
    assert entry.changes["weekly"][0]["friday"] == ["09:00-17:00"]
    assert entry.changes["weekly"][1]["friday"] == []


def test_holidays_are_generated_for_a_country_and_region_once(manager, calendar):
    services.holiday_add(actor=manager, calendar=calendar, date="2026-12-25",
                         name="Our own Christmas")
    added = services.holidays_generate(actor=manager, calendar=calendar, year=2026,
                                       country="gb", subdivision="eng")
    dates = {h.date for h in added}
    assert dt.date(2026, 12, 28) in dates  # Boxing Day (observed)
    assert dt.date(2026, 12, 25) not in dates  # the hand-entered one is kept
    christmas = calendar.holidays.get(date=dt.date(2026, 12, 25))
    assert christmas.name == "Our own Christmas" and christmas.source == HolidaySource.MANUAL
    assert calendar.holidays.filter(source=HolidaySource.GENERATED).count() == len(added) >= 7
    calendar.refresh_from_db()
    assert (calendar.holiday_country, calendar.holiday_subdivision) == ("GB", "ENG")
    again = services.holidays_generate(actor=manager, calendar=calendar, year=2026)
    assert again == []
    assert audit_of(calendar).filter(message__startswith="Holidays generated").count() == 1


def test_generated_holidays_include_christmas_2026(manager, calendar):
    services.holidays_generate(actor=manager, calendar=calendar, year=2026, country="GB",
                               subdivision="ENG")
    assert calendar.holidays.filter(date=dt.date(2026, 12, 25)).exists()


@pytest.mark.parametrize(("country", "subdivision", "field"), [
    ("XX", "", "holiday_country"), ("GB", "ATLANTIS", "holiday_subdivision"),
    ("", "", "holiday_country")])
def test_unknown_countries_and_regions_are_refused(manager, calendar, country, subdivision,
                                                   field):
    error = refused(lambda: services.holidays_generate(
        actor=manager, calendar=calendar, year=2026, country=country,
        subdivision=subdivision), field)
    assert error.message
    assert not calendar.holidays.exists()


def test_a_calendar_in_use_cannot_be_deleted(manager, calendar):
    services.agreement_create(actor=manager, name="Gold",
                              targets=[target(calendar=calendar.pk)])
    with pytest.raises(Conflict) as caught:
        services.calendar_delete(actor=manager, calendar=calendar)
    assert "Gold" in caught.value.message
    assert BusinessCalendar.objects.filter(pk=calendar.pk).exists()


def test_an_unused_calendar_is_deleted_and_audited(manager, calendar):
    pk = calendar.pk
    services.calendar_delete(actor=manager, calendar=calendar)
    assert not BusinessCalendar.objects.filter(pk=pk).exists()
    assert AuditEntry.objects.filter(action="delete", object_id=str(pk),
                                     content_type__model="businesscalendar").exists()


def test_an_agent_cannot_change_calendars(agent, calendar):
    with pytest.raises(NotPermitted):
        services.calendar_update(actor=agent, calendar=calendar, description="x")
    with pytest.raises(NotPermitted):
        services.holidays_generate(actor=agent, calendar=calendar, year=2026, country="GB")
    assert not calendar.holidays.exists()


def test_the_preview_lists_the_next_working_periods_in_local_time(manager, calendar):
    services.holiday_add(actor=manager, calendar=calendar, date="2026-07-06", name="Closed")
    services.exception_set(actor=manager, calendar=calendar, date="2026-07-07",
                           reason="Half day", intervals="09:00-13:00")
    friday_noon = dt.datetime(2026, 7, 3, 11, 0, tzinfo=dt.UTC)  # 12:00 BST
    periods, exhausted = selectors.calendar_preview(calendar, start=friday_noon, count=3)
    assert not exhausted
    assert [(p.start.isoformat(), p.end.isoformat()) for p in periods] == [
        ("2026-07-03T12:00:00+01:00", "2026-07-03T17:00:00+01:00"),
        ("2026-07-07T09:00:00+01:00", "2026-07-07T13:00:00+01:00"),  # Monday a holiday
        ("2026-07-08T09:00:00+01:00", "2026-07-08T17:00:00+01:00"),
    ]
    assert periods[1].minutes == 240


# --- Agreements -----------------------------------------------------------------------

def test_an_agreement_is_created_with_default_thresholds_and_audited(manager, calendar):
    agreement = services.agreement_create(
        actor=manager, name="Gold", priorities=[2, 1],
        targets=[target(Metric.FIRST_RESPONSE, 30, calendar.pk), target(calendar=calendar)])
    assert agreement.priorities == [1, 2] and agreement.kind == AgreementKind.SLA
    for each in agreement.targets.all():
        assert list(each.thresholds.values_list("percent", flat=True)) == [50, 75, 90, 100]
    entry = audit_of(agreement).get()
    assert entry.action == "create" and entry.changes["name"] == [None, "Gold"]
    assert entry.changes["target.first_response"][1]["goal_minutes"] == 30


def test_new_agreements_go_last_of_their_kind(manager, calendar):
    first = services.agreement_create(actor=manager, name="A", priorities=[1])
    second = services.agreement_create(actor=manager, name="B", priorities=[2])
    assert second.order > first.order


@pytest.fixture
def refs(db):
    hardware = Category.objects.create(name="Hardware")
    old = Category.objects.create(name="Fax", is_active=False)
    payroll = CIFactory(name="Payroll", ci_class=ci_class("business_service"))
    server = CIFactory(name="srv-01", ci_class=ci_class("server"))
    closed = TeamFactory(name="Closed team", is_active=False)
    return {"hardware": hardware, "old": old, "payroll": payroll, "server": server,
            "closed": closed}


@pytest.mark.parametrize(("fields", "field"), [
    ({"priorities": [5]}, "priorities"),
    ({"priorities": [0, 1]}, "priorities"),
    ({"categories": "old"}, "categories"),
    ({"categories": [999999]}, "categories"),
    ({"services": "server"}, "services"),
    ({"assignment_groups": "closed"}, "assignment_groups"),
    ({"caller_departments": ["Sales", " "]}, "caller_departments"),
    ({"kind": "xla"}, "kind"),
    ({"targets": [target(goal=0)]}, "targets.0.goal_minutes"),
    ({"targets": [target(), target()]}, "targets.1.metric"),
    ({"targets": [target(calendar=None)]}, "targets.0.calendar"),
    ({"targets": [target(pause_on=["sleeping"])]}, "targets.0.pause_on"),
    ({"targets": [target(pause_on=["resolved"], stop_on=["resolved"])]}, "targets.0.stop_on"),
    ({"targets": [target(reset_on=["colour"])]}, "targets.0.reset_on"),
    ({"targets": [target(start_on=["sometime"])]}, "targets.0.start_on"),
    ({"targets": [target(start_on=["resolved"], stop_on=["resolved"])]}, "targets.0.stop_on"),
    ({"targets": [target(thresholds=[{"percent": 0}])]}, "targets.0.thresholds.0.percent"),
    ({"targets": [target(thresholds=[{"percent": 101}])]}, "targets.0.thresholds.0.percent"),
    ({"targets": [target(thresholds=[{"percent": 50}, {"percent": 50}])]},
     "targets.0.thresholds.1.percent"),
    ({"targets": [target(thresholds=[{"percent": 90, "actions": ["dance"]}])]},
     "targets.0.thresholds.0.actions"),
    ({"targets": [target(thresholds=[{"percent": 90, "actions": ["reassign"]}])]},
     "targets.0.thresholds.0.reassign_to"),
])
def test_bad_agreements_are_refused_and_nothing_is_written(manager, calendar, refs, fields,
                                                           field):
    fields = dict(fields)
    for key in ("categories", "services", "assignment_groups"):
        if isinstance(fields.get(key), str):
            fields[key] = [refs[fields[key]]]
    for each in fields.get("targets", []):
        each["calendar"] = calendar.pk if each["calendar"] is None and field != \
            "targets.0.calendar" else each["calendar"]
    refused(lambda: services.agreement_create(actor=manager, name="Bad", **fields), field)
    assert not Agreement.objects.exists() and not Target.objects.exists()
    assert not Threshold.objects.exists()
    assert not AuditEntry.objects.filter(content_type__model="agreement").exists()


def test_an_agreement_shadowed_by_an_earlier_one_is_refused(manager, calendar):
    services.agreement_create(actor=manager, name="Everything", order=10)
    error = refused(lambda: services.agreement_create(actor=manager, name="P1 only",
                                                      priorities=[1], order=20), "order")
    assert "P1 only could never apply" in error.message and "Everything" in error.message
    assert not Agreement.objects.filter(name="P1 only").exists()
    # Before the catch-all it is fine; an OLA is tried separately.
    services.agreement_create(actor=manager, name="P1 only", priorities=[1], order=5)
    services.agreement_create(actor=manager, name="Team OLA", kind=AgreementKind.OLA,
                              order=20)


def test_moving_a_catch_all_above_a_narrower_agreement_is_refused(manager, calendar):
    narrow = services.agreement_create(actor=manager, name="P1", priorities=[1])
    broad = services.agreement_create(actor=manager, name="All")
    refused(lambda: services.agreement_move(actor=manager, agreement=broad, direction="up"),
            "order")
    narrow.refresh_from_db()
    broad.refresh_from_db()
    assert narrow.order < broad.order


def test_moving_swaps_neighbours_and_is_audited(manager, calendar):
    p1 = services.agreement_create(actor=manager, name="P1", priorities=[1])
    p2 = services.agreement_create(actor=manager, name="P2", priorities=[2])
    services.agreement_move(actor=manager, agreement=p2, direction="up")
    assert list(Agreement.objects.order_by("order").values_list("name", flat=True)) == [
        "P2", "P1"]
    assert audit_of(p2).filter(message="Moved up").exists()
    assert p1


def test_an_agreement_with_timers_is_deactivated_not_deleted(manager, calendar, requester):
    agreement = services.agreement_create(actor=manager, name="All",
                                          targets=[target(calendar=calendar.pk)])
    incident_services.incident_create(actor=requester, title="Printer jam")
    assert services.agreement_delete(actor=manager, agreement=agreement) is False
    agreement.refresh_from_db()
    assert not agreement.is_active
    assert audit_of(agreement).filter(message__startswith="Deactivated instead").exists()
    unused = services.agreement_create(actor=manager, name="Unused", priorities=[1], order=1)
    assert services.agreement_delete(actor=manager, agreement=unused) is True
    assert not Agreement.objects.filter(name="Unused").exists()


def test_the_engine_sees_an_edited_agreement_at_once(manager, calendar, requester):
    agreement = services.agreement_create(
        actor=manager, name="Standard", targets=[target(Metric.RESOLUTION, 480, calendar.pk)])
    first = incident_services.incident_create(actor=requester, title="Printer jam")
    assert [(t.metric, t.goal_seconds) for t in timers_of(first)] == [
        (Metric.RESOLUTION, 480 * 60)]
    services.agreement_update(actor=manager, agreement=agreement, targets=[
        target(Metric.RESOLUTION, 240, calendar.pk),
        target(Metric.FIRST_RESPONSE, 15, calendar.pk)])
    second = incident_services.incident_create(actor=requester, title="VPN down")
    assert sorted((t.metric, t.goal_seconds) for t in timers_of(second)) == [
        (Metric.FIRST_RESPONSE, 15 * 60), (Metric.RESOLUTION, 240 * 60)]
    entry = audit_of(agreement).filter(action="update").get()
    assert entry.changes["target.resolution"][1]["goal_minutes"] == 240
    services.agreement_update(actor=manager, agreement=agreement, is_active=False)
    third = incident_services.incident_create(actor=requester, title="Mouse")
    assert timers_of(third) == []


def test_a_measured_target_cannot_be_removed(manager, calendar, requester):
    agreement = services.agreement_create(
        actor=manager, name="Standard", targets=[target(Metric.RESOLUTION, 480, calendar.pk)])
    incident_services.incident_create(actor=requester, title="Printer jam")
    refused(lambda: services.agreement_update(actor=manager, agreement=agreement,
                                              targets=[]), "targets")
    assert agreement.targets.count() == 1


def test_an_agent_cannot_change_agreements(agent, manager, calendar):
    agreement = services.agreement_create(actor=manager, name="Gold")
    with pytest.raises(NotPermitted):
        services.agreement_update(actor=agent, agreement=agreement, name="Tin")
    with pytest.raises(NotPermitted):
        services.agreement_create(actor=agent, name="Mine", priorities=[1], order=1)
    assert list(Agreement.objects.values_list("name", flat=True)) == ["Gold"]


def test_only_administrators_and_service_level_managers_hold_the_permission(
        admin_user, manager, agent):
    assert admin_user.has_perm("sla.manage_sla") and manager.has_perm("sla.manage_sla")
    assert not agent.has_perm("sla.manage_sla")
    incident_manager = UserFactory(username="im", roles=["incident_manager"])
    assert not incident_manager.has_perm("sla.manage_sla")


# --- Desk pages -----------------------------------------------------------------------

def test_agents_see_the_pages_but_cannot_change(client, agent, manager, calendar):
    agreement = services.agreement_create(actor=manager, name="Gold",
                                          targets=[target(calendar=calendar.pk)])
    client.force_login(agent)
    page = client.get(reverse("sla:agreement_list"))
    assert page.status_code == 200 and "Gold" in page.content.decode()
    assert reverse("sla:agreement_create") not in page.content.decode()
    detail = client.get(reverse("sla:calendar_detail", args=[calendar.pk]))
    assert detail.status_code == 200 and "09:00-17:00" in detail.content.decode()
    assert client.get(reverse("sla:agreement_edit", args=[agreement.pk])).status_code == 200
    assert client.post(reverse("sla:calendar_detail", args=[calendar.pk]),
                       {"name": "Hacked", "time_zone": "UTC"}).status_code == 403
    assert client.post(reverse("sla:holidays_generate", args=[calendar.pk]),
                       {"holiday_country": "GB", "year": 2026}).status_code == 403
    assert client.post(reverse("sla:agreement_move", args=[agreement.pk]),
                       {"direction": "down"}).status_code == 403
    assert client.post(reverse("sla:agreement_edit", args=[agreement.pk]),
                       {"name": "Tin", "kind": "sla"}).status_code == 403
    calendar.refresh_from_db()
    assert calendar.name == "London office" and not calendar.holidays.exists()
    assert Agreement.objects.get().name == "Gold"


def test_requesters_cannot_open_the_pages(client, requester):
    client.force_login(requester)
    assert client.get(reverse("sla:calendar_list")).status_code == 403


def calendar_post(**overrides):
    data = {"name": "Paris", "time_zone": "Europe/Paris", "description": "",
            "holiday_country": "", "holiday_subdivision": "", "monday": "09:00-12:00, 14:00-18:00",
            "tuesday": "", "wednesday": "", "thursday": "", "friday": "09:00-17:00",
            "saturday": "", "sunday": ""}
    data.update(overrides)
    return data


def test_a_manager_creates_a_calendar_in_the_desk(client, manager):
    client.force_login(manager)
    response = client.post(reverse("sla:calendar_create"), calendar_post())
    calendar = BusinessCalendar.objects.get(name="Paris")
    assert response.status_code == 302
    assert response["Location"] == reverse("sla:calendar_detail", args=[calendar.pk])
    assert calendar.intervals.count() == 3
    page = client.get(response["Location"]).content.decode()
    assert "09:00-12:00, 14:00-18:00" in page and "Next working periods" in page


@pytest.mark.parametrize(("overrides", "field", "text"), [
    ({"monday": "09:00-12:00, 11:00-14:00"}, "monday", "overlap"),
    ({"friday": "17:00-09:00"}, "friday", "ends before it starts"),
    ({"time_zone": "Nowhere/Land"}, "time_zone", "not a time zone"),
    ({"monday": "", "friday": ""}, "monday", "no working time"),
])
def test_the_calendar_form_shows_refusals_at_the_field(client, manager, overrides, field,
                                                       text):
    client.force_login(manager)
    response = client.post(reverse("sla:calendar_create"), calendar_post(**overrides))
    assert response.status_code == 400
    form = response.context["form"]
    assert any(text in message for message in form.errors[field] + form.non_field_errors())
    assert not BusinessCalendar.objects.exists()


def test_holidays_are_added_generated_and_removed_with_htmx(client, manager, calendar):
    client.force_login(manager)
    headers = {"HX-Request": "true"}
    response = client.post(reverse("sla:holidays_generate", args=[calendar.pk]),
                           {"holiday_country": "GB", "holiday_subdivision": "ENG",
                            "year": 2026}, headers=headers)
    assert response.status_code == 200
    body = response.content.decode()
    assert "Christmas Day" in body and 'id="preview"' in body and "hx-swap-oob" in body
    bad = client.post(reverse("sla:holidays_generate", args=[calendar.pk]),
                      {"holiday_country": "ZZ", "year": 2026}, headers=headers)
    assert bad.status_code == 400 and "ZZ is not a country" in bad.content.decode()
    duplicate = client.post(reverse("sla:holiday_add", args=[calendar.pk]),
                            {"date": "2026-12-25", "name": "Again"}, headers=headers)
    assert duplicate.status_code == 400 and "already a holiday" in duplicate.content.decode()
    christmas = calendar.holidays.get(date=dt.date(2026, 12, 25))
    client.post(reverse("sla:holiday_remove", args=[calendar.pk, christmas.pk]),
                headers=headers)
    assert not Holiday.objects.filter(pk=christmas.pk).exists()


def test_an_exception_is_set_in_the_desk(client, manager, calendar):
    client.force_login(manager)
    response = client.post(reverse("sla:exception_set", args=[calendar.pk]),
                           {"date": "2026-12-24", "reason": "Christmas Eve",
                            "intervals": "09:00-12:00"})
    assert response.status_code == 302
    assert CalendarException.objects.get(calendar=calendar).intervals == [[540, 720]]
    bad = client.post(reverse("sla:exception_set", args=[calendar.pk]),
                      {"date": "2026-12-31", "reason": "NYE", "intervals": "12:00-09:00"})
    assert bad.status_code == 400
    assert bad.context["exception_form"].errors["intervals"]


def test_the_preview_section_answers_htmx(client, agent, calendar):
    client.force_login(agent)
    response = client.get(reverse("sla:calendar_detail", args=[calendar.pk]),
                          {"section": "preview", "start": "2026-07-04", "count": "2"},
                          headers={"HX-Request": "true"})
    body = response.content.decode()
    assert response.status_code == 200 and "<html" not in body
    assert "Mon 2026-07-06" in body and "Tue 2026-07-07" in body
    assert "Sat 2026-07-04" not in body
    # London wall-clock time in summer (BST), not UTC (08:00).
    assert "09:00 <span class=\"cell-sub\">BST</span>" in body and "08:00" not in body


def agreement_post(calendar, **overrides):
    data = {"name": "Gold", "kind": "sla", "ticket_type": "incident", "counterpart": "",
            "description": "", "order": "",
            "is_active": "on", "priorities": ["1"], "caller_vip": "", "caller_departments": "",
            "resolution-enabled": "on", "resolution-goal_minutes": "240",
            "resolution-calendar": str(calendar.pk),
            "resolution-pause_on": ["on_hold:awaiting_caller"],
            "resolution-t0-percent": "50", "resolution-t1-percent": "100",
            "resolution-t1-actions": ["notify_team", "mark_escalated"]}
    data.update(overrides)
    return data


def test_a_manager_creates_an_agreement_in_the_desk(client, manager, calendar):
    client.force_login(manager)
    response = client.post(reverse("sla:agreement_create"), agreement_post(calendar))
    assert response.status_code == 302, response.context and [
        f.errors for f in [response.context["form"], *response.context["target_forms"]]]
    agreement = Agreement.objects.get(name="Gold")
    resolution = agreement.targets.get()
    assert (agreement.priorities, resolution.metric, resolution.goal_minutes) == (
        [1], "resolution", 240)
    assert resolution.pause_on == ["on_hold:awaiting_caller"]
    assert [(t.percent, t.actions) for t in resolution.thresholds.all()] == [
        (50, []), (100, ["notify_team", "mark_escalated"])]
    page = client.get(reverse("sla:agreement_list")).content.decode()
    assert "Gold" in page and "P1" in page


def test_the_agreement_form_shows_threshold_refusals_at_the_row(client, manager, calendar):
    client.force_login(manager)
    response = client.post(reverse("sla:agreement_create"), agreement_post(
        calendar, **{"resolution-t1-percent": "50"}))
    assert response.status_code == 400
    resolution = response.context["target_forms"][1]
    assert resolution.metric == "resolution"
    assert "two thresholds at 50" in str(resolution.thresholds[1].errors["percent"])
    assert not Agreement.objects.exists()


def test_the_agreement_form_shows_a_shadowed_agreement_at_order(client, manager, calendar):
    services.agreement_create(actor=manager, name="Everything")
    client.force_login(manager)
    response = client.post(reverse("sla:agreement_create"), agreement_post(calendar))
    assert response.status_code == 400
    assert "could never apply" in str(response.context["form"].errors["order"])


def test_agreements_move_with_htmx(client, manager, calendar):
    p1 = services.agreement_create(actor=manager, name="P1", priorities=[1])
    services.agreement_create(actor=manager, name="P2", priorities=[2])
    client.force_login(manager)
    response = client.post(reverse("sla:agreement_move", args=[p1.pk]),
                           {"direction": "down"}, headers={"HX-Request": "true"})
    body = response.content.decode()
    assert response.status_code == 200 and body.index("P2") < body.index("P1")


def test_shadowing_that_was_already_there_does_not_block_other_edits(manager, calendar):
    # Loaded without the services (a fixture, an old import): "Narrow" is shadowed.
    everything = Agreement.objects.create(name="Everything", order=10)
    Agreement.objects.create(name="Narrow", order=20, priorities=[1])
    services.agreement_update(actor=manager, agreement=everything, description="Catch-all")
    assert Agreement.objects.get(name="Everything").description == "Catch-all"
    # A change that shadows another agreement is still refused.
    services.agreement_create(actor=manager, name="P2", priorities=[2], order=5)
    refused(lambda: services.agreement_update(actor=manager, agreement=everything, order=1),
            "order")


def test_the_last_working_exception_of_a_calendar_without_a_week_stays(manager):
    calendar = services.calendar_create(
        actor=manager, name="Event", weekly={},
        exceptions=[{"date": "2026-06-01", "reason": "Launch", "intervals": ["08:00-20:00"]}])
    launch = calendar.exceptions.get()
    refused(lambda: services.exception_remove(actor=manager, exception=launch), "exception")
    refused(lambda: services.exception_set(actor=manager, calendar=calendar,
                                           date="2026-06-01", reason="Cancelled"),
            "intervals")
    assert calendar.exceptions.get().intervals == [[480, 1200]]


def test_deleting_a_calendar_in_use_from_the_desk_says_why(client, manager, calendar):
    services.agreement_create(actor=manager, name="Gold",
                              targets=[target(calendar=calendar.pk)])
    client.force_login(manager)
    response = client.post(reverse("sla:calendar_delete", args=[calendar.pk]), follow=True)
    assert "used by the targets of Gold" in response.content.decode()
    assert BusinessCalendar.objects.filter(pk=calendar.pk).exists()


def test_the_agreement_list_costs_the_same_for_more_agreements(
        client, manager, calendar, django_assert_max_num_queries):
    client.force_login(manager)
    services.agreement_create(actor=manager, name="P1", priorities=[1],
                              targets=[target(calendar=calendar.pk)])
    client.get(reverse("sla:agreement_list"))  # warm the session and permission caches
    with django_assert_max_num_queries(12) as few:
        client.get(reverse("sla:agreement_list"))
    baseline = len(few)  # now: the next request resets the connection's query log
    for priority in (2, 3, 4):
        services.agreement_create(actor=manager, name=f"P{priority}", priorities=[priority],
                                  targets=[target(calendar=calendar.pk)])
    with django_assert_max_num_queries(baseline):
        page = client.get(reverse("sla:agreement_list"))
    assert "P4" in page.content.decode()
