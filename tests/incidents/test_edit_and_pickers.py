"""Editing an incident's details (through incident_update, field-level errors, nothing
written when refused, closed incidents not editable), the caller / service / CI pickers
(lookups, and typed text resolved without JavaScript), the subcategory that follows the
category, and the related CIs on the detail page."""

import pytest
from django.urls import reverse

from audit.models import AuditAction, AuditEntry
from desk.pickers import PersonPickerField
from incidents import services
from incidents.models import Category, Incident, IncidentState
from tests.cmdb.factories import CIFactory, ci_class
from tests.factories import TeamFactory, UserFactory
from tickets.models import Activity

CREATE = reverse("incidents:create")
HTMX = {"HX-Request": "true"}


@pytest.fixture
def desk_team(db):
    return TeamFactory(name="Service Desk", is_service_desk=True)


@pytest.fixture
def agent_client(client, agent, desk_team):
    client.force_login(agent)
    return client


@pytest.fixture
def estate(db):
    payroll = CIFactory(name="Payroll", ci_class=ci_class("business_service"))
    mail = CIFactory(name="Email & Collaboration", ci_class=ci_class("business_service"))
    server = CIFactory(name="pay-db-01", ci_class=ci_class("server"), hostname="paydb01")
    return {"payroll": payroll, "mail": mail, "server": server}


@pytest.fixture
def categories(db):
    hardware = Category.objects.create(name="Hardware")
    software = Category.objects.create(name="Software")
    return {"hardware": hardware, "software": software,
            "laptop": Category.objects.create(name="Laptop", parent=hardware),
            "printer": Category.objects.create(name="Printer", parent=hardware),
            "email": Category.objects.create(name="Email", parent=software)}


@pytest.fixture
def caller(db):
    return UserFactory(username="amelia", first_name="Amelia", last_name="Clarke",
                       email="amelia.clarke@example.com", roles=["requester"])


@pytest.fixture
def incident(agent, caller, desk_team):
    return services.incident_create(actor=agent, title="Payslips missing", requester=caller)


def edit_url(incident):
    return reverse("incidents:edit", kwargs={"key": incident.number})


def detail_url(incident):
    return reverse("incidents:detail", kwargs={"key": incident.number})


def edit_data(incident, **changes):
    """The edit form as the page fills it, with ``changes``."""
    data = {"title": incident.title, "description": incident.description,
            "requester": incident.requester.username, "channel": incident.channel,
            "category": incident.category_id or "", "subcategory": incident.subcategory_id or "",
            "service": incident.service_id or "", "ci": incident.ci_id or "",
            "cause_ci": incident.cause_ci_id or "", "impact": incident.impact,
            "urgency": incident.urgency}
    data.update(changes)
    return data


def writes():
    return AuditEntry.objects.count(), Activity.objects.count()


# --- Editing --------------------------------------------------------------------------

def test_the_form_shows_the_details_with_readable_picker_values(agent_client, incident,
                                                                 estate):
    services.incident_update(actor=None, incident=incident, service=estate["payroll"])
    response = agent_client.get(edit_url(incident))
    assert response.status_code == 200
    text = response.content.decode()
    assert f'value="Payroll (CI {estate["payroll"].pk})"' in text
    assert 'value="Amelia Clarke (amelia)"' in text
    assert 'list="edit_service_options"' in text and 'id="edit_service_options"' in text
    assert 'role="status"' in text
    # the detail page links to it (and loads it in place with htmx)
    detail = agent_client.get(detail_url(incident)).content.decode()
    assert f'href="{edit_url(incident)}"' in detail and f'hx-get="{edit_url(incident)}"' in detail


def test_editing_changes_only_what_differs_and_is_audited(agent_client, agent, incident,
                                                          estate, categories):
    other_caller = UserFactory(username="noah", first_name="Noah", last_name="Patel")
    response = agent_client.post(edit_url(incident), edit_data(
        incident, title="Payslips missing for March", requester="Noah Patel (noah)",
        category=categories["software"].pk, subcategory=categories["email"].pk,
        service=f"Payroll (CI {estate['payroll'].pk})", ci="pay-db-01",
        cause_ci=str(estate["server"].pk), impact=2, urgency=1))
    assert response.status_code == 302
    assert response["Location"] == detail_url(incident)
    incident.refresh_from_db()
    assert (incident.title, incident.requester, incident.category, incident.subcategory,
            incident.service, incident.ci, incident.cause_ci) == (
        "Payslips missing for March", other_caller, categories["software"],
        categories["email"], estate["payroll"], estate["server"], estate["server"])
    assert (incident.impact, incident.urgency, incident.priority) == (2, 1, 2)
    entry = AuditEntry.objects.filter(object_id=str(incident.pk), action=AuditAction.UPDATE,
                                      changes__has_key="title").get()
    assert set(entry.changes) == {"title", "requester", "category", "subcategory", "service",
                                  "ci", "cause_ci", "impact", "urgency"}
    assert AuditEntry.objects.filter(object_id=str(incident.pk),
                                     message__startswith="Priority from the matrix").exists()
    assert incident.activities.filter(kind="field_change", changes__has_key="service").exists()


def test_saving_without_changes_writes_nothing(agent_client, incident):
    Incident.objects.filter(pk=incident.pk).update(description="Since Monday.\nAll staff.")
    incident.refresh_from_db()
    before = writes()
    # as a browser sends the untouched textarea: with CRLF line ends
    response = agent_client.post(edit_url(incident), edit_data(
        incident, description="Since Monday.\r\nAll staff."))
    assert response.status_code == 302
    assert writes() == before


def test_an_untouched_impact_keeps_a_routing_bump(agent_client, agent, incident):
    """Only changed fields go to the service, so editing the title does not re-read the
    matrix (which would drop a priority raised by a routing rule)."""
    Incident.objects.filter(pk=incident.pk).update(priority=2)
    agent_client.post(edit_url(incident), edit_data(incident, title="Renamed"))
    incident.refresh_from_db()
    assert (incident.title, incident.priority) == ("Renamed", 2)
    # the service itself: same impact and urgency sent back keep it too; a new one re-reads
    incident = services.incident_update(actor=agent, incident=incident, impact=3, urgency=3,
                                        description="More")
    assert incident.priority == 2
    incident = services.incident_update(actor=agent, incident=incident, urgency=2)
    assert incident.priority == 4


def test_picker_errors_are_at_their_fields_and_nothing_is_written(agent_client, incident,
                                                                  estate):
    before = writes()
    response = agent_client.post(edit_url(incident), edit_data(
        incident, title="Changed", requester="nobody-like-this",
        service=f"pay-db-01 (CI {estate['server'].pk})", ci="Payroll", cause_ci="999999"))
    assert response.status_code == 400
    errors = response.context["form"].errors
    assert errors["requester"] == [
        "Nobody active matches “nobody-like-this”. Type part of their name, their username or "
        "email, and pick from the suggestions."]
    assert errors["service"] == [
        "pay-db-01 is not a business service: choose it as the configuration item."]
    assert errors["ci"] == ["Payroll is a business service: choose it as the affected service."]
    assert errors["cause_ci"] == ["There is no configuration item 999999."]
    text = response.content.decode()
    assert 'value="nobody-like-this"' in text  # what was typed is shown back
    assert 'aria-invalid="true"' in text
    incident.refresh_from_db()
    assert incident.title == "Payslips missing"
    assert writes() == before


def test_a_service_refusal_is_at_its_field_with_no_partial_write(agent_client, incident,
                                                                 categories):
    before = writes()
    response = agent_client.post(edit_url(incident), edit_data(
        incident, title="Changed too", category=categories["software"].pk,
        subcategory=categories["printer"].pk))
    assert response.status_code == 400
    assert response.context["form"].errors["subcategory"] == [
        "Choose one of the category's subcategories."]
    incident.refresh_from_db()
    assert (incident.title, incident.category) == ("Payslips missing", None)
    assert writes() == before


def test_other_field_errors(agent_client, incident):
    response = agent_client.post(edit_url(incident), edit_data(incident, title="", impact=7))
    assert response.status_code == 400
    errors = response.context["form"].errors
    assert set(errors) == {"title", "impact"}


def test_with_htmx_the_form_comes_and_goes_in_place(agent_client, incident):
    response = agent_client.get(edit_url(incident), headers=HTMX)
    text = response.content.decode()
    assert "<html" not in text and 'id="incident-edit"' in text and "autofocus" in text
    response = agent_client.post(edit_url(incident), edit_data(incident, title=""),
                                 headers=HTMX)
    assert response.status_code == 400
    assert "<html" not in response.content.decode()
    assert "field-error" in response.content.decode()
    response = agent_client.post(edit_url(incident), edit_data(incident, title="New"),
                                 headers=HTMX)
    assert response["HX-Redirect"] == detail_url(incident)


@pytest.mark.parametrize("state", [IncidentState.CLOSED, IncidentState.CANCELLED])
def test_closed_incidents_are_not_editable(agent_client, agent, incident, state):
    if state == IncidentState.CLOSED:
        services.incident_transition(actor=agent, incident=incident, to_state="resolved",
                                     resolution_code="user_error", resolution_notes="Done.")
    services.incident_transition(actor=agent, incident=incident, to_state=state)
    detail = agent_client.get(detail_url(incident)).content.decode()
    assert edit_url(incident) not in detail
    page = agent_client.get(edit_url(incident))
    assert page.context["form"] is None
    assert "its details can no longer be edited" in page.content.decode()
    assert 'name="title"' not in page.content.decode()
    before = writes()
    response = agent_client.post(edit_url(incident), edit_data(incident, title="Sneaky"))
    assert response.status_code == 400
    incident.refresh_from_db()
    assert incident.title == "Payslips missing"
    assert writes() == before


def test_requesters_cannot_edit(client, requester, incident):
    client.force_login(requester)
    assert client.post(edit_url(incident), edit_data(incident, title="x")).status_code == 403
    incident.refresh_from_db()
    assert incident.title == "Payslips missing"


# --- Pickers: lookups -----------------------------------------------------------------

def test_the_people_lookup_suggests_by_name_username_or_email(agent_client, agent, caller):
    # Fixed names: a random one ("Pamela") would match "amel" and make two suggestions.
    agent.first_name, agent.last_name = "Desk", "Agent"
    agent.save()
    caller.profile.department = "Finance"
    caller.profile.location = "London HQ"
    caller.profile.save()
    UserFactory(username="amelia.old", first_name="Amelia", last_name="Old", is_active=False)
    lookup = reverse("desk:people_lookup")
    for term in ("amel", "clarke", "amelia.clarke@", "Amelia Cl"):
        text = agent_client.get(lookup, {"requester": term, "status": "id_requester_status"},
                                headers=HTMX).content.decode()
        assert ('<option value="Amelia Clarke (amelia)">amelia.clarke@example.com · Finance · '
                'London HQ</option>') in text, term
        assert "amelia.old" not in text  # inactive people are not offered
        assert '<span id="id_requester_status" class="visually-hidden" role="status" ' \
               'hx-swap-oob="true">1 suggestion</span>' in text
    assert "<option" not in agent_client.get(lookup, {"q": "a"}).content.decode()


def test_the_ci_lookup_narrows_to_services_or_other_cis(agent_client, estate):
    lookup = reverse("cmdb:ci_lookup")
    services_only = agent_client.get(lookup, {"kind": "service", "service": "pay"}).content
    assert f'value="Payroll (CI {estate["payroll"].pk})">Business service' in \
        services_only.decode()
    assert b"pay-db-01" not in services_only
    cis_only = agent_client.get(lookup, {"kind": "ci", "ci": "pay"}).content.decode()
    assert f'value="pay-db-01 (CI {estate["server"].pk})">Server · paydb01' in cis_only
    assert "Payroll" not in cis_only


def test_lookups_are_for_the_desk(client, requester):
    client.force_login(requester)
    assert client.get(reverse("desk:people_lookup"), {"q": "am"}).status_code == 403
    assert client.get(reverse("cmdb:ci_lookup"), {"q": "pay"}).status_code == 403


# --- Pickers: typed text without JavaScript ------------------------------------------

def test_the_person_picker_reads_what_people_type(caller, db):
    field = PersonPickerField()
    for typed in ("Amelia Clarke (amelia)", "amelia", "AMELIA.CLARKE@example.com",
                  "Amelia Clarke", str(caller.pk)):
        assert field.clean(typed) == caller, typed
    UserFactory(username="amelia2", first_name="Amelia", last_name="Clarke")
    with pytest.raises(Exception) as error:
        field.clean("Amelia Clarke")
    assert "Several people match “Amelia Clarke” (amelia, amelia2): type the username." in \
        str(error.value)
    assert field.clean("Amelia Clarke (amelia2)").username == "amelia2"


def test_logging_an_incident_with_typed_names(agent_client, caller, estate, desk_team):
    response = agent_client.post(CREATE, {
        "requester": "amelia.clarke@example.com", "title": "Payroll slow", "channel": "phone",
        "service": "payroll", "ci": f"#{estate['server'].pk}", "impact": 3, "urgency": 3})
    incident = Incident.objects.get()
    assert response.status_code == 302
    assert (incident.requester, incident.service, incident.ci) == (
        caller, estate["payroll"], estate["server"])


def test_the_create_form_refuses_a_wrong_kind_at_the_field(agent_client, caller, estate):
    response = agent_client.post(CREATE, {
        "requester": "amelia", "title": "x", "channel": "phone", "service": "pay-db-01",
        "impact": 3, "urgency": 3})
    assert response.status_code == 400
    assert response.context["form"].errors["service"] == [
        "pay-db-01 is not a business service: choose it as the configuration item."]
    assert not Incident.objects.exists()


def test_a_caller_link_fills_the_picker(agent_client, caller):
    page = agent_client.get(CREATE, {"caller": caller.pk}).content.decode()
    assert 'value="Amelia Clarke (amelia)"' in page
    assert 'hx-get="/desk/people/lookup/?status=id_requester_status"' in page


# --- Subcategory follows the category -------------------------------------------------

def test_without_a_category_every_subcategory_is_offered_grouped(agent_client, categories):
    page = agent_client.get(CREATE).content.decode()
    assert '<optgroup label="Hardware">' in page and '<optgroup label="Software">' in page
    assert f'hx-get="{reverse("incidents:subcategory_options")}"' in page
    assert 'hx-target="#id_subcategory"' in page


def test_choosing_a_category_reloads_its_subcategories(agent_client, categories):
    options = agent_client.get(reverse("incidents:subcategory_options"),
                               {"category": categories["hardware"].pk},
                               headers=HTMX).content.decode()
    assert f'<option value="{categories["laptop"].pk}">Laptop</option>' in options
    assert f'<option value="{categories["printer"].pk}">Printer</option>' in options
    assert "Email" not in options and "optgroup" not in options
    everything = agent_client.get(reverse("incidents:subcategory_options")).content.decode()
    assert '<optgroup label="Software"><option value' in everything


def test_a_form_with_a_category_offers_only_its_subcategories(agent_client, agent, incident,
                                                              categories):
    services.incident_update(actor=agent, incident=incident, category=categories["hardware"],
                             subcategory=categories["laptop"])
    form = agent_client.get(edit_url(incident)).context["form"]
    assert [label for _value, label in form.fields["subcategory"].widget.choices] == [
        "—", "Laptop", "Printer"]
    assert form.fields["category"].widget.attrs["hx-target"] == "#edit_subcategory"


# --- Related CIs on the detail page ---------------------------------------------------

def test_the_detail_page_links_the_service_ci_and_cause_to_the_cmdb(agent_client, agent,
                                                                    incident, estate):
    services.incident_update(actor=agent, incident=incident, service=estate["payroll"],
                             ci=estate["server"], cause_ci=estate["server"])
    text = agent_client.get(detail_url(incident)).content.decode()
    for ci in (estate["payroll"], estate["server"]):
        assert f'<a href="{reverse("cmdb:ci_detail", args=[ci.pk])}">{ci.name}</a>' in text
        assert f'href="{reverse("cmdb:ci_detail", args=[ci.pk])}#impact"' in text
    assert "Business service · Deployed / operational" in text
    assert "Server · Deployed / operational" in text
    assert "Cause CI" in text
