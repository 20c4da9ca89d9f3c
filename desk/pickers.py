"""Search-as-you-type pickers for desk forms: one design for every "pick a record" field.

The field is a plain text input. Typing asks the list's lookup endpoint (htmx) for up to
``PICKER_SIZE`` matches, which fill the input's ``<datalist>``: the browser shows them as
the input's suggestions, reachable with the arrow keys and read by screen readers as a
combobox, and a polite live region says how many there are. Each suggestion's value is a
readable token that names the record exactly ("Priya Shah (agent)", "web-01 (CI 12)").
Without JavaScript nothing is fetched: the person types a name, username or email (or
the CI's name or id), and the server resolves it, or says at the field why it cannot (no
match, or several: then which to type instead). So the server always validates."""

from __future__ import annotations

import re
from functools import reduce
from operator import and_
from typing import Any

from django import forms
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db.models import Q, QuerySet
from django.http import HttpRequest
from django.template import loader
from django.urls import reverse
from django.utils.http import urlencode
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext_lazy as _

from accounts.selectors import search_people

User = get_user_model()
PICKER_SIZE = 15
# Query parameters of a lookup that are not the text typed.
LOOKUP_OPTIONS = ("kind", "exclude", "status")
_USERNAME_TOKEN = re.compile(r"\(([^()\s]+)\)\s*$")
_STATUS_ID = re.compile(r"^[A-Za-z][\w-]{0,80}$")


def lookup_status_id(request: HttpRequest) -> str | None:
    """The id of the picker's live region, to tell it how many suggestions came back."""
    value = request.GET.get("status", "")
    return value if _STATUS_ID.match(value) else None


def lookup_term(request: HttpRequest) -> str:
    """The text typed: ``q``, or the picker input's own value (htmx sends it under the
    field's name)."""
    term = request.GET.get("q")
    if term is None:
        term = next((value for key, value in request.GET.items()
                     if key not in LOOKUP_OPTIONS), "")
    return term.strip()


class PickerInput(forms.TextInput):
    """A text input with a ``<datalist>`` that htmx fills from ``lookup_url``."""

    template_name = "desk/widgets/picker.html"

    def __init__(self, lookup_url_name: str, *, params: dict[str, str] | None = None,
                 attrs: dict[str, Any] | None = None) -> None:
        super().__init__(attrs={"autocomplete": "off", "spellcheck": "false", **(attrs or {})})
        self.lookup_url_name = lookup_url_name
        self.params = params or {}

    def get_context(self, name: str, value: Any, attrs: dict[str, Any] | None) -> dict:
        context = super().get_context(name, value, attrs)
        widget_id = context["widget"]["attrs"].get("id") or f"id_{name}"
        options, status = f"{widget_id}_options", f"{widget_id}_status"
        query = urlencode({**self.params, "status": status})
        context["widget"]["attrs"].update({
            "id": widget_id,
            "list": options,
            "hx-get": f"{reverse(self.lookup_url_name)}?{query}",
            "hx-trigger": "input changed delay:250ms",
            "hx-target": f"#{options}",
            "hx-swap": "innerHTML",
            "hx-sync": "this:replace",
        })
        context["widget"]["options_id"] = options
        context["widget"]["status_id"] = status
        return context

    def render(self, name: str, value: Any, attrs: dict[str, Any] | None = None,
               renderer: Any = None) -> SafeString:
        # The project's template engine (the form renderer only knows Django's own).
        return mark_safe(loader.render_to_string(self.template_name,
                                                 self.get_context(name, value, attrs)))


class _Typed(str):
    """Text as the person typed it (a bound form shown again): shown back unchanged."""


class PickerField(forms.Field):
    """A record named by text. Subclasses say how a record reads (``token``) and how
    typed text finds one (``resolve``, raising ``ValidationError`` with what to type)."""

    def __init__(self, *, lookup_url_name: str, params: dict[str, str] | None = None,
                 **kwargs: Any) -> None:
        kwargs.setdefault("widget", PickerInput(lookup_url_name, params=params))
        super().__init__(**kwargs)

    def token(self, obj: Any) -> str:
        raise NotImplementedError

    def resolve(self, text: str) -> Any:
        raise NotImplementedError

    def from_key(self, key: Any) -> Any | None:
        """The record for an initial value given as a primary key (e.g. ``?caller=12``)."""
        raise NotImplementedError

    def bound_data(self, data: Any, initial: Any) -> Any:
        return _Typed(data) if isinstance(data, str) else data

    def prepare_value(self, value: Any) -> str:
        if value in (None, ""):
            return ""
        if isinstance(value, _Typed):
            return str(value)
        if isinstance(value, int | str):  # an initial primary key
            value = self.from_key(value) if str(value).isdigit() else None
            if value is None:
                return ""
        return self.token(value)

    def to_python(self, value: Any) -> Any:
        text = (value or "").strip()
        return self.resolve(text) if text else None

    def has_changed(self, initial: Any, data: Any) -> bool:
        try:
            chosen = self.to_python(data)
        except ValidationError:
            return True
        initial_pk = getattr(initial, "pk", initial)
        return str(getattr(chosen, "pk", "") or "") != str(initial_pk or "")


def person_token(user: Any) -> str:
    profile = getattr(user, "profile", None)
    name = profile.name if profile is not None else user.get_full_name()
    return f"{name} ({user.username})" if name and name != user.username else user.username


def people_matching(term: str) -> QuerySet:
    """Active people whose name, username, email or display name contain every word."""
    words = term.split()
    people = User.objects.filter(is_active=True)
    if not words:
        return people.none()
    return (people.filter(reduce(and_, (search_people(word) for word in words)))
            .select_related("profile").order_by("first_name", "last_name", "username"))


class PersonPickerField(PickerField):
    """Pick an active person by name, username or email (or their id)."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("help_text", _("Type part of a name, a username or an email and "
                                         "pick from the suggestions."))
        super().__init__(lookup_url_name="desk:people_lookup", **kwargs)

    def queryset(self) -> QuerySet:
        return User.objects.filter(is_active=True).select_related("profile")

    def token(self, obj: Any) -> str:
        return person_token(obj)

    def from_key(self, key: Any) -> Any | None:
        return self.queryset().filter(pk=key).first()

    def resolve(self, text: str) -> Any:
        people = self.queryset()
        match = _USERNAME_TOKEN.search(text)
        username = match.group(1) if match else text
        found = people.filter(username__iexact=username).first()
        if found is None and text.isdigit():  # an id, as links and scripts send it
            found = people.filter(pk=int(text)).first()
        if found is not None:
            return found
        by_email = list(people.filter(email__iexact=text)[:6]) if "@" in text else []
        if len(by_email) == 1:
            return by_email[0]
        if by_email:
            raise ValidationError(
                _("Several people have the email %(text)s (%(usernames)s): type the username."),
                code="ambiguous",
                params={"text": text, "usernames": ", ".join(p.username for p in by_email)})
        words = text.split()
        named = list(people.filter(
            Q(profile__display_name__iexact=text)
            | (Q(first_name__iexact=" ".join(words[:-1]), last_name__iexact=words[-1])
               if len(words) > 1 else Q(first_name__iexact=text) | Q(last_name__iexact=text))
        )[:6])
        if len(named) == 1:
            return named[0]
        if not named:
            raise ValidationError(
                _("Nobody active matches “%(text)s”. Type part of their name, their username "
                  "or email, and pick from the suggestions."), code="no_match",
                params={"text": text})
        raise ValidationError(
            _("Several people match “%(text)s” (%(usernames)s): type the username."),
            code="ambiguous",
            params={"text": text, "usernames": ", ".join(p.username for p in named)})
