"""The desk's one saved-views mechanism, shared by the CI list and the incident queue:
the services' rules (names, lists, filters, length, who deletes), the bar on the incident
queue, saving with and without htmx, and the migration of the CMDB's old views."""

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.urls import reverse

from audit.models import AuditAction, AuditEntry
from desk.models import SavedView
from desk.saved_views import (
    QUERY_MAX_LENGTH,
    saved_view_create,
    saved_view_delete,
    saved_views_visible,
)
from itsm.errors import Conflict, DomainError, NotPermitted
from tests.factories import TeamFactory, UserFactory

QUEUE = reverse("incidents:list")
SAVE = reverse("desk:saved_view_create")
INCIDENTS = "incidents.incident"


def create(actor, name="P1 open", query="queue=open&priority=1", list_key=INCIDENTS, **kw):
    return saved_view_create(actor=actor, list_key=list_key, name=name, query=query, **kw)


def refusal(call):
    with pytest.raises(DomainError) as caught:
        call()
    return caught.value


# --- Services -------------------------------------------------------------------------

def test_a_view_is_saved_normalised_and_audited(agent):
    view = create(agent, query="?priority=1&after=abc&queue=open&state=&q=  ")
    assert (view.list_key, view.owner, view.name, view.shared) == (INCIDENTS, agent, "P1 open",
                                                                   False)
    assert view.query == "priority=1&queue=open"  # no paging, no empty filters, sorted
    entry = AuditEntry.objects.get(action=AuditAction.CREATE, object_id=str(view.pk))
    assert entry.changes["list_key"] == [None, INCIDENTS]
    assert entry.changes["query"] == [None, "priority=1&queue=open"]


def test_names_are_required_and_unique_per_person_and_list(agent):
    assert refusal(lambda: create(agent, name="  ")).fields == {"name": ["Required."]}
    create(agent, name="Mine")
    error = refusal(lambda: create(agent, name="MINE"))
    assert isinstance(error, Conflict)
    assert error.fields == {"name": ["Already used by one of your views."]}
    # The same name is fine on another list, and for another person
    create(agent, name="Mine", list_key="cmdb.ci", query="status=planned")
    create(UserFactory(roles=["resolver"]), name="Mine")
    assert SavedView.objects.filter(name__iexact="mine").count() == 3


def test_only_the_lists_own_filters_with_valid_values_are_saved(agent):
    error = refusal(lambda: create(agent, query="queue=open&colour=red&attr.os=x"))
    assert error.fields == {"query": ["Not a filter of this list: attr.os, colour"]}
    error = refusal(lambda: create(agent, query="priority=9"))
    assert error.code == "invalid_filter"
    assert "priority" in error.fields["query"][0]
    # attr.<key> belongs to the CI list
    view = create(agent, list_key="cmdb.ci", query="ci_class=server&attr.os=RHEL+9")
    assert view.query == "attr.os=RHEL+9&ci_class=server"
    error = refusal(lambda: create(agent, list_key="nope.list"))
    assert error.fields == {"list_key": ["Unknown list."]}
    assert SavedView.objects.count() == 1


def test_the_query_has_a_length_cap(agent):
    long_search = "q=" + "x" * QUERY_MAX_LENGTH
    error = refusal(lambda: create(agent, query=long_search))
    assert error.code == "too_long"
    assert "query" in error.fields
    assert not SavedView.objects.exists()
    assert not AuditEntry.objects.filter(action=AuditAction.CREATE,
                                         content_type__model="savedview").exists()


def test_only_desk_staff_save_views(requester):
    assert isinstance(refusal(lambda: create(requester)), NotPermitted)
    assert not SavedView.objects.exists()


def test_only_the_owner_deletes_a_view_and_it_is_audited(agent, admin_user):
    colleague = UserFactory(roles=["resolver"])
    view = create(agent, shared=True)
    pk = view.pk
    assert isinstance(refusal(lambda: saved_view_delete(actor=colleague, view=view)),
                      NotPermitted)
    assert SavedView.objects.filter(pk=pk).exists()
    saved_view_delete(actor=agent, view=view)
    assert not SavedView.objects.exists()
    entry = AuditEntry.objects.get(action=AuditAction.DELETE, object_id=str(pk))
    assert entry.changes["name"] == ["P1 open", None]
    # An administrator may remove a view someone left behind
    left_behind = create(colleague, name="Old", shared=True)
    saved_view_delete(actor=admin_user, view=left_behind)
    assert not SavedView.objects.exists()


def test_visible_views_are_ones_own_and_the_shared_ones_of_that_list(agent):
    colleague = UserFactory(roles=["resolver"])
    own = create(agent, name="Own")
    shared = create(colleague, name="Team's", shared=True)
    create(colleague, name="Private")
    create(colleague, name="CMDB", list_key="cmdb.ci", query="status=planned", shared=True)
    assert set(saved_views_visible(agent, INCIDENTS)) == {own, shared}


# --- On the incident queue ------------------------------------------------------------

@pytest.fixture
def agent_client(client, agent):
    TeamFactory(name="Service Desk", is_service_desk=True)
    client.force_login(agent)
    return client


def test_the_queue_saves_its_filters_and_marks_the_current_view(agent_client, agent):
    page = agent_client.get(QUEUE, {"queue": "open", "priority": "1"})
    form = page.context["save_form"]
    assert form.initial == {"list_key": INCIDENTS, "query": "priority=1&queue=open"}
    assert 'action="/desk/saved-views/"' in page.text

    response = agent_client.post(SAVE, {"list_key": INCIDENTS, "name": "P1s",
                                        "query": "priority=1&queue=open", "shared": "on"})
    assert response.status_code == 302
    assert response["Location"] == f"{QUEUE}?priority=1&queue=open"
    view = SavedView.objects.get()
    assert (view.list_key, view.shared) == (INCIDENTS, True)

    page = agent_client.get(response["Location"])
    assert page.context["current_view"] == view
    assert 'aria-current="true">P1s</a>' in page.text
    # the CI list does not list the queue's views
    assert "P1s" not in agent_client.get(reverse("cmdb:ci_list")).text


def test_shared_views_show_to_every_desk_person_private_ones_only_to_their_owner(
        agent_client, agent):
    colleague = UserFactory(roles=["resolver"], first_name="Tomás", last_name="Ferreira")
    create(colleague, name="Network backlog", query="queue=open&q=vpn", shared=True)
    create(colleague, name="My secret list", query="queue=mine")
    page = agent_client.get(QUEUE).text
    assert "Network backlog" in page and "Tomás Ferreira" in page
    assert "My secret list" not in page


def test_saving_with_htmx_answers_in_place(agent_client, agent):
    htmx = {"HX-Request": "true"}
    response = agent_client.post(SAVE, {"list_key": INCIDENTS, "name": "",
                                        "query": "queue=open"}, headers=htmx)
    assert response.status_code == 400
    assert "<html" not in response.text and 'id="saved-views"' in response.text
    assert "field-error" in response.text and "<details class=\"saved-view-save\" open" in \
        response.text
    response = agent_client.post(SAVE, {"list_key": INCIDENTS, "name": "Open",
                                        "query": "queue=open"}, headers=htmx)
    assert response.status_code == 200
    assert response["HX-Redirect"] == f"{QUEUE}?queue=open"
    assert SavedView.objects.filter(name="Open").exists()


def test_a_refusal_without_javascript_is_a_page_with_the_form(agent_client):
    response = agent_client.post(SAVE, {"list_key": INCIDENTS, "name": "Bad",
                                        "query": "queue=open&colour=red"})
    assert response.status_code == 400
    assert "Save a view of incidents" in response.text
    assert "Not a filter of this list: colour" in response.text
    assert not SavedView.objects.exists()
    assert agent_client.post(SAVE, {"list_key": "nope", "name": "x"}).status_code == 400


def test_deleting_goes_back_to_the_views_list(agent_client, agent):
    view = create(agent)
    response = agent_client.post(reverse("desk:saved_view_delete", args=[view.pk]))
    assert (response.status_code, response["Location"]) == (302, QUEUE)
    assert not SavedView.objects.exists()


def test_requesters_cannot_save_views(client, requester):
    client.force_login(requester)
    response = client.post(SAVE, {"list_key": INCIDENTS, "name": "x", "query": "queue=open"})
    assert response.status_code == 403
    assert not SavedView.objects.exists()


# --- The CMDB's views moved here ------------------------------------------------------

CMDB_BEFORE = ("cmdb", "0004_relationship_covering_indexes")
CMDB_AFTER = ("cmdb", "0005_saved_views_to_desk")


def _migrate(target):
    executor = MigrationExecutor(connection)
    executor.migrate([target])
    return MigrationExecutor(connection).loader.project_state([target]).apps


@pytest.mark.django_db(transaction=True)
def test_the_cmdb_views_move_to_the_desk_model_and_back():
    owner = UserFactory(roles=["asset_manager"])
    try:
        apps = _migrate(CMDB_BEFORE)
        old_model = apps.get_model("cmdb", "SavedView")
        first = old_model.objects.create(owner_id=owner.pk, name="RHEL", shared=True,
                                         query="attr.os=RHEL+9&ci_class=server")
        old_model.objects.create(owner_id=owner.pk, name="rhel", query="status=planned")
        old_model.objects.filter(pk=first.pk).update(created_at="2024-01-02T03:04:05Z")

        # Forward: the rows are the desk's, for the CI list; a clash of case is numbered
        _migrate(CMDB_AFTER)
        moved = list(SavedView.objects.order_by("id").values_list(
            "list_key", "owner_id", "name", "query", "shared"))
        assert moved == [
            ("cmdb.ci", owner.pk, "RHEL", "attr.os=RHEL+9&ci_class=server", True),
            ("cmdb.ci", owner.pk, "rhel (2)", "status=planned", False)]
        assert SavedView.objects.get(name="RHEL").created_at.year == 2024
        assert "cmdb_savedview" not in connection.introspection.table_names()

        # Backward: they go back to the CMDB's table and leave the desk's
        apps = _migrate(CMDB_BEFORE)
        assert sorted(apps.get_model("cmdb", "SavedView").objects.values_list(
            "name", flat=True)) == ["RHEL", "rhel (2)"]
        assert not SavedView.objects.filter(list_key="cmdb.ci").exists()
    finally:
        # Every app back at its latest migration: going back to CMDB_BEFORE also unapplied
        # the migrations of apps that depend on later CMDB ones.
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())
