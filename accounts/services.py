"""Writes for people, teams, roles and API tokens. Views, the API, the admin, commands and
tasks call these; each checks permission, validates, writes and audits."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser, Group
from django.contrib.auth.password_validation import validate_password
from django.contrib.sessions.models import Session
from django.core.exceptions import ValidationError
from django.db import IntegrityError, models, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from audit.context import as_actor
from audit.models import AuditAction
from audit.services import audit_record, diff, snapshot
from itsm.errors import Conflict, DomainError, NotPermitted

from .models import ApiToken, Team, TeamMembership, UserProfile
from .roles import ROLES_BY_KEY

User = get_user_model()

USER_FIELDS = ("first_name", "last_name", "email", "is_active")
PROFILE_FIELDS = (
    "display_name", "job_title", "department", "phone", "manager", "location", "time_zone",
    "vip",
)
# What anyone may change about themselves; the rest needs accounts.manage_users.
SELF_EDITABLE_FIELDS = frozenset(
    {"first_name", "last_name", "display_name", "phone", "location", "time_zone"}
)
TEAM_FIELDS = ("name", "description", "email", "phone", "manager", "is_service_desk", "is_active")
TOKEN_PREFIX = "itsm_"


def require_permission(actor: Any, permission: str) -> None:
    """``actor`` None means the system itself (a task, a migration): always allowed."""
    if actor is not None and not actor.has_perm(permission):
        raise NotPermitted(_("You do not have permission to do this."))


def validated(instance: models.Model, *, exclude: Iterable[str] = ()) -> models.Model:
    try:
        instance.full_clean(exclude=list(exclude))
    except ValidationError as error:
        fields = {k: [str(m) for m in v] for k, v in error.message_dict.items()}
        first = next(iter(fields.values()))[0]
        raise DomainError(first, fields=fields) from error
    return instance


def reject_unknown_fields(changes: Iterable[str], allowed: Iterable[str]) -> None:
    unknown = set(changes) - set(allowed)
    if unknown:
        raise DomainError(
            _("Unknown fields: %(names)s") % {"names": ", ".join(sorted(unknown))},
            fields={name: [_("Unknown field.")] for name in unknown},
        )


def _split(changes: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    reject_unknown_fields(changes, (*USER_FIELDS, *PROFILE_FIELDS))
    user_changes = {k: v for k, v in changes.items() if k in USER_FIELDS}
    profile_changes = {k: v for k, v in changes.items() if k in PROFILE_FIELDS}
    return user_changes, profile_changes


def profile_of(user: AbstractBaseUser) -> UserProfile:
    try:
        return user.profile  # type: ignore[attr-defined]
    except UserProfile.DoesNotExist:
        profile, _created = UserProfile.objects.get_or_create(user=user)
        return profile


# --- People ---------------------------------------------------------------------------

@transaction.atomic
@as_actor
def user_create(
    *,
    actor: Any,
    username: str,
    email: str = "",
    password: str | None = None,
    first_name: str = "",
    last_name: str = "",
    roles: Iterable[str] = ("requester",),
    **profile_fields: Any,
) -> Any:
    require_permission(actor, "accounts.manage_users")
    if User.objects.filter(username__iexact=username).exists():
        raise Conflict(
            _("A person with the username %(name)s already exists.") % {"name": username},
            fields={"username": [_("This username is taken.")]},
        )
    is_active = profile_fields.pop("is_active", True)
    _user_changes, profile_changes = _split(profile_fields)
    user = User(username=username, email=email, first_name=first_name, last_name=last_name,
                is_active=is_active)
    validated(user, exclude=["password"])
    if password:
        _check_password(password, user)
        user.set_password(password)
    else:
        user.set_unusable_password()
    user.save()
    profile = UserProfile(user=user, **profile_changes)
    validated(profile, exclude=["user"])
    profile.save()
    audit_record(
        action=AuditAction.CREATE, target=user,
        changes=diff({}, {**snapshot(user, ("username", *USER_FIELDS)),
                          **snapshot(profile, PROFILE_FIELDS)}),
    )
    _set_roles(user, roles)
    return user


@transaction.atomic
@as_actor
def user_update(*, actor: Any, user: Any, **changes: Any) -> Any:
    """Edit a person's details. Everyone may edit a few of their own fields."""
    if actor is not None and not (
        actor.pk == user.pk and set(changes) <= SELF_EDITABLE_FIELDS
    ):
        require_permission(actor, "accounts.manage_users")
    user_changes, profile_changes = _split(changes)
    user = User.objects.select_for_update().get(pk=user.pk)
    profile = profile_of(user)
    before = {**snapshot(user, user_changes), **snapshot(profile, profile_changes)}
    for name, value in user_changes.items():
        setattr(user, name, value)
    for name, value in profile_changes.items():
        setattr(profile, name, value)
    if profile.manager_id is not None and profile.manager_id == user.pk:
        raise DomainError(_("A person cannot be their own manager."),
                          fields={"manager": [_("Choose someone else.")]})
    validated(user, exclude=["password"])
    validated(profile, exclude=["user"])
    after = {**snapshot(user, user_changes), **snapshot(profile, profile_changes)}
    changed = diff(before, after)
    if changed:
        user.save()
        profile.save()
        audit_record(action=AuditAction.UPDATE, target=user, changes=changed)
    return user


def _set_roles(user: Any, role_keys: Iterable[str]) -> dict[str, list[Any]]:
    keys = list(dict.fromkeys(role_keys))
    unknown = [k for k in keys if k not in ROLES_BY_KEY]
    if unknown:
        raise DomainError(
            _("Unknown roles: %(names)s") % {"names": ", ".join(unknown)},
            fields={"roles": [_("Choose from the listed roles.")]},
        )
    before = sorted(user.groups.values_list("name", flat=True))
    groups = [Group.objects.get_or_create(name=ROLES_BY_KEY[k].name)[0] for k in keys]
    user.groups.set(groups)
    is_admin = "administrator" in keys
    if user.is_staff != is_admin:  # the Django admin is for administrators only
        user.is_staff = is_admin
        user.save(update_fields=["is_staff"])
    after = sorted(g.name for g in groups)
    changed = {"roles": [before, after]} if before != after else {}
    if changed:
        audit_record(action=AuditAction.UPDATE, target=user, changes=changed)
    # Permissions are cached on the instance; drop the cache so checks see the change.
    for cache in ("_perm_cache", "_group_perm_cache", "_user_perm_cache"):
        user.__dict__.pop(cache, None)
    return changed


@transaction.atomic
@as_actor
def user_set_roles(*, actor: Any, user: Any, roles: Iterable[str]) -> Any:
    require_permission(actor, "accounts.manage_users")
    keys = list(roles)
    if actor is not None and actor.pk == user.pk and "administrator" not in keys:
        raise DomainError(
            _("You cannot remove your own administrator role."),
            fields={"roles": [_("Ask another administrator.")]},
        )
    _set_roles(user, keys)
    return user


def user_roles(user: Any) -> list[str]:
    from .roles import ROLES_BY_NAME

    return [ROLES_BY_NAME[g.name].key for g in user.groups.all() if g.name in ROLES_BY_NAME]


def _check_password(password: str, user: Any) -> None:
    try:
        validate_password(password, user)
    except ValidationError as error:
        raise DomainError(error.messages[0], fields={"password": list(error.messages)}) from error


def user_password_changed(*, user: Any) -> None:
    audit_record(action=AuditAction.UPDATE, target=user, message="Password changed")


@transaction.atomic
@as_actor
def user_set_password(*, actor: Any, user: Any, password: str) -> Any:
    """An administrator sets someone's password (people change their own through the
    password form, which asks for the old one)."""
    require_permission(actor, "accounts.manage_users")
    _check_password(password, user)
    user.set_password(password)
    user.save(update_fields=["password"])
    audit_record(action=AuditAction.UPDATE, target=user, message="Password set by administrator")
    return user


# --- Teams ----------------------------------------------------------------------------

def _require_team_manager(actor: Any, team: Team) -> None:
    if actor is not None and team.manager_id != actor.pk:
        require_permission(actor, "accounts.manage_teams")


def _check_service_desk(team: Team) -> None:
    if team.is_service_desk and Team.objects.filter(is_service_desk=True).exclude(
        pk=team.pk
    ).exists():
        raise Conflict(
            _("Another team is already the service desk."),
            fields={"is_service_desk": [_("Only one team can be the service desk.")]},
        )


@transaction.atomic
@as_actor
def team_create(*, actor: Any, name: str, **fields: Any) -> Team:
    require_permission(actor, "accounts.manage_teams")
    reject_unknown_fields(fields, TEAM_FIELDS)
    team = Team(name=name, **fields)
    _check_service_desk(team)
    validated(team)
    team.save()
    audit_record(action=AuditAction.CREATE, target=team,
                 changes=diff({}, snapshot(team, TEAM_FIELDS)))
    return team


@transaction.atomic
@as_actor
def team_update(*, actor: Any, team: Team, **changes: Any) -> Team:
    require_permission(actor, "accounts.manage_teams")
    reject_unknown_fields(changes, TEAM_FIELDS)
    team = Team.objects.select_for_update().get(pk=team.pk)
    before = snapshot(team, changes)
    for name, value in changes.items():
        setattr(team, name, value)
    _check_service_desk(team)
    validated(team)
    changed = diff(before, snapshot(team, changes))
    if changed:
        team.save()
        audit_record(action=AuditAction.UPDATE, target=team, changes=changed)
    return team


@transaction.atomic
@as_actor
def team_add_member(*, actor: Any, team: Team, user: Any) -> TeamMembership:
    _require_team_manager(actor, team)
    if not user.is_active:
        raise DomainError(_("%(name)s is deactivated.") % {"name": user.get_username()},
                          fields={"user": [_("Choose an active person.")]})
    try:
        with transaction.atomic():
            membership = TeamMembership.objects.create(team=team, user=user)
    except IntegrityError as error:
        raise Conflict(
            _("%(name)s is already a member of %(team)s.")
            % {"name": user.get_username(), "team": team.name},
            fields={"user": [_("Already a member.")]},
        ) from error
    audit_record(action=AuditAction.UPDATE, target=team,
                 changes={"members": [None, {"added": user.get_username()}]})
    return membership


@transaction.atomic
@as_actor
def team_remove_member(*, actor: Any, team: Team, user: Any) -> None:
    _require_team_manager(actor, team)
    deleted, _rows = TeamMembership.objects.filter(team=team, user=user).delete()
    if not deleted:
        raise DomainError(
            _("%(name)s is not a member of %(team)s.")
            % {"name": user.get_username(), "team": team.name},
            fields={"user": [_("Not a member.")]},
        )
    audit_record(action=AuditAction.UPDATE, target=team,
                 changes={"members": [{"removed": user.get_username()}, None]})


# --- API tokens -----------------------------------------------------------------------

def _token_hash(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


@transaction.atomic
@as_actor
def api_token_create(
    *, actor: Any, user: Any, name: str, expires_at: datetime | None = None
) -> tuple[ApiToken, str]:
    """Returns the token row and the token itself, which is never stored and never shown
    again."""
    if actor is not None and actor.pk != user.pk:
        require_permission(actor, "accounts.manage_users")
    if expires_at is not None and expires_at <= timezone.now():
        raise DomainError(_("The expiry must be in the future."),
                          fields={"expires_at": [_("Choose a date in the future.")]})
    raw = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(user=user, name=name.strip(), prefix=raw[:12], key_hash=_token_hash(raw),
                     expires_at=expires_at)
    validated(token, exclude=["user"])
    token.save()
    audit_record(action=AuditAction.CREATE, target=token,
                 changes=diff({}, snapshot(token, ("user", "name", "prefix", "expires_at"))))
    return token, raw


@transaction.atomic
@as_actor
def api_token_revoke(*, actor: Any, token: ApiToken) -> ApiToken:
    if actor is not None and actor.pk != token.user_id:
        require_permission(actor, "accounts.manage_users")
    token = ApiToken.objects.select_for_update().get(pk=token.pk)
    if token.revoked_at is not None:
        raise Conflict(_("This token is already revoked."), code="already_revoked")
    token.revoked_at = timezone.now()
    token.save(update_fields=["revoked_at"])
    audit_record(action=AuditAction.UPDATE, target=token,
                 changes={"revoked_at": [None, token.revoked_at.isoformat()]})
    return token


LAST_USED_RESOLUTION_SECONDS = 60


def api_token_authenticate(raw: str) -> ApiToken | None:
    """The active token for ``raw``, or None. Marks it used (at most once a minute, so a
    busy integration does not write on every call)."""
    token = (
        ApiToken.objects.active().select_related("user", "user__profile")
        .filter(key_hash=_token_hash(raw)).first()
    )
    if token is None or not token.user.is_active:
        return None
    now = timezone.now()
    if token.last_used_at is None or (
        now - token.last_used_at
    ).total_seconds() > LAST_USED_RESOLUTION_SECONDS:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        token.last_used_at = now
    return token


# --- Housekeeping ---------------------------------------------------------------------

PURGE_BATCH_SIZE = 500


def credentials_purge_expired() -> dict[str, int]:
    """Delete expired sessions; mark tokens past their expiry as revoked (audited)."""
    sessions, _rows = Session.objects.filter(expire_date__lt=timezone.now()).delete()
    expired = list(
        ApiToken.objects.filter(revoked_at__isnull=True, expires_at__lt=timezone.now())
        .values_list("pk", flat=True)[:PURGE_BATCH_SIZE]
    )
    for pk in expired:
        with transaction.atomic():
            token = ApiToken.objects.select_for_update().get(pk=pk)
            if token.revoked_at is None:
                token.revoked_at = timezone.now()
                token.save(update_fields=["revoked_at"])
                audit_record(action=AuditAction.UPDATE, target=token,
                             changes={"revoked_at": [None, token.revoked_at.isoformat()]},
                             message="Expired")
    return {"sessions": sessions, "tokens": len(expired)}
