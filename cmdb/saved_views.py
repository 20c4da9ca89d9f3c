"""Saved CI list views: a person's named filters, private or shared with the desk.

Writes (``saved_view_create``, ``saved_view_delete``) validate, write and audit like every
other service; ``saved_views_visible`` is the read the list page uses."""

from __future__ import annotations

from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Q, QuerySet
from django.http import QueryDict
from django.utils.translation import gettext as _

from accounts.services import require_permission, validated
from audit.context import as_actor
from audit.models import AuditAction
from audit.services import audit_record
from itsm.errors import Conflict, DomainError, NotPermitted

from .filtersets import ConfigurationItemFilterSet
from .models import SavedView

# Parameters of the list page that are not filters: the page cursor and the view chosen.
NOT_FILTERS = ("after", "page", "view")
QUERY_MAX_LENGTH = SavedView._meta.get_field("query").max_length


def normalise_query(query: str) -> str:
    """The filters of a list URL's query string, without paging, empty values or a
    leading "?", in a stable order."""
    params = QueryDict(query.lstrip("?"), mutable=True)
    kept = QueryDict(mutable=True)
    for key in sorted(params):
        if key in NOT_FILTERS:
            continue
        values = [v for v in params.getlist(key) if v.strip()]
        if values:
            kept.setlist(key, values)
    return kept.urlencode()


def saved_views_visible(user: Any) -> QuerySet[SavedView]:
    """The person's own views and the ones others shared."""
    return SavedView.objects.filter(Q(owner=user) | Q(shared=True)).select_related(
        "owner", "owner__profile").order_by("name", "id")


@transaction.atomic
@as_actor
def saved_view_create(*, actor: Any, name: str, query: str, shared: bool = False) -> SavedView:
    """Save the filters of ``query`` under ``name`` for ``actor`` (names are unique per
    person). The filters must be ones the CI list understands."""
    if actor is None:
        raise DomainError(_("A saved view belongs to a person."))
    require_permission(actor, "accounts.access_desk")
    name = (name or "").strip()
    if not name:
        raise DomainError(_("Give the view a name."), fields={"name": [_("Required.")]})
    query = normalise_query(query or "")
    if len(query) > QUERY_MAX_LENGTH:
        raise DomainError(_("These filters are too long to save."),
                          fields={"query": [_("Too long to save.")]})
    filterset = ConfigurationItemFilterSet(QueryDict(query))
    if not filterset.is_valid():
        problems = [f"{field}: {' '.join(errors)}" if field != "__all__" else " ".join(errors)
                    for field, errors in filterset.errors.items()]
        raise DomainError(_("These filters are not valid: %(problems)s")
                          % {"problems": "; ".join(problems)},
                          fields={"query": problems})
    if SavedView.objects.filter(owner=actor, name__iexact=name).exists():
        raise Conflict(_("You already have a view called %(name)s.") % {"name": name},
                       fields={"name": [_("Already used by one of your views.")]})
    view = validated(SavedView(owner=actor, name=name, query=query, shared=shared))
    try:
        with transaction.atomic():
            view.save()
    except IntegrityError as error:  # the same name saved twice at once
        raise Conflict(_("You already have a view called %(name)s.") % {"name": name},
                       fields={"name": [_("Already used by one of your views.")]}) from error
    audit_record(action=AuditAction.CREATE, target=view, changes={
        "name": [None, view.name], "query": [None, view.query], "shared": [None, view.shared]})
    return view


@transaction.atomic
@as_actor
def saved_view_delete(*, actor: Any, view: SavedView) -> None:
    """Delete a view: its owner may, and so may whoever can delete any saved view."""
    if actor is not None and view.owner_id != actor.pk and not actor.has_perm(
        "cmdb.delete_savedview"
    ):
        raise NotPermitted(_("Only its owner can delete this view."))
    audit_record(action=AuditAction.DELETE, target=view, changes={
        "name": [view.name, None], "query": [view.query, None], "shared": [view.shared, None]})
    view.delete()
