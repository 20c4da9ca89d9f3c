"""The inbox: the bell in the desk's and the portal's header, the page (newest first,
unread highlighted, open marks read and follows only local links, mark all read) and the
API. Nobody sees or marks anyone else's notifications."""

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from notifications.models import Notification
from notifications.selectors import unread_badge
from tests.factories import UserFactory

INBOX = reverse("notifications:inbox")
MARK_ALL = reverse("notifications:mark_all_read")
API = "/api/v1/notifications/"


def note(user, subject="Hello", url="/desk/incidents/INC0000001/", **fields):
    return Notification.objects.create(recipient=user, kind=fields.pop("kind", "test.note"),
                                       subject=subject, url=url, **fields)


def open_url(notification):
    return reverse("notifications:open", kwargs={"pk": notification.pk})


@pytest.fixture
def stranger(db):
    return UserFactory(username="stranger", roles=["service_desk_agent"])


# --- The bell -------------------------------------------------------------------------

def test_the_desk_bell_shows_the_unread_count(client, agent, stranger):
    note(agent, "one")
    note(agent, "two")
    note(agent, "read", read_at="2026-01-01T00:00:00Z")
    note(stranger, "not yours")
    client.force_login(agent)
    page = client.get(reverse("desk:home")).content.decode()
    assert 'aria-label="Notifications: 2 unread"' in page
    assert '<span class="bell-count" aria-hidden="true">2</span>' in page
    assert f'href="{INBOX}"' in page


def test_the_portal_bell_links_to_the_inbox_in_the_portal(client, requester):
    client.force_login(requester)
    page = client.get(reverse("portal:home")).content.decode()
    assert 'aria-label="Notifications: none unread"' in page
    assert f'href="{INBOX}?layout=portal"' in page and "bell-count" not in page
    note(requester)
    page = client.get(reverse("portal:home")).content.decode()
    assert 'aria-label="Notifications: 1 unread"' in page


def test_the_bell_count_is_one_bounded_query_and_caps_at_99_plus(client, agent):
    Notification.objects.bulk_create(
        [Notification(recipient=agent, kind="k", subject=str(i)) for i in range(120)])
    with CaptureQueriesContext(connection) as queries:
        assert unread_badge(agent) == 100
    assert len(queries) == 1
    sql = queries[0]["sql"].upper()
    assert "COUNT(" not in sql and "LIMIT 100" in sql
    client.force_login(agent)
    assert "Notifications: 99+ unread" in client.get(reverse("desk:home")).content.decode()


# --- The page -------------------------------------------------------------------------

def test_the_inbox_lists_mine_newest_first_with_unread_highlighted(client, agent, stranger):
    old = note(agent, "Older and read", read_at="2026-01-01T00:00:00Z")
    new = note(agent, "Newer and unread")
    note(stranger, "Someone else's")
    client.force_login(agent)
    response = client.get(INBOX)
    assert response.status_code == 200
    assert [n.pk for n in response.context["items"]] == [new.pk, old.pk]
    page = response.content.decode()
    assert "Someone else&#x27;s" not in page and "Someone else's" not in page
    assert page.count('class="inbox-item inbox-unread"') == 1
    assert page.index("Newer and unread") < page.index("Older and read")
    assert 'class="layout-desk"' in page  # desk staff read it in the desk's frame
    unread = client.get(INBOX, {"unread": "true"})
    assert [n.pk for n in unread.context["items"]] == [new.pk]


def test_the_inbox_sits_in_the_portal_for_requesters_and_when_the_portal_asks(
        client, agent, requester):
    client.force_login(requester)
    assert 'class="layout-portal"' in client.get(INBOX).content.decode()
    assert 'class="layout-portal"' in client.get(INBOX, {"layout": "desk"}).content.decode()
    client.force_login(agent)
    assert 'class="layout-portal"' in client.get(INBOX, {"layout": "portal"}).content.decode()


def test_the_inbox_pages_by_keyset(client, agent):
    Notification.objects.bulk_create(
        [Notification(recipient=agent, kind="k", subject=f"n{i}") for i in range(35)])
    client.force_login(agent)
    first = client.get(INBOX)
    assert len(first.context["items"]) == 30
    older = first.context["older_url"]
    assert older and "before=" in older
    second = client.get(older)
    assert len(second.context["items"]) == 5 and second.context["older_url"] is None
    assert not {n.pk for n in first.context["items"]} & {n.pk for n in second.context["items"]}
    assert client.get(INBOX, {"before": "nonsense"}).status_code == 400


def test_opening_marks_read_and_goes_to_the_link(client, agent):
    mine = note(agent, url="/desk/incidents/INC0000042/")
    client.force_login(agent)
    assert client.get(open_url(mine)).status_code == 405  # reading never changes state
    response = client.post(open_url(mine))
    assert response.status_code == 302 and response["Location"] == "/desk/incidents/INC0000042/"
    mine.refresh_from_db()
    assert mine.read_at is not None


@pytest.mark.parametrize("url", [
    "https://evil.example/phish", "//evil.example/x", "/\\evil.example", "javascript:alert(1)",
    "", "desk/relative",
])
def test_opening_never_leaves_the_site(client, agent, url):
    mine = note(agent, url=url)
    client.force_login(agent)
    response = client.post(open_url(mine), {"layout": "portal"})
    assert response.status_code == 302 and response["Location"] == f"{INBOX}?layout=portal"
    mine.refresh_from_db()
    assert mine.read_at is not None


def test_nobody_opens_someone_elses_notification(client, agent, stranger):
    theirs = note(stranger)
    client.force_login(agent)
    assert client.post(open_url(theirs)).status_code == 404
    theirs.refresh_from_db()
    assert theirs.read_at is None


def test_mark_all_read_touches_only_mine(client, agent, stranger):
    mine = [note(agent, str(i)) for i in range(3)]
    theirs = note(stranger)
    client.force_login(agent)
    response = client.post(MARK_ALL)
    assert response.status_code == 302 and response["Location"] == INBOX
    assert not Notification.objects.filter(pk__in=[n.pk for n in mine],
                                           read_at__isnull=True).exists()
    theirs.refresh_from_db()
    assert theirs.read_at is None
    page = client.get(INBOX).content.decode()
    assert "Mark all read" not in page and "inbox-unread" not in page


def test_posts_need_the_csrf_token(agent):
    mine = note(agent)
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(agent)
    assert browser.post(open_url(mine)).status_code == 403
    assert browser.post(MARK_ALL).status_code == 403
    mine.refresh_from_db()
    assert mine.read_at is None


def test_signing_in_is_required(client, db):
    response = client.get(INBOX)
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


# --- API ------------------------------------------------------------------------------

def test_api_lists_only_mine_newest_first_with_a_cursor(api, agent, stranger):
    notes = [note(agent, f"n{i}") for i in range(3)]
    Notification.objects.filter(pk=notes[0].pk).update(read_at="2026-01-01T00:00:00Z")
    note(stranger, "theirs")
    api.force_authenticate(agent)
    body = api.get(API, {"page_size": 2}).json()
    assert [n["subject"] for n in body["results"]] == ["n2", "n1"]
    assert body["results"][0]["unread"] is True and body["results"][0]["url"]
    rest = api.get(body["next"]).json()
    assert [n["subject"] for n in rest["results"]] == ["n0"] and rest["next"] is None
    assert rest["results"][0]["unread"] is False
    unread = api.get(API, {"unread": "true"}).json()["results"]
    assert [n["subject"] for n in unread] == ["n2", "n1"]


def test_api_hides_someone_elses_notification(api, agent, stranger):
    theirs = note(stranger)
    api.force_authenticate(agent)
    response = api.get(f"{API}{theirs.pk}/")
    assert response.status_code == 404 and response.json()["code"] == "not_found"


def test_api_marks_read_by_ids_without_touching_others(api, agent, stranger):
    first, second = note(agent, "a"), note(agent, "b")
    theirs = note(stranger)
    api.force_authenticate(agent)
    response = api.post(f"{API}mark-read/", {"ids": [first.pk, theirs.pk]}, format="json")
    assert response.status_code == 200 and response.json() == {"marked": 1, "unread": 1}
    theirs.refresh_from_db()
    assert theirs.read_at is None
    response = api.post(f"{API}mark-read/", {"all": True}, format="json")
    assert response.json() == {"marked": 1, "unread": 0}
    second.refresh_from_db()
    assert second.read_at is not None


@pytest.mark.parametrize("body", [{}, {"ids": []}, {"ids": ["x"]}, {"ids": [1], "all": True},
                                  {"all": False}])
def test_api_mark_read_bad_input_names_the_field(api, agent, body):
    mine = note(agent)
    api.force_authenticate(agent)
    response = api.post(f"{API}mark-read/", body, format="json")
    assert response.status_code == 400
    error = response.json()
    assert error["code"] == "invalid" and any(k.startswith("ids") for k in error["fields"])
    mine.refresh_from_db()
    assert mine.read_at is None


def test_api_needs_credentials(api, db):
    assert api.get(API).status_code == 401
    assert api.post(f"{API}mark-read/", {"all": True}, format="json").status_code == 401
