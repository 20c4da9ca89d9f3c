"""Views every signed-in person has, in the desk and the portal alike: sign-in, password,
their profile and API tokens."""

from typing import Any

from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse, reverse_lazy
from django.utils.decorators import method_decorator
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views import View
from django.views.decorators.http import require_POST

from itsm.errors import DomainError
from itsm.forms import add_domain_error

from . import selectors, services
from .forms import ApiTokenForm, ProfileForm
from .models import ApiToken

NEW_TOKEN_SESSION_KEY = "new_api_token"


def home_url_for(user: Any) -> str:
    return reverse("desk:home") if user.has_perm("accounts.access_desk") else reverse(
        "portal:home")


@login_required
def home(request: HttpRequest) -> HttpResponse:
    """``/``: staff land on the desk, everyone else on the portal."""
    return redirect(home_url_for(request.user))


class LoginView(auth_views.LoginView):
    template_name = "registration/login.html"
    redirect_authenticated_user = True

    def get_default_redirect_url(self) -> str:
        return home_url_for(self.request.user)


class PasswordChangeView(auth_views.PasswordChangeView):
    template_name = "registration/password_change.html"

    def get_success_url(self) -> str:
        return reverse("profile") if not self.request.user.has_perm(
            "accounts.access_desk") else reverse("desk:profile")

    def form_valid(self, form: Any) -> HttpResponse:
        response = super().form_valid(form)
        services.user_password_changed(user=self.request.user)
        messages.success(self.request, _("Your password was changed."))
        return response


class ProfileView(LoginRequiredMixin, View):
    """Your details and API tokens. ``layout`` picks the desk or portal frame."""

    layout = "portal"

    def _context(self, request: HttpRequest, profile_form: ProfileForm | None = None,
                 token_form: ApiTokenForm | None = None, new_token: str | None = None) -> dict:
        user = request.user
        profile = services.profile_of(user)
        if profile_form is None:
            profile_form = ProfileForm(initial={
                "first_name": user.first_name, "last_name": user.last_name,
                "display_name": profile.display_name, "phone": profile.phone,
                "location": profile.location, "time_zone": profile.time_zone,
            })
        return {
            "layout": f"{self.layout}/base.html",
            "profile": profile,
            "profile_form": profile_form,
            "token_form": token_form or ApiTokenForm(),
            "tokens": selectors.api_tokens_of(user),
            "new_token": new_token,
            "teams": user.teams.all(),
            "roles": [g.name for g in user.groups.all()],
        }

    def get(self, request: HttpRequest) -> HttpResponse:
        # A token just created is shown on the page the POST redirected to, once.
        new_token = request.session.pop(NEW_TOKEN_SESSION_KEY, None)
        response = render(request, "accounts/profile.html",
                          self._context(request, new_token=new_token))
        if new_token:
            response["Cache-Control"] = "no-store"
        return response

    def post(self, request: HttpRequest) -> HttpResponse:
        if "create_token" in request.POST:
            return self._create_token(request)
        form = ProfileForm(request.POST)
        if form.is_valid():
            try:
                services.user_update(actor=request.user, user=request.user, **form.cleaned_data)
            except DomainError as error:
                add_domain_error(form, error)
            else:
                messages.success(request, _("Your profile was saved."))
                return HttpResponseRedirect(request.path)
        return render(request, "accounts/profile.html", self._context(request, profile_form=form),
                      status=400)

    def _create_token(self, request: HttpRequest) -> HttpResponse:
        form = ApiTokenForm(request.POST)
        if form.is_valid():
            try:
                _token, raw = services.api_token_create(
                    actor=request.user, user=request.user, name=form.cleaned_data["name"],
                    expires_at=form.expiry(),
                )
            except DomainError as error:
                add_domain_error(form, error)
            else:
                messages.success(request, _("Token created. Copy it now: it is not shown again."))
                request.session[NEW_TOKEN_SESSION_KEY] = raw
                return HttpResponseRedirect(f"{request.path}#tokens")
        return render(request, "accounts/profile.html", self._context(request, token_form=form),
                      status=400)


@method_decorator(require_POST, name="dispatch")
class RevokeTokenView(LoginRequiredMixin, View):
    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        token = get_object_or_404(ApiToken, pk=pk)
        if token.user_id != request.user.pk and not request.user.has_perm(
            "accounts.manage_users"
        ):
            raise PermissionDenied
        try:
            services.api_token_revoke(actor=request.user, token=token)
        except DomainError as error:
            messages.error(request, error.message)
        else:
            messages.success(request, _("Token “%(name)s” revoked.") % {"name": token.name})
        target = request.POST.get("next", "")
        if not url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
            target = str(reverse_lazy("profile"))
        return redirect(target)
