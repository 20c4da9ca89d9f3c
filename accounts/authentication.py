from typing import Any

from django.utils.translation import gettext as _
from drf_spectacular.authentication import SessionScheme
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions

from .services import api_token_authenticate


class ApiTokenAuthentication(authentication.BaseAuthentication):
    """``Authorization: Bearer <token>`` (``Token <token>`` is accepted too)."""

    keywords = ("bearer", "token")

    def authenticate(self, request: Any) -> tuple[Any, Any] | None:
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].decode(errors="replace").lower() not in self.keywords:
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed(
                _("Malformed Authorization header: expected 'Bearer <token>'.")
            )
        token = api_token_authenticate(header[1].decode(errors="replace"))
        if token is None:
            raise exceptions.AuthenticationFailed(
                _("Invalid, expired or revoked API token.")
            )
        return token.user, token

    def authenticate_header(self, request: Any) -> str:
        return 'Bearer realm="api"'


class ApiTokenScheme(OpenApiAuthenticationExtension):
    target_class = "accounts.authentication.ApiTokenAuthentication"
    name = "apiToken"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {"type": "http", "scheme": "bearer",
                "description": "A personal API token created under Profile → API tokens."}


class CsrfSessionAuthentication(authentication.SessionAuthentication):
    """Browser sessions; a missing or wrong CSRF token gets its own error code."""

    def enforce_csrf(self, request: Any) -> None:
        try:
            super().enforce_csrf(request)
        except exceptions.PermissionDenied as error:
            raise exceptions.PermissionDenied(
                _("CSRF check failed: send the X-CSRFToken header, or use an API token."),
                code="csrf_failed",
            ) from error


class CsrfSessionScheme(SessionScheme):
    target_class = "accounts.authentication.CsrfSessionAuthentication"
