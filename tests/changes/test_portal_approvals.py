# ruff: noqa: F811 (fixtures imported from test_approvals are used as arguments)
"""The portal's approval pages for business approvers: their pending decisions, one
change's approval context (only for its approvers), and deciding from either page."""

import pytest
from django.urls import reverse

from changes.models import ApprovalState
from cmdb.models import ConfigurationItem
from tests.changes.test_approvals import (  # noqa: F401 (fixtures)
    business,
    cab,
    current_round,
    make_change,
    make_policy,
    owner,
    task_for,
    to_authorize,
)
from tests.cmdb.factories import CIFactory, ci_class
from tests.factories import UserFactory


@pytest.fixture
def asked(owner, business, cab):
    make_policy(people=[business, cab[0]], rule="all")
    change = to_authorize(make_change(owner, title="Move payroll to the new cluster",
                                      justification="The old cluster is out of support.",
                                      implementation_plan="Drain, migrate, verify. " * 60))
    service = CIFactory(name="Payroll", ci_class=ci_class("business_service"))
    change.services.add(service)
    return change


def test_inbox_lists_my_pending_decisions(client, business, asked):
    client.force_login(business)
    page = client.get(reverse("portal:approvals"))
    assert page.status_code == 200
    html = page.content.decode()
    assert asked.number in html and "Move payroll to the new cluster" in html
    assert reverse("portal:approval_detail", args=[asked.pk]) in html


def test_detail_shows_the_approval_context(client, business, asked):
    client.force_login(business)
    page = client.get(reverse("portal:approval_detail", args=[asked.pk]))
    assert page.status_code == 200
    html = page.content.decode()
    assert "The old cluster is out of support." in html
    assert "Payroll" in html
    assert "…" in html  # the plan is summarised
    assert 'value="approve"' in html


def test_detail_is_404_for_anyone_not_asked(client, asked):
    stranger = UserFactory(username="stranger", roles=["requester"])
    client.force_login(stranger)
    assert client.get(reverse("portal:approval_detail", args=[asked.pk])).status_code == 404
    task = task_for(asked, current_round(asked).tasks.first().approver)
    response = client.post(reverse("portal:approvals"), {"task": task.pk,
                                                         "decision": "approve"})
    assert response.status_code == 404
    task.refresh_from_db()
    assert task.state == ApprovalState.PENDING


def test_approve_from_the_detail_page(client, business, asked):
    client.force_login(business)
    url = reverse("portal:approval_detail", args=[asked.pk])
    task = task_for(asked, business)
    response = client.post(url, {"task": task.pk, "decision": "approve"})
    assert response.status_code == 302 and response["Location"] == url
    task.refresh_from_db()
    assert task.state == ApprovalState.APPROVED
    page = client.get(url)
    assert "Nothing is waiting for your decision" in page.content.decode()


def test_reject_needs_a_reason_then_works_from_the_inbox(client, business, asked):
    client.force_login(business)
    task = task_for(asked, business)
    bad = client.post(reverse("portal:approvals"), {"task": task.pk, "decision": "reject",
                                                    "comment": ""})
    assert bad.status_code == 400
    assert "Say why you reject the change." in bad.content.decode()
    good = client.post(reverse("portal:approvals"), {"task": task.pk, "decision": "reject",
                                                     "comment": "Payroll run on Friday."})
    assert good.status_code == 302
    asked.refresh_from_db()
    assert current_round(asked).state == ApprovalState.REJECTED
    assert asked.state == "assess"
    html = client.get(reverse("portal:approvals")).content.decode()
    assert "Nothing is waiting for your approval." in html
    assert reverse("portal:approval_detail", args=[asked.pk]) not in html


def test_ask_for_information_from_the_portal(client, business, asked):
    client.force_login(business)
    task = task_for(asked, business)
    response = client.post(reverse("portal:approval_detail", args=[asked.pk]),
                           {"task": task.pk, "decision": "info",
                            "comment": "Who tests payslips afterwards?"})
    assert response.status_code == 302
    assert current_round(asked).state == ApprovalState.INFO_REQUESTED


def test_services_fixture_is_a_business_service(asked):
    assert ConfigurationItem.objects.filter(name="Payroll").exists()
