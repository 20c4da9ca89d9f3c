"""The self-service portal shell. Everything here is scoped to the requesting person."""

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from accounts import selectors, services


@login_required
def home(request: HttpRequest) -> HttpResponse:
    return render(request, "portal/home.html", {
        "profile": services.profile_of(request.user),
        "service_desk": selectors.service_desk_team(),
    })
