"""The one code path that changes a change record and the standard change catalogue:
create (by hand or from an approved template), update (affected CIs checked against the
template, rescheduling checked for conflicts), move along the lifecycle (approvals
started and cancelled, conflicts refreshed), and the template versions' own lifecycle
(draft → approved → retired). Risk, approvals, windows and the review have modules of
their own (risk.py, approvals.py, windows.py/conflicts.py, review.py)."""

from __future__ import annotations

import datetime
from collections.abc import Iterable
from typing import Any

from django.db import transaction
from django.db.models import Max
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.services import require_permission, validated
from audit.context import as_actor
from audit.models import AuditAction
from audit.services import audit_record, audit_value, diff, snapshot
from cmdb.models import ConfigurationItem
from itsm.errors import DomainError
from tickets import services as tickets

from .models import (
    Change,
    ChangeState,
    ChangeTemplate,
    ChangeTemplateVersion,
    ChangeType,
    TemplateStatus,
)

MANAGE = "changes.manage_changes"
DESK = "accounts.access_desk"
# Fields a template version gives the change made from it.
TEMPLATE_FIELDS = ("title", "description", "category", "implementation_plan",
                   "backout_plan", "test_plan", "impact", "outage_expected")
TEMPLATE_VERSION_FIELDS = (*TEMPLATE_FIELDS, "risk", "expected_minutes",
                           "remediation_action")
_SCHEDULE_FIELDS = {"planned_start", "planned_end"}



# --- Affected CIs, services, linked incidents -----------------------------------------

def _check_ci_classes(version: ChangeTemplateVersion | None,
                      items: Iterable[ConfigurationItem]) -> None:
    """A change from a template touches only the CI classes it allows."""
    if version is None:
        return
    allowed = {c.pk: c.name for c in version.allowed_ci_classes.all()}
    if not allowed:
        return
    refused = [ci for ci in items if ci.ci_class_id not in allowed]
    if refused:
        raise DomainError(
            _("The template “%(template)s” allows only %(classes)s; not %(items)s.") % {
                "template": version.template.name,
                "classes": ", ".join(sorted(allowed.values())),
                "items": ", ".join(f"{ci.name} ({ci.ci_class.name})" for ci in refused)},
            code="ci_class_not_allowed", fields={"cis": [_("Not allowed by the template.")]})


def _check_implementer(group: Any, assignee: Any) -> None:
    if group is not None and assignee is not None and not group.members.filter(
            pk=assignee.pk).exists():
        raise DomainError(
            _("%(name)s is not a member of %(group)s.") % {"name": assignee.get_username(),
                                                           "group": group.name},
            fields={"assignee": [_("Choose a member of the assignment group.")]})


def _check_services(items: Iterable[ConfigurationItem]) -> None:
    not_services = [ci.name for ci in items if not ci.ci_class.is_service]
    if not_services:
        raise DomainError(
            _("These are not services: %(names)s.") % {"names": ", ".join(not_services)},
            fields={"services": [_("Pick business or technical services.")]})


def _set_links(change: Change, *, cis: Iterable[ConfigurationItem] | None,
               services: Iterable[ConfigurationItem] | None,
               incidents: Iterable[Any] | None) -> dict[str, list]:
    """Replace the given link sets; return their changes for the audit entry."""
    changed: dict[str, list] = {}
    for name, items in (("cis", cis), ("services", services), ("incidents", incidents)):
        if items is None:
            continue
        items = list(dict.fromkeys(items))
        manager = getattr(change, name)
        before = sorted(manager.values_list("pk", flat=True)) if change.pk else []
        after = sorted(item.pk for item in items)
        if before != after:
            manager.set(items)
            changed[name] = [[audit_value(i) for i in manager.model.objects.filter(
                pk__in=before)], [audit_value(i) for i in items]]
    return changed


def _ci_list(items: Iterable[ConfigurationItem] | None) -> list[ConfigurationItem] | None:
    if items is None:
        return None
    return list(ConfigurationItem.objects.select_related("ci_class").filter(
        pk__in=[ci.pk for ci in items]))


# --- Create ---------------------------------------------------------------------------

@transaction.atomic
@as_actor
def change_create(*, actor: Any, type: str = ChangeType.NORMAL,
                  cis: Iterable[ConfigurationItem] = (),
                  services: Iterable[ConfigurationItem] = (),
                  incidents: Iterable[Any] = (),
                  template_version: ChangeTemplateVersion | None = None,
                  **fields: Any) -> Change:
    """A new change in New. A standard change names an approved template version (use
    :func:`change_create_from_template`); normal and emergency ones are assessed."""
    if actor is not None:
        require_permission(actor, DESK)
    if type not in ChangeType.values:
        raise DomainError(_("Choose standard, normal or emergency."),
                          fields={"type": [_("Not a change type.")]})
    if type == ChangeType.STANDARD:
        if template_version is None:
            raise DomainError(_("A standard change is created from an approved template."),
                              fields={"template": [_("Required for a standard change.")]})
        _require_usable(template_version)
    elif template_version is not None:
        raise DomainError(_("Only standard changes come from a template."),
                          fields={"template": [_("Only for a standard change.")]})
    cis, services = _ci_list(cis) or [], _ci_list(services) or []
    _check_ci_classes(template_version, cis)
    _check_services(services)
    _check_implementer(fields.get("assignment_group"), fields.get("assignee"))
    fields.setdefault("requester", actor)
    if template_version is not None:
        fields.update(_template_risk(template_version))
    change = tickets.ticket_create(model=Change, actor=actor, type=type,
                                   template_version=template_version, **fields)
    links = _set_links(change, cis=cis, services=services, incidents=list(incidents))
    if links:
        audit_record(action=AuditAction.UPDATE, target=change, changes=links)
    return change


def _template_risk(version: ChangeTemplateVersion) -> dict[str, Any]:
    """Pre-approved: the template's risk and approval stand for the change's."""
    return {
        "risk": version.risk, "risk_assessed_at": timezone.now(),
        "authorized_at": version.approved_at,
        "risk_factors": [{
            "key": "template", "label": _("Standard change template"), "points": 0,
            "detail": _("Pre-approved as %(risk)s risk in “%(template)s” v%(version)s.") % {
                "risk": version.get_risk_display().lower(),
                "template": version.template.name, "version": version.version}}],
    }


def _require_usable(version: ChangeTemplateVersion) -> None:
    if version.status != TemplateStatus.APPROVED:
        raise DomainError(
            _("“%(template)s” v%(version)s is %(status)s: only an approved version can be "
              "used.") % {"template": version.template.name, "version": version.version,
                          "status": version.get_status_display().lower()},
            code="template_not_approved", fields={"template": [_("Not approved.")]})


def template_current_version(template: ChangeTemplate) -> ChangeTemplateVersion | None:
    """The approved version new changes are made from (the highest approved one)."""
    return (template.versions.filter(status=TemplateStatus.APPROVED)
            .order_by("-version").first())


@transaction.atomic
@as_actor
def change_create_from_template(*, actor: Any, template: ChangeTemplate,
                                cis: Iterable[ConfigurationItem] = (),
                                **overrides: Any) -> Change:
    """A standard change from the template's approved version: its plans, risk and
    expected duration, with the caller's CIs, dates and any overrides of the text."""
    version = template_current_version(template)
    if version is None:
        raise DomainError(
            _("“%(template)s” has no approved version: it cannot be used.")
            % {"template": template.name},
            code="template_not_approved", fields={"template": [_("No approved version.")]})
    fields = {name: getattr(version, name) for name in TEMPLATE_FIELDS}
    fields.update({k: v for k, v in overrides.items() if v not in (None, "")})
    start = fields.get("planned_start")
    if start and not fields.get("planned_end"):
        fields["planned_end"] = start + datetime.timedelta(minutes=version.expected_minutes)
    return change_create(actor=actor, type=ChangeType.STANDARD, template_version=version,
                         cis=cis, **fields)


# --- Update ---------------------------------------------------------------------------

@transaction.atomic
@as_actor
def change_update(*, actor: Any, change: Change,
                  cis: Iterable[ConfigurationItem] | None = None,
                  services: Iterable[ConfigurationItem] | None = None,
                  incidents: Iterable[Any] | None = None, **fields: Any) -> Change:
    """Edit an open change. Rescheduling a scheduled change is checked against freezes
    and its conflicts are found again."""
    change = Change.objects.select_for_update().get(pk=change.pk)
    if not change.is_open:
        raise DomainError(_("A %(state)s change cannot be edited.") % {
            "state": change.get_state_display().lower()}, code="closed",
            fields={"state": [_("Closed to edits.")]})
    if actor is not None:
        require_permission(actor, DESK)
    cis, services = _ci_list(cis), _ci_list(services)
    if cis is not None:
        _check_ci_classes(change.template_version, cis)
    if services is not None:
        _check_services(services)
    if "assignment_group" in fields or "assignee" in fields:
        _check_implementer(fields.get("assignment_group", change.assignment_group),
                           fields.get("assignee", change.assignee))
    version = change.template_version
    if version is not None and fields.get("planned_start") and not fields.get("planned_end"):
        # A standard change lasts as long as its template expects unless told otherwise.
        fields["planned_end"] = fields["planned_start"] + datetime.timedelta(
            minutes=version.expected_minutes)
    rescheduling = change.state == ChangeState.SCHEDULED and (
        any(name in fields and fields[name] != getattr(change, name)
            for name in _SCHEDULE_FIELDS) or cis is not None or services is not None)
    if rescheduling:
        from .conflicts import freeze_problems

        problems = freeze_problems(change, {
            **fields, "planned_start": fields.get("planned_start", change.planned_start),
            "planned_end": fields.get("planned_end", change.planned_end)})
        if problems:
            raise DomainError(next(iter(problems.values()))[0], code="freeze",
                              fields=problems)
    if fields:
        change = tickets.ticket_update(ticket=change, actor=actor, **fields)
    links = _set_links(change, cis=cis, services=services, incidents=incidents)
    if links:
        audit_record(action=AuditAction.UPDATE, target=change, changes=links)
        tickets.ticket_event("updated", change, {"changes": links})
    if rescheduling:
        from .conflicts import conflicts_refresh

        conflicts_refresh(change=change)
    return change


# --- Lifecycle ------------------------------------------------------------------------

@transaction.atomic
@as_actor
def change_transition(*, actor: Any, change: Change, to_state: str, note: str = "",
                      **values: Any) -> Change:
    """Move the change as CHANGE_WORKFLOW allows, starting or cancelling its approval
    round and finding its conflicts as it enters or leaves those states."""
    from . import approvals, conflicts

    before = change.state
    change = tickets.ticket_transition(ticket=change, to_state=to_state, actor=actor,
                                       note=note, **values)
    if to_state == ChangeState.AUTHORIZE:
        approvals.approval_start(change=change)
    elif before == ChangeState.AUTHORIZE and to_state in (ChangeState.ASSESS,
                                                          ChangeState.CANCELLED):
        approvals.approvals_cancel(change=change, reason=note or _("Left authorisation."))
    if to_state == ChangeState.SCHEDULED:
        conflicts.conflicts_refresh(change=change)
    return change


# --- Standard change templates --------------------------------------------------------

@transaction.atomic
@as_actor
def template_create(*, actor: Any, name: str, template_description: str = "",
                    owner_team: Any = None, **version_fields: Any) -> ChangeTemplateVersion:
    """A new template (``template_description`` is the catalogue's text) with its first,
    draft, version (``version_fields``)."""
    require_permission(actor, MANAGE)
    template = validated(ChangeTemplate(name=name.strip(), description=template_description,
                                        owner_team=owner_team))
    template.save()
    audit_record(action=AuditAction.CREATE, target=template,
                 changes=diff({}, snapshot(template, ("name", "owner_team"))))
    return template_version_create(actor=actor, template=template, **version_fields)


def _version_snapshot(version: ChangeTemplateVersion) -> dict[str, Any]:
    data = snapshot(version, TEMPLATE_VERSION_FIELDS)
    if version.pk:
        data["allowed_ci_classes"] = sorted(c.key for c in version.allowed_ci_classes.all())
    return data


@transaction.atomic
@as_actor
def template_version_create(*, actor: Any, template: ChangeTemplate,
                            allowed_ci_classes: Iterable[Any] = (),
                            **fields: Any) -> ChangeTemplateVersion:
    """A new draft version. Without fields it copies the latest version: how an approved
    version is edited (approved versions never change)."""
    require_permission(actor, MANAGE)
    template = ChangeTemplate.objects.select_for_update().get(pk=template.pk)
    latest = template.versions.order_by("-version").first()
    if latest is not None and latest.status == TemplateStatus.DRAFT:
        raise DomainError(
            _("Version %(version)s is still a draft: edit it instead.")
            % {"version": latest.version}, code="draft_exists",
            fields={"version": [_("A draft exists.")]})
    if latest is not None and not fields:
        fields = {name: getattr(latest, name) for name in TEMPLATE_VERSION_FIELDS}
        allowed_ci_classes = list(latest.allowed_ci_classes.all())
    number = (template.versions.aggregate(top=Max("version"))["top"] or 0) + 1
    version = ChangeTemplateVersion(template=template, version=number,
                                    status=TemplateStatus.DRAFT, created_by=actor, **fields)
    validated(version)
    version.save()
    version.allowed_ci_classes.set(list(allowed_ci_classes))
    audit_record(action=AuditAction.CREATE, target=version,
                 changes=diff({}, _version_snapshot(version)))
    return version


@transaction.atomic
@as_actor
def template_version_update(*, actor: Any, version: ChangeTemplateVersion,
                            allowed_ci_classes: Iterable[Any] | None = None,
                            **fields: Any) -> ChangeTemplateVersion:
    require_permission(actor, MANAGE)
    version = ChangeTemplateVersion.objects.select_for_update().get(pk=version.pk)
    if version.status != TemplateStatus.DRAFT:
        raise DomainError(
            _("An approved or retired version does not change: make a new version."),
            code="not_draft", fields={"status": [_("Only drafts are edited.")]})
    unknown = set(fields) - set(TEMPLATE_VERSION_FIELDS)
    if unknown:
        raise DomainError(_("These fields cannot be changed: %(names)s")
                          % {"names": ", ".join(sorted(unknown))},
                          fields={name: [_("Not editable.")] for name in unknown})
    before = _version_snapshot(version)
    for name, value in fields.items():
        setattr(version, name, value)
    validated(version)
    version.save()
    if allowed_ci_classes is not None:
        version.allowed_ci_classes.set(list(allowed_ci_classes))
    changed = diff(before, _version_snapshot(version))
    if changed:
        audit_record(action=AuditAction.UPDATE, target=version, changes=changed)
    return version


def _set_status(version: ChangeTemplateVersion, status: str, message: str,
                **stamps: Any) -> ChangeTemplateVersion:
    before = snapshot(version, ("status", *stamps))
    version.status = status
    for name, value in stamps.items():
        setattr(version, name, value)
    version.save(update_fields=["status", *stamps])
    audit_record(action=AuditAction.TRANSITION, target=version,
                 changes=diff(before, snapshot(version, ("status", *stamps))),
                 message=message)
    return version


@transaction.atomic
@as_actor
def template_version_approve(*, actor: Any, version: ChangeTemplateVersion
                             ) -> ChangeTemplateVersion:
    """A change manager approves a draft once; changes from it need no further approval.
    The version it supersedes is retired, so one approved version is current."""
    require_permission(actor, MANAGE)
    version = ChangeTemplateVersion.objects.select_for_update().get(pk=version.pk)
    if version.status != TemplateStatus.DRAFT:
        raise DomainError(_("Only a draft is approved."), code="not_draft",
                          fields={"status": [_("Not a draft.")]})
    now = timezone.now()
    for older in version.template.versions.filter(status=TemplateStatus.APPROVED):
        _set_status(older, TemplateStatus.RETIRED,
                    _("Superseded by v%(version)s") % {"version": version.version},
                    retired_at=now)
    return _set_status(version, TemplateStatus.APPROVED, _("Approved"),
                       approved_by=actor, approved_at=now)


@transaction.atomic
@as_actor
def template_version_retire(*, actor: Any, version: ChangeTemplateVersion
                            ) -> ChangeTemplateVersion:
    """No new changes from this version; those made from it carry on."""
    require_permission(actor, MANAGE)
    version = ChangeTemplateVersion.objects.select_for_update().get(pk=version.pk)
    if version.status == TemplateStatus.RETIRED:
        raise DomainError(_("This version is already retired."), code="retired",
                          fields={"status": [_("Already retired.")]})
    return _set_status(version, TemplateStatus.RETIRED, _("Retired"),
                       retired_at=timezone.now())
