"""Desk pages of the schedule: the calendar (month, week, filters, query counts), the
iCalendar download, the windows pages and the conflicts panel."""

import datetime as dt

import pytest
import time_machine
from django.template import Context, Template
from django.test import RequestFactory
from django.utils import timezone

from audit.models import AuditEntry
from changes.models import ChangeConflict, ScheduleWindow
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
from tests.factories import TeamFactory, UserFactory

NOW = at(2026, 6, 10, 9)  # a Wednesday


@pytest.fixture(autouse=True)
def _frozen():
    with time_machine.travel(NOW, tick=False), timezone.override("UTC"):
        yield


@pytest.fixture
def manager(db):
    return UserFactory(username="cm", roles=["change_manager"])


@pytest.fixture
def agent(db):
    return UserFactory(username="agent", roles=["service_desk_agent"])


def signed_in(client, user):
    client.force_login(user)
    return client


@pytest.fixture
def june(manager):
    email = service("Email")
    web, host = app("web-01"), server("esx-02")
    link(email, "depends_on", web)
    ops = TeamFactory(name="Ops")
    return {
        "email": email, "web": web, "ops": ops,
        "patch": make_change(manager, "Patch web", start=at(2026, 6, 11, 20),
                             end=at(2026, 6, 11, 22), cis=(web,), assignment_group=ops,
                             state="scheduled"),
        "urgent": make_change(manager, "Urgent, fix; now", type="emergency",
                              start=at(2026, 6, 29, 23), end=at(2026, 7, 1, 1),
                              cis=(host,)),
        "sunday": window("maintenance", at(2026, 5, 3, 2, tz=PARIS),
                         at(2026, 5, 3, 6, tz=PARIS), ci=web, recurrence="weekly",
                         tz="Europe/Paris", name="Sunday patching"),
        "freeze": window("freeze", at(2026, 6, 25), at(2026, 6, 27), name="Quarter end"),
    }


# --- The calendar ----------------------------------------------------------------------------

def test_the_month_view_shows_changes_and_bands(client, agent, june):
    page = signed_in(client, agent).get("/desk/changes/schedule/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "Change schedule, June 2026" in html
    assert f'href="/desk/changes/{june["patch"].pk}/"' in html
    assert "cal-type-normal cal-state-scheduled" in html
    assert "cal-type-emergency" in html
    # Sundays 7 June to 5 July; the freeze on 25 and 26 June
    assert html.count('class="cal-band cal-maintenance"') == 5
    assert html.count('class="cal-band cal-freeze"') == 2
    assert "02:00–06:00 Maintenance window: Sunday patching (web-01)" not in html  # UTC
    assert "00:00–04:00 Maintenance window: Sunday patching (web-01)" in html
    assert "Change freeze: Quarter end (everywhere)" in html
    assert 'data-date="2026-06-01"' in html and 'data-date="2026-07-05"' in html
    assert "cal-today" in html
    # previous / next / today keep the view
    assert "view=month&amp;date=2026-05-01" in html and "view=month&amp;date=2026-07-01" in html


def test_a_change_over_several_days_is_on_each_of_them(client, agent, june):
    html = signed_in(client, agent).get("/desk/changes/schedule/").content.decode()
    title = f"{june['urgent'].number} Urgent, fix; now"
    assert html.count(f">{title}</a>") == 3  # 29 and 30 June, 1 July
    week = client.get("/desk/changes/schedule/?view=week&date=2026-06-29").content.decode()
    assert "23:00–…" in week and "all day" in week and "…–01:00" in week


def test_a_busy_day_shows_six_changes_and_how_many_more(client, agent, june):
    for index in range(8):
        make_change(agent, f"Busy {index}", start=at(2026, 6, 16, 8 + index),
                    end=at(2026, 6, 16, 9 + index))
    html = signed_in(client, agent).get("/desk/changes/schedule/").content.decode()
    assert "Busy 5" in html and "Busy 6" not in html
    assert "2 more" in html and "view=week&amp;date=2026-06-16" in html


def test_the_week_view(client, agent, june):
    page = signed_in(client, agent).get("/desk/changes/schedule/?view=week&date=2026-06-10")
    html = page.content.decode()
    assert page.status_code == 200
    assert "Change schedule, week of 8 Jun 2026" in html
    assert "Patch web" in html and "Quarter end" not in html
    assert "20:00–22:00" in html  # times in the viewer's zone (UTC here)
    assert "date=2026-06-01" in html and "date=2026-06-15" in html


def test_filters_by_service_and_team_and_bad_filters(client, agent, june):
    client = signed_in(client, agent)
    html = client.get(f"/desk/changes/schedule/?service={june['email'].pk}").content.decode()
    assert "Patch web" in html and "Urgent" not in html
    assert "Quarter end" in html  # global freezes stay
    assert f"service={june['email'].pk}" in html  # links keep the filter
    other = TeamFactory(name="Apps")
    html = client.get(f"/desk/changes/schedule/?team={other.pk}").content.decode()
    assert "Patch web" not in html
    html = client.get("/desk/changes/schedule/?type=emergency").content.decode()
    assert "Urgent" in html and "Patch web" not in html
    assert client.get("/desk/changes/schedule/?team=999999").status_code == 400


def test_the_calendar_reads_a_bounded_number_of_queries(client, agent, june,
                                                        django_assert_max_num_queries):
    client = signed_in(client, agent)
    client.get("/desk/changes/schedule/")  # warm the session and permission caches
    for index in range(30):
        make_change(agent, f"Bulk {index}", start=at(2026, 6, 1 + index % 28, 8),
                    end=at(2026, 6, 1 + index % 28, 9), cis=(june["web"],))
    with django_assert_max_num_queries(12):
        page = client.get(f"/desk/changes/schedule/?service={june['email'].pk}")
    assert "Bulk 29" in page.content.decode()


def test_requesters_cannot_see_the_calendar(client, requester, db):
    assert signed_in(client, requester).get("/desk/changes/schedule/").status_code == 403


# --- iCalendar ---------------------------------------------------------------------------

def test_the_ics_download_has_the_filtered_entries(client, agent, june):
    client = signed_in(client, agent)
    page = client.get("/desk/changes/schedule/")
    assert b"/desk/changes/schedule/calendar.ics?start=2026-06-01" in page.content
    response = client.get("/desk/changes/schedule/calendar.ics",
                          {"start": "2026-06-01T00:00:00+00:00",
                           "end": "2026-07-06T00:00:00+00:00", "type": "normal"})
    assert response["Content-Type"] == "text/calendar; charset=utf-8"
    text = response.content.decode()
    assert text.startswith("BEGIN:VCALENDAR\r\n") and text.endswith("END:VCALENDAR\r\n")
    assert f"UID:change-{june['patch'].pk}@testserver" in text
    assert f"URL:http://testserver/desk/changes/{june['patch'].pk}/" in text
    assert "Urgent" not in text
    # the subscription's default range: the last week and the next twelve
    text = client.get("/desk/changes/schedule/calendar.ics").content.decode()
    assert "Patch web" in text and "Urgent\\, fix\\; now" in text
    too_long = client.get("/desk/changes/schedule/calendar.ics",
                          {"start": "2026-01-01T00:00:00Z", "end": "2026-12-01T00:00:00Z"})
    assert too_long.status_code == 400 and b"100 days" in too_long.content


# --- Windows -------------------------------------------------------------------------------

def test_the_windows_list_for_desk_staff(client, agent, june):
    html = signed_in(client, agent).get("/desk/changes/windows/").content.decode()
    assert "Sunday patching" in html and "Quarter end" in html
    assert "Add freeze" not in html  # managing is for change managers
    html = client.get("/desk/changes/windows/?kind=freeze").content.decode()
    assert "Sunday patching" not in html
    assert signed_in(client, agent).get("/desk/changes/windows/new/").status_code == 403


def test_a_change_manager_adds_a_window_in_its_own_time_zone(client, manager, june):
    client = signed_in(client, manager)
    form = client.get("/desk/changes/windows/new/?kind=freeze")
    assert form.status_code == 200 and b"Europe/Paris" in form.content
    response = client.post("/desk/changes/windows/new/", {
        "kind": "maintenance", "name": "Nightly", "ci": str(june["web"].pk),
        "starts_at": "2026-06-12T23:00", "ends_at": "2026-06-13T01:00",
        "timezone": "Europe/Paris", "recurrence": "daily", "repeat_until": "2026-06-30",
        "reason": "Backups", "is_active": "on"})
    assert response.status_code == 302 and response["Location"] == "/desk/changes/windows/"
    created = ScheduleWindow.objects.get(name="Nightly")
    assert created.starts_at == at(2026, 6, 12, 21) and created.ends_at == at(2026, 6, 12, 23)
    assert created.ci == june["web"] and created.repeat_until == dt.date(2026, 6, 30)
    # the edit form shows the times in the window's zone
    edit = client.get(f"/desk/changes/windows/{created.pk}/edit/").content.decode()
    assert 'value="2026-06-12T23:00"' in edit


@pytest.mark.parametrize("values, field, words", [
    ({"ends_at": "2026-06-12T22:00"}, "ends_at", "after the start"),
    ({"recurrence": "daily", "ends_at": "2026-06-14T00:00"}, "ends_at", "overlaps itself"),
    ({"kind": "maintenance", "ci": ""}, "ci", "belongs to a CI"),
    ({"timezone": "Mars/Base"}, "timezone", "Select a valid choice"),
    ({"starts_at": "2026-03-29T02:30", "ends_at": "2026-03-29T04:00"}, "starts_at",
     "does not exist in Europe/Paris"),
    ({"starts_at": "soon"}, "starts_at", "Enter a date and time"),
])
def test_bad_windows_are_shown_at_the_field(client, manager, values, field, words):
    data = {"kind": "freeze", "name": "Bad", "ci": "", "starts_at": "2026-06-12T23:00",
            "ends_at": "2026-06-13T01:00", "timezone": "Europe/Paris", "recurrence": "none",
            "repeat_until": "", "reason": "", **values}
    response = signed_in(client, manager).post("/desk/changes/windows/new/", data)
    assert response.status_code == 400
    errors = response.context["form"].errors
    assert words in " ".join(errors[field]), errors
    assert not ScheduleWindow.objects.exists()


def test_edit_and_delete(client, manager, june):
    client = signed_in(client, manager)
    freeze = june["freeze"]
    data = {"kind": "freeze", "name": "Quarter-end freeze", "ci": "",
            "starts_at": "2026-06-25T00:00", "ends_at": "2026-06-28T00:00", "timezone": "UTC",
            "recurrence": "none", "repeat_until": "", "reason": "Books close",
            "is_active": "on"}
    assert client.post(f"/desk/changes/windows/{freeze.pk}/edit/", data).status_code == 302
    freeze.refresh_from_db()
    assert freeze.name == "Quarter-end freeze" and freeze.ends_at == at(2026, 6, 28)
    assert client.post(f"/desk/changes/windows/{freeze.pk}/delete/").status_code == 302
    assert not ScheduleWindow.objects.filter(pk=freeze.pk).exists()
    assert AuditEntry.objects.filter(content_type__model="schedulewindow",
                                     action="delete").count() == 1


# --- The conflicts panel -------------------------------------------------------------------

def render_panel(change, user):
    request = RequestFactory().get("/")
    request.user = user
    template = Template("{% load change_schedule %}{% conflicts_panel change user %}")
    return template.render(Context({"change": change, "user": user, "request": request,
                                    "csrf_token": "token"}))


def test_the_panel_lists_stored_conflicts_and_the_freeze_block(manager, june):
    change = make_change(manager, "Mine", start=at(2026, 6, 25, 8), end=at(2026, 6, 25, 9),
                         cis=(june["web"],))
    ChangeConflict.objects.create(change=change, kind="freeze", window=june["freeze"],
                                  reason="Inside the change freeze “Quarter end”")
    ChangeConflict.objects.create(change=change, kind="overlap", other_change=june["patch"],
                                  reason="Planned over the same time")
    html = render_panel(change, manager)
    assert "Inside the change freeze “Quarter end”" in html
    assert "A change freeze blocks scheduling" in html
    assert f'href="/desk/changes/{june["patch"].pk}/"' in html
    assert f'action="/desk/changes/schedule/{change.pk}/conflicts/check/"' in html
    assert f'hx-get="/desk/changes/schedule/{change.pk}/conflicts/preview/"' in html
    assert 'value="2026-06-25T08:00"' in html
    change.type, change.freeze_override_reason = "emergency", "Security fix"
    change.authorized_at = NOW
    assert "Freeze overridden" in render_panel(change, manager)


def test_check_again_stores_and_redirects_to_the_change(client, agent, june):
    change = make_change(agent, "Mine", start=at(2026, 6, 25, 8), end=at(2026, 6, 25, 9),
                         cis=(june["web"],))
    response = signed_in(client, agent).post(
        f"/desk/changes/schedule/{change.pk}/conflicts/check/")
    assert response.status_code == 302
    assert response["Location"] == f"/desk/changes/{change.pk}/#conflicts"
    kinds = set(ChangeConflict.objects.filter(change=change).values_list("kind", flat=True))
    assert kinds == {"freeze", "outside_maintenance"}


def test_the_live_preview(client, agent, june):
    change = make_change(agent, "Mine", cis=(june["web"],))
    client = signed_in(client, agent)
    url = f"/desk/changes/schedule/{change.pk}/conflicts/preview/"
    html = client.get(url, {"planned_start": "2026-06-11T21:00",
                            "planned_end": "2026-06-11T23:00"}).content.decode()
    assert "Patch web" in html and "outside its maintenance windows" in html
    html = client.get(url, {"planned_start": "2026-06-14T01:00",
                            "planned_end": "2026-06-14T03:00"}).content.decode()
    assert "No conflicts for these dates." in html
    bad = client.get(url, {"planned_start": "2026-06-14T03:00",
                           "planned_end": "2026-06-14T01:00"})
    assert bad.status_code == 400 and b"after the planned start" in bad.content
    assert not ChangeConflict.objects.exists()  # a preview stores nothing
