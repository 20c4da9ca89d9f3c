"""Who sees the remediation pages: desk people who see the fleet or hold a remediation
permission. Writing actions, approving them and running them each need their own
permission, checked by the views' mixins and again by the services."""

from __future__ import annotations

from typing import Any

from desk.access import DeskAccessMixin

from .runs import RUN
from .services import APPROVE, AUTHOR

VIEW_ANY = ("fleet.view_fleet", AUTHOR, APPROVE, RUN)


def can_view(user: Any) -> bool:
    return user.has_perm("accounts.access_desk") and any(user.has_perm(p) for p in VIEW_ANY)


class RemediationViewMixin(DeskAccessMixin):
    def has_permission(self) -> bool:
        return can_view(self.request.user)


class AuthorMixin(DeskAccessMixin):
    permission_required = ("accounts.access_desk", AUTHOR)


class ApproverMixin(DeskAccessMixin):
    permission_required = ("accounts.access_desk", APPROVE)


class RunnerMixin(DeskAccessMixin):
    permission_required = ("accounts.access_desk", RUN)
