"""The action library: versions, four-eyes approval, and typed parameters checked on the
server with the parameter named."""

import pytest

from audit.models import AuditEntry
from itsm.errors import DomainError, NotPermitted
from remediation import services
from remediation.models import ActionVersion
from tests.factories import UserFactory

SCRIPT = {"kind": "script", "interpreter": "sh", "script": 'systemctl restart "$1"',
          "parameters": [{"name": "service", "type": "string", "required": True,
                          "pattern": r"[a-z0-9@._-]+"},
                         {"name": "attempts", "type": "integer", "min": 1, "max": 5},
                         {"name": "mode", "type": "choice", "choices": ["soft", "hard"]},
                         {"name": "dry_run", "type": "boolean"}],
          "platforms": ["linux"], "timeout_seconds": 60}


@pytest.fixture
def author(db):
    return UserFactory(username="op", roles=["remediation_operator"])


@pytest.fixture
def approver(db):
    return UserFactory(username="apv", roles=["remediation_approver"])


@pytest.fixture
def draft(author):
    return services.action_create(actor=author, name="restart-service",
                                  title="Restart a service", **SCRIPT)


def test_a_draft_is_hashed_audited_and_not_runnable(draft):
    assert draft.status == "draft" and len(draft.script_sha256) == 64
    assert AuditEntry.objects.filter(object_id=str(draft.pk), action="create").exists()
    with pytest.raises(DomainError) as error:
        services.version_runnable(draft)
    assert error.value.code == "version_not_approved"


def test_four_eyes_the_author_cannot_approve_their_own_version(draft, author, approver):
    author_and_approver = UserFactory(username="both",
                                      roles=["remediation_operator", "remediation_approver"])
    with pytest.raises(NotPermitted):  # no approver role
        services.version_approve(actor=author, version=draft)
    services.version_update(actor=author_and_approver, version=draft, timeout_seconds=90)
    with pytest.raises(NotPermitted, match="another approver"):
        services.version_approve(actor=author_and_approver, version=draft)
    approved = services.version_approve(actor=approver, version=draft)
    assert approved.status == "approved" and approved.approved_by == approver
    services.version_runnable(approved)


def test_editing_an_approved_version_makes_a_new_draft(draft, author, approver):
    services.version_approve(actor=approver, version=draft)
    with pytest.raises(DomainError) as error:
        services.version_update(actor=author, version=draft, script="echo changed")
    assert error.value.code == "not_draft"
    v2 = services.version_new(actor=author, action=draft.action)
    assert (v2.version, v2.status, v2.script) == (2, "draft", draft.script)
    services.version_update(actor=author, version=v2, script="systemctl try-restart \"$1\"")
    services.version_approve(actor=approver, version=v2)
    draft.refresh_from_db()
    assert draft.status == "retired"
    assert ActionVersion.objects.filter(status="approved").get() == v2


@pytest.mark.parametrize(("fields", "field"), [
    ({"kind": "script", "interpreter": "sh", "script": ""}, "script"),
    ({"kind": "builtin", "builtin": ""}, "builtin"),
    ({"kind": "builtin", "builtin": "flush_dns", "platforms": ["solaris"]}, "platforms"),
    ({"kind": "builtin", "builtin": "flush_dns",
      "parameters": [{"name": "Bad Name", "type": "string"}]}, "parameters"),
    ({"kind": "builtin", "builtin": "flush_dns",
      "parameters": [{"name": "x", "type": "choice"}]}, "parameters"),
    ({"kind": "builtin", "builtin": "flush_dns", "timeout_seconds": 0}, "timeout_seconds"),
])
def test_a_bad_definition_is_refused_by_field(author, fields, field):
    with pytest.raises(DomainError) as error:
        services.action_create(actor=author, name="x", title="X", **fields)
    assert field in error.value.fields


@pytest.mark.parametrize(("params", "field"), [
    ({}, "params.service"),
    ({"service": "cups; rm -rf /"}, "params.service"),
    ({"service": "cups", "attempts": 9}, "params.attempts"),
    ({"service": "cups", "attempts": "two"}, "params.attempts"),
    ({"service": "cups", "mode": "brutal"}, "params.mode"),
    ({"service": "cups", "dry_run": "yes"}, "params.dry_run"),
    ({"service": "cups", "extra": 1}, "params.extra"),
])
def test_parameters_of_the_wrong_type_or_value_name_the_parameter(draft, params, field):
    with pytest.raises(DomainError) as error:
        services.params_validate(draft, params)
    assert field in error.value.fields


def test_good_parameters_come_back_typed(draft):
    assert services.params_validate(draft, {"service": "cups.service", "attempts": "3",
                                            "mode": "soft", "dry_run": False}) == {
        "service": "cups.service", "attempts": 3, "mode": "soft", "dry_run": False}
