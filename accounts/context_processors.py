from typing import Any

from django.http import HttpRequest


def navigation(request: HttpRequest) -> dict[str, Any]:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"can_use_desk": False}
    return {
        "can_use_desk": user.has_perm("accounts.access_desk"),
        "can_view_audit": user.has_perm("audit.view_auditentry"),
        "can_manage_teams": user.has_perm("accounts.manage_teams"),
        "can_manage_users": user.has_perm("accounts.manage_users"),
    }
