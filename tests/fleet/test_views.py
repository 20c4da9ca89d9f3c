"""The fleet's desk pages: the devices list and its filters, a device with its snapshot
and "refresh now", live questions streaming progress, enrolment with the secret shown
once; who may see and do what."""

import datetime

import pytest
from django.urls import reverse
from django.utils import timezone

from cmdb.models import Tag
from fleet import services
from fleet.models import Agent, EnrolmentSecret, Inventory, Job, LiveQuery
from tests.factories import UserFactory

from .conftest import FACTS


@pytest.fixture
def desk_agent(db):
    return UserFactory(username="desk-agent", roles=["service_desk_agent"])


@pytest.fixture
def asset_manager(db):
    return UserFactory(username="assets", roles=["asset_manager"])


@pytest.fixture
def two_devices(enrolled, secret):
    other = services.agent_enrol(secret=secret, facts={
        **FACTS, "hostname": "srv-db01", "os_name": "RHEL Server", "os_version": "9",
        "serial_number": "SRV1", "mac_addresses": ["aa:bb:cc:00:00:01"],
        "agent_version": "1.1.0"}).agent
    services.agents_seen([enrolled.agent.pk])
    enrolled.agent.device.tags.add(Tag.objects.create(name="london"))
    return enrolled.agent, other


def test_the_devices_list_shows_presence_and_filters(client, desk_agent, two_devices):
    laptop, _server = two_devices
    client.force_login(desk_agent)
    page = client.get(reverse("fleet:device_list"))
    assert page.status_code == 200
    body = page.content.decode()
    assert "lap-0042" in body and "srv-db01" in body and "Online" in body
    assert reverse("cmdb:ci_detail", args=[laptop.device_id]) in body
    for query, shown, hidden in [
        ("online=true", "lap-0042", "srv-db01"),
        ("online=false", "srv-db01", "lap-0042"),
        ("q=srv", "srv-db01", "lap-0042"),
        ("tag=london", "lap-0042", "srv-db01"),
        ("version=1.1.0", "srv-db01", "lap-0042"),
        ("os=rhel", "srv-db01", "lap-0042"),
        (f"group={laptop.group_id}&q=lap", "lap-0042", "srv-db01"),
    ]:
        body = client.get(reverse("fleet:device_list") + "?" + query).content.decode()
        assert f">{shown}<" in body and f">{hidden}<" not in body, query
    assert client.get(reverse("fleet:device_list") + "?online=maybe").status_code in (200, 400)
    assert client.get(reverse("fleet:device_list") + "?after=garbage").status_code == 400


def test_the_devices_list_pages_without_counting(client, desk_agent, two_devices,
                                                 django_assert_max_num_queries, monkeypatch):
    from fleet import views

    monkeypatch.setattr(views, "PAGE_SIZE", 1)
    client.force_login(desk_agent)
    with django_assert_max_num_queries(16):
        first = client.get(reverse("fleet:device_list"))
    body = first.content.decode()
    assert ">lap-0042<" in body and ">srv-db01<" not in body
    cursor = first.context["next_cursor"]
    second = client.get(reverse("fleet:device_list") + f"?after={cursor}").content.decode()
    assert ">srv-db01<" in second and ">lap-0042<" not in second


def test_the_device_page_shows_the_snapshot_sorted_by_cpu(client, desk_agent, enrolled):
    agent = enrolled.agent
    Inventory.objects.create(agent=agent, data={
        "os": {"name": "Ubuntu", "version": "24.04", "kernel": "6.8"}, "memory_mb": 8192,
        "cpu": {"model": "i5", "cores": 4},
        "disks": [{"mount": "/", "total_gb": 256, "used_percent": 93.2}],
        "software": [{"name": "bash", "version": "5"}]},
        received_at=timezone.now(), snapshot_at=timezone.now(), snapshot={
            "processes": [{"pid": 1, "name": "idle-proc", "cpu_percent": 0.1},
                          {"pid": 2, "name": "busy-proc", "cpu_percent": 88.0}],
            "services": [{"name": "ssh.service", "state": "running"},
                         {"name": "cups.service", "state": "failed"}],
            "sessions": [{"user": "alice", "terminal": "pts/0", "host": "10.0.0.5"}]})
    client.force_login(desk_agent)
    body = client.get(reverse("fleet:device_detail", args=[agent.pk])).content.decode()
    assert body.index("busy-proc") < body.index("idle-proc")
    assert "cups.service" in body and "alice" in body and "93.2 %" in body
    assert "Ubuntu 24.04" in body and "8.0 GB" in body
    assert "Refresh now" in body and "every 2s" not in body
    assert "Revoke agent" not in body  # not a fleet manager


def test_refresh_now_queues_a_job_and_polls_until_the_snapshot_arrives(
        client, desk_agent, enrolled, django_capture_on_commit_callbacks):
    agent = enrolled.agent
    client.force_login(desk_agent)
    url = reverse("fleet:device_refresh", args=[agent.pk])
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(url, HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    assert 'hx-trigger="every 2s"' in response.content.decode()
    job = Job.objects.get(agent=agent, kind="snapshot")
    assert Inventory.objects.get(agent=agent).snapshot_requested_at is not None
    part = reverse("fleet:device_detail", args=[agent.pk]) + "?part=snapshot"
    assert 'hx-trigger="every 2s"' in client.get(part).content.decode()
    services.results_record([(agent.pk, {"execution_id": str(job.pk), "status": "succeeded",
                                         "data": {"processes": [{"pid": 7, "name": "fresh"}],
                                                  "services": [], "sessions": []}})])
    body = client.get(part).content.decode()
    assert "fresh" in body and "every 2s" not in body
    # a plain form post (no htmx) redirects back to the page
    Inventory.objects.filter(agent=agent).update(
        snapshot_requested_at=timezone.now() - datetime.timedelta(minutes=5))
    assert client.post(url).status_code == 302


def test_a_refused_refresh_says_why_and_stops_waiting(client, desk_agent, enrolled,
                                                      django_capture_on_commit_callbacks):
    # Given a device whose clock is far off: it refuses the signed request as expired
    agent = enrolled.agent
    client.force_login(desk_agent)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("fleet:device_refresh", args=[agent.pk]), HTTP_HX_REQUEST="true")
    job = Job.objects.get(agent=agent, kind="snapshot")
    services.results_record([(agent.pk, {"execution_id": str(job.pk), "status": "refused",
                                         "reason": "expired"})])
    # Then the page stops polling and says why, pointing at the clock
    part = reverse("fleet:device_detail", args=[agent.pk]) + "?part=snapshot"
    body = client.get(part).content.decode()
    assert "every 2s" not in body
    assert "The agent did not take the last request: expired." in body
    assert "clock is probably far off" in body
    assert Inventory.objects.get(agent=agent).snapshot == {}  # nothing written


def test_revoke_is_for_fleet_managers(client, desk_agent, asset_manager, enrolled):
    url = reverse("fleet:device_revoke", args=[enrolled.agent.pk])
    client.force_login(desk_agent)
    assert client.post(url).status_code == 403
    client.force_login(asset_manager)
    page = client.get(reverse("fleet:device_detail", args=[enrolled.agent.pk]))
    assert "Revoke agent" in page.content.decode()
    assert client.post(url).status_code == 302
    assert Agent.objects.get(pk=enrolled.agent.pk).revoked_at is not None


def test_asking_a_question_shows_field_errors_then_streams_progress(client, desk_agent,
                                                                    enrolled):
    client.force_login(desk_agent)
    url = reverse("fleet:question_list")
    bad = client.post(url, {"kind": "package_below", "name": "openssl", "version": ""})
    assert bad.status_code == 400
    assert bad.context["form"].errors["version"]
    assert client.post(url, {"kind": "disk_above", "percent": "250"}).context[
        "form"].errors["percent"]
    services.agents_seen([enrolled.agent.pk])
    response = client.post(url, {"kind": "process_running", "name": "sshd"})
    query = LiveQuery.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse(
        "fleet:question_detail", args=[query.pk])
    from fleet.live import live_query_dispatch

    live_query_dispatch(query.pk)
    page = client.get(response["Location"]).content.decode()
    assert "0 / 1" in page and 'hx-trigger="every 1s"' in page
    job = Job.objects.get(live_query=query)
    services.results_record([(enrolled.agent.pk, {
        "execution_id": str(job.pk), "status": "succeeded",
        "data": {"matched": True, "detail": {"pid": 4242}}})])
    part = client.get(response["Location"] + "?part=progress").content.decode()
    assert "1 / 1" in part and "lap-0042" in part and "4242" in part
    assert "every 1s" not in part  # everyone answered: polling stops
    assert "sshd" in client.get(url).content.decode()  # in the recent list


def test_enrolment_creates_a_group_and_shows_a_secret_once(client, asset_manager):
    client.force_login(asset_manager)
    page = client.get(reverse("fleet:enrolment"))
    assert page.status_code == 200
    bad = client.post(reverse("fleet:group_create"), {"name": ""})
    assert bad.status_code == 400 and bad.context["group_form"].errors["name"]
    response = client.post(reverse("fleet:group_create"),
                           {"name": "Paris desktops", "tags": "paris, desktops"})
    assert response.status_code == 302
    from fleet.models import EnrolmentGroup

    group = EnrolmentGroup.objects.get(name="Paris desktops")
    assert sorted(t.name for t in group.tags.all()) == ["desktops", "paris"]
    url = reverse("fleet:secret_create", args=[group.pk])
    past = (timezone.localtime() - datetime.timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    refused = client.post(url, {"name": "x", "expires_at": past})
    assert refused.status_code == 400 and refused.context["form"].errors["expires_at"]
    future = (timezone.localtime() + datetime.timedelta(days=3)).strftime("%Y-%m-%dT%H:%M")
    created = client.post(url, {"name": "June rollout", "expires_at": future, "max_uses": 3})
    assert created.status_code == 200
    raw = created.context["raw"]
    body = created.content.decode()
    assert raw.startswith("itsm_enr_") and raw in body
    assert f"itsm-agent enroll --server http://127.0.0.1:8000 --secret {raw}" in body
    assert "no-store" in created["Cache-Control"]
    # never again: the list shows its prefix only
    listing = client.get(reverse("fleet:enrolment")).content.decode()
    secret = EnrolmentSecret.objects.get()
    assert raw not in listing and secret.prefix in listing and "June rollout" in listing
    assert "0 / 3" in listing and "Active" in listing
    assert client.post(reverse("fleet:secret_revoke", args=[secret.pk])).status_code == 302
    assert "Revoked" in client.get(reverse("fleet:enrolment")).content.decode()


@pytest.mark.parametrize("name", ["fleet:enrolment", "fleet:group_create"])
def test_enrolment_is_for_fleet_managers(client, desk_agent, name):
    client.force_login(desk_agent)
    response = client.get(reverse(name)) if name == "fleet:enrolment" else client.post(
        reverse(name), {"name": "x"})
    assert response.status_code == 403


def test_people_without_the_fleet_view_permission_are_kept_out(client, db, enrolled):
    requester = UserFactory(roles=["requester"])
    client.force_login(requester)
    assert client.get(reverse("fleet:device_list")).status_code == 403
    manager = UserFactory(roles=["change_manager"])  # a desk role without the fleet
    client.force_login(manager)
    assert client.get(reverse("fleet:device_list")).status_code == 403
    assert client.get(reverse("fleet:question_list")).status_code == 403
    assert "Live questions" not in client.get(reverse("desk:home")).content.decode()
    client.logout()
    assert client.get(reverse("fleet:device_list")).status_code == 302


def test_the_nav_shows_fleet_to_those_who_may_see_it(client, desk_agent, asset_manager):
    client.force_login(desk_agent)
    body = client.get(reverse("desk:home")).content.decode()
    assert reverse("fleet:device_list") in body and reverse("fleet:enrolment") not in body
    client.force_login(asset_manager)
    assert reverse("fleet:enrolment") in client.get(reverse("desk:home")).content.decode()
