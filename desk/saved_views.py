"""Saved views of the desk's lists: a person's named filters, private or shared with the
desk. One mechanism for every list: a list registers itself (its key, its URL and the
FilterSet that decides which filters exist) from its app's ``ready()``, and the list page
shows the ``desk/_saved_views.html`` bar.

Writes (``saved_view_create``, ``saved_view_delete``) validate, write and audit like every
other service; ``saved_views_visible`` is the read the list pages use."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Q, QuerySet
from django.http import QueryDict
from django.urls import reverse
from django.utils.translation import gettext as _

from accounts.services import require_permission, validated
from audit.context import as_actor
from audit.models import AuditAction
from audit.services import audit_record
from itsm.errors import Conflict, DomainError, NotPermitted

from .models import SavedView

# Parameters of a list page that are not filters: the page cursor, the page number.
NOT_FILTERS = ("after", "page", "view")
QUERY_MAX_LENGTH = SavedView._meta.get_field("query").max_length
NAME_MAX_LENGTH = SavedView._meta.get_field("name").max_length
# Whoever holds this may delete anyone's view (administrators: a shared view of someone
# who has left). Everyone else deletes only their own.
DELETE_ANY = "desk.delete_savedview"


@dataclass(frozen=True)
class SavedViewList:
    """A desk list whose filters can be saved.

    ``filterset`` is the list's FilterSet: its filters are the names a saved view may use
    and it checks their values. ``key_prefixes`` admits families of names the FilterSet
    reads itself (the CI list's ``attr.<key>``). ``options`` are the list's other saved
    settings with their allowed values (the incident queue's ``sort``)."""

    key: str
    label: Any
    url_name: str
    filterset: type
    key_prefixes: tuple[str, ...] = field(default=())
    options: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def url(self, query: str = "") -> str:
        url = reverse(self.url_name)
        return f"{url}?{query}" if query else url

    def allows(self, name: str) -> bool:
        if name in self.filterset.base_filters or name in self.options:
            return True
        return any(name.startswith(prefix) and name[len(prefix):].isidentifier()
                   for prefix in self.key_prefixes)


_LISTS: dict[str, SavedViewList] = {}


def register_saved_view_list(spec: SavedViewList) -> None:
    """Called from an app's ``ready()``; registering the same key again replaces it."""
    _LISTS[spec.key] = spec


def saved_view_list(key: str) -> SavedViewList:
    try:
        return _LISTS[key]
    except KeyError:
        raise DomainError(_("There is no list called %(key)s.") % {"key": key},
                          fields={"list_key": [_("Unknown list.")]}) from None


def normalise_query(query: str) -> str:
    """The filters of a list URL's query string, without paging, empty values or a
    leading "?", in a stable order (so the same filters always give the same text)."""
    params = QueryDict(query.lstrip("?"), mutable=True)
    kept = QueryDict(mutable=True)
    for key in sorted(params):
        if key in NOT_FILTERS:
            continue
        values = [v for v in params.getlist(key) if v.strip()]
        if values:
            kept.setlist(key, values)
    return kept.urlencode()


def saved_views_visible(user: Any, list_key: str) -> QuerySet[SavedView]:
    """The person's own views of the list and the ones others shared."""
    return SavedView.objects.filter(Q(owner=user) | Q(shared=True), list_key=list_key
                                    ).select_related("owner", "owner__profile")


def _check_filters(spec: SavedViewList, query: str) -> None:
    params = QueryDict(query)
    unknown = sorted(name for name in params if not spec.allows(name))
    if unknown:
        problem = _("Not a filter of this list: %(names)s") % {"names": ", ".join(unknown)}
        raise DomainError(_("These filters cannot be saved. %(problem)s.")
                          % {"problem": problem}, code="unknown_filter",
                          fields={"query": [problem]})
    for name, allowed in spec.options.items():
        wrong = [value for value in params.getlist(name) if value not in allowed]
        if wrong:
            problem = _("%(name)s: %(values)s is not one of %(allowed)s") % {
                "name": name, "values": ", ".join(wrong), "allowed": ", ".join(allowed)}
            raise DomainError(_("These filters are not valid: %(problems)s")
                              % {"problems": problem}, code="invalid_filter",
                              fields={"query": [problem]})
    filterset = spec.filterset(params)
    if not filterset.is_valid():
        problems = [f"{name}: {' '.join(errors)}" if name != "__all__" else " ".join(errors)
                    for name, errors in filterset.errors.items()]
        raise DomainError(_("These filters are not valid: %(problems)s")
                          % {"problems": "; ".join(problems)}, code="invalid_filter",
                          fields={"query": problems})


@transaction.atomic
@as_actor
def saved_view_create(*, actor: Any, list_key: str, name: str, query: str,
                      shared: bool = False) -> SavedView:
    """Save the filters of ``query`` under ``name`` for ``actor``. Names are unique per
    person and list (ignoring case); only the list's own filters, with valid values, are
    accepted, and the query has a length cap."""
    if actor is None:
        raise DomainError(_("A saved view belongs to a person."))
    require_permission(actor, "accounts.access_desk")
    spec = saved_view_list(list_key)
    name = (name or "").strip()
    if not name:
        raise DomainError(_("Give the view a name."), fields={"name": [_("Required.")]})
    if len(name) > NAME_MAX_LENGTH:
        raise DomainError(_("The name is too long."), fields={"name": [
            _("At most %(n)d characters.") % {"n": NAME_MAX_LENGTH}]})
    query = normalise_query(query or "")
    if len(query) > QUERY_MAX_LENGTH:
        raise DomainError(_("These filters are too long to save."), code="too_long",
                          fields={"query": [_("At most %(n)d characters.") % {
                              "n": QUERY_MAX_LENGTH}]})
    _check_filters(spec, query)
    taken = Conflict(_("You already have a view called %(name)s.") % {"name": name},
                     fields={"name": [_("Already used by one of your views.")]})
    if SavedView.objects.filter(owner=actor, list_key=list_key, name__iexact=name).exists():
        raise taken
    view = SavedView(list_key=list_key, owner=actor, name=name, query=query, shared=shared)
    validated(view, exclude=["owner"])  # uniqueness was checked just above
    try:
        with transaction.atomic():
            view.save()
    except IntegrityError as error:  # the same name saved twice at once
        raise taken from error
    audit_record(action=AuditAction.CREATE, target=view, changes={
        "list_key": [None, list_key], "name": [None, view.name], "query": [None, view.query],
        "shared": [None, view.shared]})
    return view


@transaction.atomic
@as_actor
def saved_view_delete(*, actor: Any, view: SavedView) -> None:
    """Delete a view: its owner may (and an administrator, for a view left behind)."""
    if actor is not None and view.owner_id != actor.pk and not actor.has_perm(DELETE_ANY):
        raise NotPermitted(_("Only its owner can delete this view."))
    audit_record(action=AuditAction.DELETE, target=view, changes={
        "list_key": [view.list_key, None], "name": [view.name, None],
        "query": [view.query, None], "shared": [view.shared, None]})
    view.delete()
