"""Portal: follow an ongoing major incident from the banner ("Get updates") or stop
following it. Only incidents the person can see on the banner (or already follows)
exist here; anything else is a 404."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from incidents import major, major_selectors
from incidents.models import Incident
from itsm.errors import DomainError


def _back(request: HttpRequest) -> HttpResponse:
    target = request.POST.get("next", "")
    if target.startswith("/portal/") and url_has_allowed_host_and_scheme(
            target, allowed_hosts={request.get_host()}, require_https=request.is_secure()):
        return redirect(target)
    return redirect("portal:home")


@login_required
@require_POST
def major_subscribe(request: HttpRequest, pk: int) -> HttpResponse:
    incident = major_selectors.banner_incidents(request.user).filter(pk=pk).first()
    if incident is None:
        raise Http404
    try:
        major.incident_subscribe(actor=request.user, incident=incident)
    except DomainError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, _("You will get updates on “%(title)s” until it is "
                                    "resolved.") % {"title": incident.title})
    return _back(request)


@login_required
@require_POST
def major_unsubscribe(request: HttpRequest, pk: int) -> HttpResponse:
    incident = Incident.objects.filter(pk=pk).first()
    if incident is None or not major_selectors.is_subscribed(incident, request.user):
        raise Http404
    try:
        major.incident_unsubscribe(actor=request.user, incident=incident)
    except DomainError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, _("You will no longer get updates on “%(title)s”.") % {
            "title": incident.title})
    return _back(request)
