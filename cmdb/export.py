"""CSV export of any filtered CI list (the desk's and the API's use the same FilterSet).
The columns are the ones the import reads, so an export can be edited and imported."""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator

from django.db.models import QuerySet
from django.http import StreamingHttpResponse

from .models import ConfigurationItem

BASE_COLUMNS = (
    "name", "class", "status", "owner_team", "criticality", "location", "environment",
    "serial_number", "asset_tag", "hostname", "domain", "ip_address", "mac_address", "vendor",
    "model", "tags", "purchase_date", "cost", "supplier", "warranty_end", "lease_end",
    "assigned_to", "stock_location", "description",
)
EXPORT_BATCH_SIZE = 500


class _Echo:
    def write(self, value: str) -> str:
        return value


def _row(ci: ConfigurationItem, attribute_keys: list[str]) -> list[str]:
    values = {
        "name": ci.name, "class": ci.ci_class.key, "status": ci.status,
        "owner_team": ci.owner_team.name if ci.owner_team else "",
        "criticality": ci.criticality, "location": ci.location,
        "environment": ci.environment, "serial_number": ci.serial_number,
        "asset_tag": ci.asset_tag, "hostname": ci.hostname, "domain": ci.domain,
        "ip_address": ci.ip_address or "", "mac_address": ci.mac_address,
        "vendor": ci.vendor, "model": ci.product_model,
        "tags": " ".join(sorted(t.name for t in ci.tags.all())),
        "purchase_date": ci.purchase_date or "", "cost": ci.cost if ci.cost is not None else "",
        "supplier": ci.supplier, "warranty_end": ci.warranty_end or "",
        "lease_end": ci.lease_end or "",
        "assigned_to": ci.assigned_to.get_username() if ci.assigned_to else "",
        "stock_location": ci.stock_location, "description": ci.description,
    }
    row = [str(values[c]) for c in BASE_COLUMNS]
    row += ["" if ci.attributes.get(k) is None else str(ci.attributes[k])
            for k in attribute_keys]
    return [_safe(cell) for cell in row]


def _safe(cell: str) -> str:
    # Spreadsheets run cells that start with these as formulas (CSV injection).
    return "'" + cell if cell[:1] in ("=", "+", "-", "@", "\t", "\r") else cell


def export_rows(queryset: QuerySet[ConfigurationItem]) -> Iterator[list[str]]:
    items = queryset.select_related("ci_class", "owner_team", "assigned_to").prefetch_related(
        "tags").order_by("pk")
    keys = sorted({key for attrs in items.values_list("attributes", flat=True)
                   for key in (attrs or {})})
    yield [*BASE_COLUMNS, *(f"attr.{k}" for k in keys)]
    for ci in items.iterator(chunk_size=EXPORT_BATCH_SIZE):
        yield _row(ci, keys)


def csv_response(rows: Iterable[list[str]], filename: str) -> StreamingHttpResponse:
    writer = csv.writer(_Echo())
    response = StreamingHttpResponse((writer.writerow(row) for row in rows),
                                     content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response
