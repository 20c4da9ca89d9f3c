"""The CI picker of desk forms (the design is in ``desk.pickers``): a text input whose
suggestions come from ``cmdb:ci_lookup``, narrowed to one kind of CI."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django.utils.translation import gettext_lazy as _

from desk.pickers import PickerField

from .forms import find_ci
from .models import ConfigurationItem

SERVICE, CI = "service", "ci"
WRONG_KIND = {
    SERVICE: _("%(name)s is not a business service: choose it as the configuration item."),
    CI: _("%(name)s is a business service: choose it as the affected service."),
}


def cis_of_kind(kind: str | None) -> QuerySet[ConfigurationItem]:
    """Business services, the other CIs, or (any other ``kind``) every CI."""
    items = ConfigurationItem.objects.all()
    if kind == SERVICE:
        return items.filter(ci_class__is_service=True)
    if kind == CI:
        return items.filter(ci_class__is_service=False)
    return items


def ci_token(ci: ConfigurationItem) -> str:
    """How a picked CI reads in its field (``find_ci`` reads it back)."""
    return f"{ci.name} (CI {ci.pk})"


class CIPickerField(PickerField):
    """Pick a business service (``kind="service"``) or another CI (``kind="ci"``) by
    name, hostname, serial or id."""

    def __init__(self, *, kind: str, **kwargs: Any) -> None:
        self.kind = kind
        kwargs.setdefault("help_text", _("Type part of its name, hostname or serial and pick "
                                         "from the suggestions, or enter its id."))
        super().__init__(lookup_url_name="cmdb:ci_lookup", params={"kind": kind}, **kwargs)

    def token(self, obj: Any) -> str:
        return ci_token(obj)

    def from_key(self, key: Any) -> Any | None:
        return cis_of_kind(self.kind).filter(pk=key).first()

    def resolve(self, text: str) -> Any:
        return find_ci(text, queryset=cis_of_kind(self.kind), wrong_kind=WRONG_KIND.get(
            self.kind))
