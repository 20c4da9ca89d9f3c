from django.contrib.auth.mixins import LoginRequiredMixin, PermissionRequiredMixin


class DeskAccessMixin(LoginRequiredMixin, PermissionRequiredMixin):
    """Signed in and holding a desk role. Others get the 403 page with a way to the portal
    (not a login loop)."""

    permission_required = "accounts.access_desk"
    raise_exception = True

    def handle_no_permission(self):  # type: ignore[no-untyped-def]
        if not self.request.user.is_authenticated:
            self.raise_exception = False
        return super().handle_no_permission()
