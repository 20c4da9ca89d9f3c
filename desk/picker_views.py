"""Lookup endpoints of the desk's pickers (``desk.pickers``): ``<option>``s for a
``<datalist>``, and the count for the picker's live region."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.db.models import Q, QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views import View

from .access import DeskAccessMixin
from .pickers import PICKER_SIZE, lookup_status_id, lookup_term, people_matching, person_token

MIN_TERM = 2


def ticket_options(request: HttpRequest, tickets: QuerySet, prefix: str,
                   option: Callable[[Any], tuple[str, str]]) -> HttpResponse:
    """A ticket picker's options: ``tickets`` whose title holds the text typed, or whose
    number starts with it when it starts with the type's prefix ("CHG"), newest first."""
    text = lookup_term(request)
    searched = len(text) >= MIN_TERM
    items: list[Any] = []
    if searched:
        query = Q(title__icontains=text)
        if text.upper().startswith(prefix):
            query |= Q(number__startswith=text.upper())
        items = list(tickets.filter(query).order_by("-created_at", "-id")[:PICKER_SIZE])
    return render(request, "desk/_picker_options.html", {
        "options": [option(item) for item in items], "status_id": lookup_status_id(request),
        "count": len(items) if searched else None})


class PeopleLookupView(DeskAccessMixin, View):
    """Active people by name, username, email or display name: the option's value is
    the token the person picker reads; its label adds the email and department."""

    def get(self, request: HttpRequest) -> HttpResponse:
        term = lookup_term(request)
        people = list(people_matching(term)[:PICKER_SIZE]) if len(term) >= MIN_TERM else []
        options = []
        for person in people:
            profile = getattr(person, "profile", None)
            details = (person.email, getattr(profile, "department", ""),
                       getattr(profile, "location", ""))
            options.append((person_token(person), " · ".join(part for part in details if part)))
        return render(request, "desk/_picker_options.html", {
            "options": options, "status_id": lookup_status_id(request),
            "count": len(options) if len(term) >= MIN_TERM else None})
