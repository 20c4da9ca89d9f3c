"""The standard change catalogue's desk pages: the list, a template's versions, creating a
template, editing its draft, approving it (once, superseding the approved version), a new
version from the latest, retiring one, and using an approved template (straight to
Scheduled; CIs of other classes refused; a retired template refused). Only change
managers manage the catalogue."""

import datetime

import pytest
from django.urls import reverse
from django.utils import timezone

from changes import services
from changes.models import Change, ChangeTemplate, ChangeTemplateVersion
from tests.cmdb.factories import CIFactory, ci_class

from .conftest import soon

LIST = reverse("changes:template_list")
CREATE = reverse("changes:template_create")


@pytest.fixture
def cm_client(client, change_manager):
    client.force_login(change_manager)
    return client


@pytest.fixture
def impl_client(client, implementer):
    client.force_login(implementer)
    return client


def url(name, obj):
    return reverse(f"changes:{name}", kwargs={"pk": obj.pk})


def local(value: datetime.datetime) -> str:
    return timezone.localtime(value, datetime.UTC).strftime("%Y-%m-%dT%H:%M")


VERSION = {"title": "Rotate the TLS certificate", "implementation_plan": "Install the new one",
           "backout_plan": "Put the old one back", "risk": "low", "impact": "3",
           "expected_minutes": "30"}


def test_the_catalogue_lists_templates_with_their_current_version(impl_client, template):
    response = impl_client.get(LIST)
    html = response.content.decode()
    row = response.context["rows"][0]
    assert row["current"].version == 1
    assert "Patch a Linux server" in html and "v1 · Monthly OS patching" in html
    assert "Server" in html and "45 minutes" in html
    assert url("template_use", template) in html
    assert CREATE not in html  # a resolver does not manage the catalogue


def test_a_change_manager_creates_a_template_as_a_draft(cm_client, change_manager):
    response = cm_client.post(CREATE, {
        "name": "Certificate rotation", "template_description": "Web certificates",
        "description": "The yearly rotation",
        **VERSION, "allowed_ci_classes": [ci_class("server").pk],
        "remediation_action": "rotate_certificate"})
    template = ChangeTemplate.objects.get(name="Certificate rotation")
    assert response.status_code == 302 and response.url == url("template_detail", template)
    version = template.versions.get()
    assert (version.version, version.status, version.expected_minutes) == (1, "draft", 30)
    assert version.remediation_action == "rotate_certificate"
    assert (version.description, template.description) == ("The yearly rotation",
                                                           "Web certificates")
    assert [c.key for c in version.allowed_ci_classes.all()] == ["server"]
    html = cm_client.get(url("template_detail", template)).content.decode()
    assert "rotate_certificate" in html and "No approved version: cannot be used" in html


def test_creating_a_template_needs_its_plans_and_a_unique_name(cm_client, template):
    response = cm_client.post(CREATE, {"name": "Patch a Linux server", **VERSION})
    assert response.status_code == 400
    assert "name" in response.context["form"].errors
    response = cm_client.post(CREATE, {"name": "Other", **VERSION, "backout_plan": ""})
    assert "backout_plan" in response.context["form"].errors
    assert ChangeTemplate.objects.count() == 1


def test_edit_a_draft_then_approve_it(cm_client, change_manager):
    version = services.template_create(actor=change_manager, name="DNS record",
                                       title="Add a DNS record", implementation_plan="Add",
                                       backout_plan="Remove")
    edit = url("template_version_edit", version)
    assert cm_client.get(edit).context["form"]["title"].value() == "Add a DNS record"
    response = cm_client.post(edit, {**VERSION, "title": "Add or change a DNS record"})
    assert response.status_code == 302
    version.refresh_from_db()
    assert version.title == "Add or change a DNS record" and version.expected_minutes == 30
    response = cm_client.post(url("template_version_approve", version))
    assert response.status_code == 302
    version.refresh_from_db()
    assert (version.status, version.approved_by) == ("approved", change_manager)
    # Approved once: it is not approved again, nor edited.
    cm_client.post(url("template_version_approve", version))
    messages = [str(m) for m in cm_client.get(url("template_detail", version.template))
                .context["messages"]]
    assert "Only a draft is approved." in messages
    assert cm_client.get(edit).context["form"] is None
    cm_client.post(edit, {**VERSION, "title": "Changed"})
    version.refresh_from_db()
    assert version.title == "Add or change a DNS record"


def test_a_new_version_from_the_latest_supersedes_it_once_approved(cm_client, template):
    v1 = services.template_current_version(template)
    response = cm_client.post(url("template_version_new", template))
    v2 = template.versions.get(version=2)
    assert response.status_code == 302 and response.url == url("template_version_edit", v2)
    assert (v2.status, v2.backout_plan) == ("draft", v1.backout_plan)
    # One draft at a time: refused with a message, no third version.
    cm_client.post(url("template_version_new", template))
    assert template.versions.count() == 2
    cm_client.post(url("template_version_approve", v2))
    v1.refresh_from_db()
    v2.refresh_from_db()
    assert (v1.status, v2.status) == ("retired", "approved")
    page = cm_client.get(url("template_detail", template))
    assert page.context["current"] == v2
    assert [v.version for v in page.context["versions"]] == [2, 1]


def test_retiring_stops_new_changes_from_the_template(cm_client, template, server):
    version = services.template_current_version(template)
    assert cm_client.post(url("template_version_retire", version)).status_code == 302
    version.refresh_from_db()
    assert version.status == "retired" and version.retired_at is not None
    response = cm_client.get(url("template_use", template))
    assert response.context["form"] is None
    assert "has no approved version: it cannot be used" in response.content.decode()
    response = cm_client.post(url("template_use", template), {
        "cis": [server.name], "planned_start": local(soon(days=1))})
    assert response.status_code == 400
    assert not Change.objects.exists()
    assert url("template_use", template) not in cm_client.get(LIST).content.decode()


def test_using_a_template_schedules_a_standard_change(impl_client, implementer, team,
                                                      template, server):
    start = soon(days=1).replace(second=0)
    response = impl_client.post(url("template_use", template), {
        "cis": [f"web-01 (CI {server.pk})"], "planned_start": local(start),
        "assignment_group": team.pk, "assignee": implementer.pk, "schedule": "on"})
    change = Change.objects.get()
    assert response.status_code == 302 and response.url == url("detail", change)
    assert (change.type, change.state, change.title) == ("standard", "scheduled",
                                                         "Monthly OS patching")
    assert change.planned_end == start + datetime.timedelta(minutes=45)
    assert list(change.cis.all()) == [server]
    assert (change.assignment_group, change.assignee) == (team, implementer)
    html = impl_client.get(url("detail", change)).content.decode()
    assert "Patch a Linux server</a> v1" in html


def test_using_a_template_without_scheduling_leaves_it_new(impl_client, template, server):
    impl_client.post(url("template_use", template), {
        "cis": [server.name], "planned_start": local(soon(days=1)), "title": "Patch web-01"})
    change = Change.objects.get()
    assert (change.state, change.title) == ("new", "Patch web-01")


def test_a_ci_of_a_class_the_template_does_not_allow_is_refused(impl_client, template,
                                                                app_ci):
    response = impl_client.post(url("template_use", template), {
        "cis": [app_ci.name], "planned_start": local(soon(days=1)), "schedule": "on"})
    assert response.status_code == 400
    assert response.context["form"].errors["cis"] == [
        "payroll-app (Application) is not a class this template allows."]
    assert not Change.objects.exists()
    # The picker only suggests CIs of the allowed classes.
    CIFactory(name="web-02", ci_class=ci_class("server"))
    CIFactory(name="web-shop", ci_class=ci_class("application"))
    html = impl_client.get(url("template_ci_lookup", template), {"q": "web"}).content.decode()
    assert "web-02" in html and "web-shop" not in html


def test_a_resolver_cannot_manage_the_catalogue(impl_client, template):
    version = services.template_current_version(template)
    assert impl_client.get(CREATE).status_code == 403
    assert impl_client.post(CREATE, {"name": "Mine", **VERSION}).status_code == 403
    assert impl_client.post(url("template_version_new", template)).status_code == 403
    assert impl_client.post(url("template_version_retire", version)).status_code == 403
    assert not ChangeTemplate.objects.filter(name="Mine").exists()
    assert template.versions.count() == 1
    version.refresh_from_db()
    assert version.status == "approved"


def test_a_resolver_cannot_approve_a_draft(impl_client, change_manager, template):
    draft = services.template_version_create(actor=change_manager, template=template)
    response = impl_client.post(url("template_version_approve", draft))
    assert response.status_code == 403
    draft.refresh_from_db()
    assert draft.status == "draft"
    assert ChangeTemplateVersion.objects.filter(status="approved").count() == 1
