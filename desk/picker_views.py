"""Lookup endpoints of the desk's pickers (``desk.pickers``): ``<option>``s for a
``<datalist>``, and the count for the picker's live region."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views import View

from .access import DeskAccessMixin
from .pickers import PICKER_SIZE, lookup_status_id, lookup_term, people_matching, person_token

MIN_TERM = 2


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
