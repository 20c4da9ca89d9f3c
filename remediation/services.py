"""The action library's one code path: create an action with its first draft, edit a
draft, make a new draft from the latest version, approve (four eyes: never the author),
retire; and check run parameters against a version's typed parameters."""

from __future__ import annotations

import hashlib
import re
from typing import Any

from django.db import transaction
from django.db.models import Max
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.services import require_permission, validated
from audit.context import as_actor
from audit.models import AuditAction
from audit.services import audit_record, diff, snapshot
from itsm.errors import DomainError, NotPermitted

from .models import Action, ActionKind, ActionVersion, VersionStatus

AUTHOR = "remediation.add_action"
APPROVE = "remediation.approve_actionversion"
VERSION_FIELDS = ("kind", "builtin", "interpreter", "script", "parameters", "platforms",
                  "timeout_seconds", "run_as", "risk", "read_only", "expected_outcome")
PARAMETER_TYPES = ("string", "integer", "boolean", "choice")
PLATFORMS = ("linux", "windows", "macos")
PARAMETER_NAME = re.compile(r"^[a-z][a-z0-9_]{0,39}$")


def _refuse(field: str, message: str, code: str = "invalid") -> DomainError:
    return DomainError(message, code=code, fields={field: [message]})


def _check_definition(version: ActionVersion) -> None:
    """A version's own rules: what it runs and the shape of its parameters."""
    if version.kind == ActionKind.SCRIPT:
        if not version.interpreter or not version.script.strip():
            raise _refuse("script", _("A script action needs an interpreter and a script."))
        if version.builtin:
            raise _refuse("builtin", _("A script action names no built-in."))
    elif version.kind == ActionKind.BUILTIN:
        if not version.builtin:
            raise _refuse("builtin", _("Choose the built-in this action runs."))
        if version.script:
            raise _refuse("script", _("A built-in action has no script."))
    if not isinstance(version.platforms, list) or any(
            p not in PLATFORMS for p in version.platforms):
        raise _refuse("platforms", _("Platforms are among: %(list)s.")
                      % {"list": ", ".join(PLATFORMS)})
    if not isinstance(version.parameters, list):
        raise _refuse("parameters", _("Parameters are a list."))
    seen = set()
    for spec in version.parameters:
        if not isinstance(spec, dict) or not PARAMETER_NAME.match(str(spec.get("name", ""))):
            raise _refuse("parameters", _("Each parameter has a name: lower-case letters, "
                                          "digits and underscores, starting with a letter."))
        if spec["name"] in seen:
            raise _refuse("parameters", _("The parameter %(name)s is declared twice.")
                          % {"name": spec["name"]})
        seen.add(spec["name"])
        if spec.get("type") not in PARAMETER_TYPES:
            raise _refuse("parameters", _("%(name)s: the type is one of %(types)s.")
                          % {"name": spec["name"], "types": ", ".join(PARAMETER_TYPES)})
        if spec["type"] == "choice" and not (isinstance(spec.get("choices"), list)
                                             and spec["choices"]):
            raise _refuse("parameters", _("%(name)s: list its choices.")
                          % {"name": spec["name"]})
        if spec.get("pattern"):
            try:
                re.compile(spec["pattern"])
            except re.error as error:
                raise _refuse("parameters", _("%(name)s: the pattern is not valid (%(e)s).")
                              % {"name": spec["name"], "e": error}) from error
    version.script_sha256 = hashlib.sha256(version.script.encode()).hexdigest() \
        if version.script else ""


def params_validate(version: ActionVersion, params: Any) -> dict[str, Any]:
    """Run parameters checked against the version's declaration: the typed values, or a
    DomainError naming each parameter at fault (``params.<name>``)."""
    if not isinstance(params, dict):
        raise _refuse("params", _("Parameters are an object of names and values."))
    specs = {spec["name"]: spec for spec in version.parameters}
    problems: dict[str, list[str]] = {}
    for name in set(params) - set(specs):
        problems[f"params.{name}"] = [_("Not a parameter of this action.")]
    clean: dict[str, Any] = {}
    for name, spec in specs.items():
        if name not in params or params[name] in (None, ""):
            if spec.get("required"):
                problems[f"params.{name}"] = [_("Required.")]
            continue
        value, error = _typed(spec, params[name])
        if error:
            problems[f"params.{name}"] = [error]
        else:
            clean[name] = value
    if problems:
        raise DomainError(_("Some parameters are not valid."), code="bad_params",
                          fields=problems)
    return clean


def _typed(spec: dict[str, Any], value: Any) -> tuple[Any, str]:
    kind = spec["type"]
    if kind == "boolean":
        if isinstance(value, bool):
            return value, ""
        return None, _("Yes or no (true or false).")
    if kind == "integer":
        if isinstance(value, bool) or not isinstance(value, int | str):
            return None, _("A whole number.")
        try:
            number = int(value)
        except ValueError:
            return None, _("A whole number.")
        if spec.get("min") is not None and number < spec["min"]:
            return None, _("At least %(n)s.") % {"n": spec["min"]}
        if spec.get("max") is not None and number > spec["max"]:
            return None, _("At most %(n)s.") % {"n": spec["max"]}
        return number, ""
    if not isinstance(value, str):
        return None, _("Text.")
    if kind == "choice":
        return (value, "") if value in spec["choices"] else (
            None, _("One of: %(list)s.") % {"list": ", ".join(map(str, spec["choices"]))})
    if len(value) > 1000 or "\x00" in value:
        return None, _("At most 1,000 characters, no NUL.")
    if spec.get("pattern") and not re.fullmatch(spec["pattern"], value):
        return None, _("Does not match the expected form.")
    return value, ""


def _snapshot(version: ActionVersion) -> dict[str, Any]:
    return snapshot(version, ("status", *VERSION_FIELDS))


@transaction.atomic
@as_actor
def action_create(*, actor: Any, name: str, title: str, description: str = "",
                  resolves_incident: bool = False, **version_fields: Any) -> ActionVersion:
    """A new action and its first draft version, authored by ``actor``."""
    require_permission(actor, AUTHOR)
    action = validated(Action(name=name.strip(), title=title.strip(),
                              description=description, resolves_incident=resolves_incident,
                              created_by=actor))
    action.save()
    audit_record(action=AuditAction.CREATE, target=action,
                 changes=diff({}, snapshot(action, ("name", "title"))))
    return _new_version(actor, action, version_fields)


@transaction.atomic
@as_actor
def action_update(*, actor: Any, action: Action, title: str, description: str,
                  resolves_incident: bool) -> Action:
    """The action's own fields (not its versions): its title, description and whether a
    run for an incident resolves it on success."""
    require_permission(actor, AUTHOR)
    action = Action.objects.select_for_update().get(pk=action.pk)
    fields = ("title", "description", "resolves_incident")
    before = snapshot(action, fields)
    action.title, action.description = title.strip(), description
    action.resolves_incident = bool(resolves_incident)
    validated(action)
    action.save(update_fields=list(fields))
    changed = diff(before, snapshot(action, fields))
    if changed:
        audit_record(action=AuditAction.UPDATE, target=action, changes=changed)
    return action


def _new_version(actor: Any, action: Action, fields: dict[str, Any]) -> ActionVersion:
    unknown = set(fields) - set(VERSION_FIELDS)
    if unknown:
        raise DomainError(_("These fields cannot be set: %(names)s")
                          % {"names": ", ".join(sorted(unknown))},
                          fields={name: [_("Not a field of a version.")] for name in unknown})
    number = (action.versions.aggregate(top=Max("version"))["top"] or 0) + 1
    version = ActionVersion(action=action, version=number, author=actor, **fields)
    _check_definition(version)
    validated(version, exclude=["script_sha256"])
    version.save()
    audit_record(action=AuditAction.CREATE, target=version, changes=diff({}, _snapshot(version)))
    return version


@transaction.atomic
@as_actor
def version_update(*, actor: Any, version: ActionVersion, **fields: Any) -> ActionVersion:
    """Edit a draft. An approved version never changes: make a new draft instead."""
    require_permission(actor, AUTHOR)
    version = ActionVersion.objects.select_for_update().get(pk=version.pk)
    if version.status != VersionStatus.DRAFT:
        raise _refuse("status", _("An approved or retired version does not change: make a "
                                  "new version."), code="not_draft")
    unknown = set(fields) - set(VERSION_FIELDS)
    if unknown:
        raise DomainError(_("These fields cannot be changed: %(names)s")
                          % {"names": ", ".join(sorted(unknown))},
                          fields={name: [_("Not editable.")] for name in unknown})
    before = _snapshot(version)
    for name, value in fields.items():
        setattr(version, name, value)
    _check_definition(version)
    validated(version, exclude=["script_sha256"])
    version.author = actor  # whoever last wrote it may not approve it
    version.save()
    changed = diff(before, _snapshot(version))
    if changed:
        audit_record(action=AuditAction.UPDATE, target=version, changes=changed)
    return version


@transaction.atomic
@as_actor
def version_new(*, actor: Any, action: Action) -> ActionVersion:
    """A new draft copied from the latest version (how an approved one is edited)."""
    require_permission(actor, AUTHOR)
    action = Action.objects.select_for_update().get(pk=action.pk)
    latest = action.versions.order_by("-version").first()
    if latest is not None and latest.status == VersionStatus.DRAFT:
        raise _refuse("version", _("Version %(n)s is still a draft: edit it instead.")
                      % {"n": latest.version}, code="draft_exists")
    fields = {name: getattr(latest, name) for name in VERSION_FIELDS} if latest else {}
    return _new_version(actor, action, fields)


@transaction.atomic
@as_actor
def version_approve(*, actor: Any, version: ActionVersion) -> ActionVersion:
    """Four eyes: a remediation approver who did not write it approves a draft; the
    approved version before it is retired."""
    require_permission(actor, APPROVE)
    version = ActionVersion.objects.select_for_update().select_related("action").get(
        pk=version.pk)
    if version.status != VersionStatus.DRAFT:
        raise _refuse("status", _("Only a draft is approved."), code="not_draft")
    if actor is not None and version.author_id == actor.pk:
        raise NotPermitted(_("You wrote this version: another approver must approve it."))
    now = timezone.now()
    for older in version.action.versions.filter(status=VersionStatus.APPROVED):
        older.status, older.retired_at = VersionStatus.RETIRED, now
        older.save(update_fields=["status", "retired_at"])
        audit_record(action=AuditAction.TRANSITION, target=older,
                     changes={"status": ["approved", "retired"]},
                     message=_("Superseded by v%(n)s") % {"n": version.version})
    version.status, version.approved_by, version.approved_at = (
        VersionStatus.APPROVED, actor, now)
    version.save(update_fields=["status", "approved_by", "approved_at"])
    audit_record(action=AuditAction.TRANSITION, target=version,
                 changes={"status": ["draft", "approved"]}, message=_("Approved"))
    return version


@transaction.atomic
@as_actor
def version_retire(*, actor: Any, version: ActionVersion) -> ActionVersion:
    require_permission(actor, APPROVE)
    version = ActionVersion.objects.select_for_update().get(pk=version.pk)
    if version.status == VersionStatus.RETIRED:
        raise _refuse("status", _("This version is already retired."), code="retired")
    before = version.status
    version.status, version.retired_at = VersionStatus.RETIRED, timezone.now()
    version.save(update_fields=["status", "retired_at"])
    audit_record(action=AuditAction.TRANSITION, target=version,
                 changes={"status": [before, "retired"]}, message=_("Retired"))
    return version


def version_runnable(version: ActionVersion) -> None:
    """Raise why this version may not run, if it may not."""
    if version.status != VersionStatus.APPROVED:
        raise _refuse("version", _("%(action)s v%(n)s is %(status)s: only an approved version "
                                   "runs.") % {"action": version.action.name,
                                               "n": version.version,
                                               "status": version.get_status_display().lower()},
                      code="version_not_approved")
