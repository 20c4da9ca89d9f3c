"""Who sees the knowledge pages of the desk: every desk person reads them; writing,
reviewing and publishing each need their own permission (checked again by the services)."""

from __future__ import annotations

from desk.access import DeskAccessMixin

from .services import AUTHOR


class AuthorMixin(DeskAccessMixin):
    permission_required = ("accounts.access_desk", AUTHOR)
