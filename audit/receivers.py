"""Authentication events go to the audit log. (Signals are fine here: they record, they
change no workflow state.)"""

from typing import Any

from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.dispatch import receiver

from .context import acting_as, user_actor
from .models import AuditAction
from .services import audit_record


def _ip(request: Any) -> str | None:
    return request.META.get("REMOTE_ADDR") if request is not None else None


@receiver(user_logged_in)
def _logged_in(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    with acting_as(user_actor(user, "web")):
        audit_record(action=AuditAction.LOGIN, target=user, ip_address=_ip(request))


@receiver(user_logged_out)
def _logged_out(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    if user is not None:
        with acting_as(user_actor(user, "web")):
            audit_record(action=AuditAction.LOGOUT, target=user, ip_address=_ip(request))


@receiver(user_login_failed)
def _login_failed(sender: Any, credentials: dict, request: Any = None, **kwargs: Any) -> None:
    username = str(credentials.get("username", ""))[:150]
    audit_record(
        action=AuditAction.LOGIN_FAILED,
        message=f"Failed login for username {username!r}",
        ip_address=_ip(request),
    )
