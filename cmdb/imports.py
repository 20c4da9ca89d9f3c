"""CSV import of configuration items and relationships, in two steps.

1. :func:`import_preview` reads the upload (UTF-8, with or without a byte-order mark),
   checks the header and plans every row against the database without writing to the
   CMDB: ``create``, ``update`` (which CI, found by the identification rules, and each
   field before → after), ``unchanged`` or ``reject`` (each reason naming its column).
   The plan is stored on an :class:`~cmdb.models.ImportJob` with status ``preview``.
2. :func:`import_apply` writes only the valid rows, each through ``cmdb.services`` in its
   own savepoint. Every row is planned again first: one whose outcome changed since the
   preview (someone recorded the same CI meanwhile, edited it, deleted a team…) fails
   with the reason and the others go on. The job's summary lists what was created,
   updated and failed. :func:`import_cancel` closes a preview without writing anything.

The CI columns are the export's (:data:`cmdb.export.BASE_COLUMNS` plus ``attr.<key>``),
so an exported list can be edited and imported again. A column missing from the file
leaves that field as it is; a blank cell clears it (except status, criticality and
environment, which cannot be empty and are kept).
"""

from __future__ import annotations

import copy
import csv
import datetime
import io
import ipaddress
import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import DatabaseError, transaction
from django.db.models import Q, QuerySet
from django.db.models.functions import Lower
from django.utils import timezone
from django.utils.text import slugify
from django.utils.translation import gettext as _

from accounts.models import Team
from accounts.services import require_permission, validated
from audit.context import acting_as, as_actor, user_actor
from audit.models import AuditAction
from audit.services import audit_record
from itsm.errors import Conflict, DomainError, NotPermitted

from . import services
from .export import BASE_COLUMNS
from .models import (
    CI_LIFECYCLE,
    CIClass,
    CIStatus,
    ConfigurationItem,
    Criticality,
    Environment,
    ImportJob,
    ImportKind,
    ImportStatus,
    Relationship,
    RelationshipType,
)

PERMISSION = "cmdb.import_configurationitem"
MAX_FILE_BYTES = 5 * 1024 * 1024
MAX_ROWS = 5_000

CREATE, UPDATE, UNCHANGED, REJECT = "create", "update", "unchanged", "reject"
ACTIONS = (CREATE, UPDATE, UNCHANGED, REJECT)
# Outcomes of a row at apply time.
CREATED, UPDATED, FAILED = "created", "updated", "failed"

ATTRIBUTE_PREFIX = "attr."
CI_REQUIRED_COLUMNS = ("name", "class")
RELATIONSHIP_COLUMNS = ("source", "type", "target")
# Where a column and the model field it fills have different names.
FIELD_OF_COLUMN = {"class": "ci_class", "model": "product_model"}
COLUMN_OF_FIELD = {value: key for key, value in FIELD_OF_COLUMN.items()}
DATE_COLUMNS = ("purchase_date", "warranty_end", "lease_end")
# Fields that cannot be empty: a blank cell keeps the current value (or the default).
KEEP_WHEN_BLANK = ("status", "criticality", "environment")
IDENTIFIER_COLUMNS = ("serial_number", "asset_tag", "hostname", "domain", "mac_address")
IDENTIFIER_LABELS = {"serial_number": "serial number", "asset_tag": "asset tag",
                     "hostname": "hostname", "mac_address": "MAC address"}
# The export writes these with a leading apostrophe so spreadsheets do not run them as
# formulas (cmdb.export._safe); the import takes it off again.
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_CI_REFERENCE = re.compile(r"^(serial|tag|host|mac|name|id)\s*:\s*(.*)$", re.IGNORECASE)
CI_REFERENCE_HELP = "serial:…, tag:…, host:…, mac:…, name:… or the CI id"
AMBIGUOUS_SHOWN = 5  # candidates named when an identifier matches several CIs


# --- Reading the file -----------------------------------------------------------------

def _file_error(message: str) -> DomainError:
    return DomainError(message, code="bad_file", fields={"file": [message]})


def file_error_naming(filename: str, error: DomainError) -> DomainError:
    """The error again, saying which file it is about (the form cannot keep the file)."""
    return _file_error(_("“%(file)s”: %(problem)s") % {"file": filename,
                                                         "problem": error.message})


def _megabytes(size: int) -> str:
    return f"{size / (1024 * 1024):.1f} MB"


def check_file_size(size: int) -> None:
    if size > MAX_FILE_BYTES:
        raise _file_error(
            _("The file is %(size)s; the limit is %(limit)s. Split it into smaller files "
              "and import them one after the other.")
            % {"size": _megabytes(size), "limit": _megabytes(MAX_FILE_BYTES)})


def decode_csv(data: bytes) -> str:
    """The text of an upload, which must be UTF-8 (a byte-order mark is fine)."""
    check_file_size(len(data))
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise _file_error(_('The file is UTF-16 text ("Unicode text" in Excel), not UTF-8. '
                            'Save it as "CSV UTF-8 (comma delimited)" and upload it again.'))
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        raise _file_error(
            _("The file is not UTF-8 text: line %(line)d contains the byte 0x%(byte)02X, "
              "which is not valid UTF-8. It was probably saved in another encoding (such as "
              'Windows-1252 or Latin-1). Save it as "CSV UTF-8" and upload it again.')
            % {"line": line, "byte": data[error.start]}) from None
    if not text.strip():
        raise _file_error(_("The file is empty."))
    if "\x00" in text:
        raise _file_error(_("The file contains NUL characters: it is not a text CSV file. "
                            'Save it as "CSV UTF-8" and upload it again.'))
    return text


def _clean_cell(cell: str) -> str:
    if cell[:1] == "'" and cell[1:2] in FORMULA_PREFIXES:
        cell = cell[1:]
    return cell.strip()


def column_name(cell: str) -> str:
    """A header cell as a column name: ``Serial number`` → ``serial_number``; attribute
    columns keep their ``attr.`` prefix."""
    name = cell.strip().lower()
    if name.startswith(ATTRIBUTE_PREFIX):
        return ATTRIBUTE_PREFIX + name[len(ATTRIBUTE_PREFIX):].strip()
    return re.sub(r"[\s-]+", "_", name)


@dataclass
class CsvTable:
    header: list[str]  # as written in the file
    columns: list[str]  # normalised
    records: list[tuple[int, list[str]]]  # (line where the record starts, cells)


def read_csv(text: str) -> CsvTable:
    first_line = text.split("\n", 1)[0]
    delimiter = ","
    if "," not in first_line:  # spreadsheets in some locales write ; or tabs
        delimiter = ";" if ";" in first_line else "\t" if "\t" in first_line else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    header: list[str] | None = None
    records: list[tuple[int, list[str]]] = []
    line = 1
    try:
        for cells in reader:
            start, line = line, reader.line_num + 1
            if not any(cell.strip() for cell in cells):
                continue
            if header is None:
                header = cells
                continue
            records.append((start, [_clean_cell(cell) for cell in cells]))
            if len(records) > MAX_ROWS:
                raise _file_error(
                    _("The file has more than %(max)d rows. Split it into smaller files "
                      "and import them one after the other.") % {"max": MAX_ROWS})
    except csv.Error as error:
        raise _file_error(_("The file is not valid CSV near line %(line)d: %(error)s.")
                          % {"line": line, "error": error}) from None
    if header is None:
        raise _file_error(_("The file is empty."))
    header = [cell.strip().lstrip("\ufeff") for cell in header]
    if not records:
        raise _file_error(_("The file has a header row but no rows to import."))
    return CsvTable(header=header, columns=[column_name(c) for c in header], records=records)


def _check_header(table: CsvTable, *, kind: str) -> None:
    columns = table.columns
    found = ", ".join(table.header[:40]) + (" …" if len(table.header) > 40 else "")
    for position, name in enumerate(columns, start=1):
        if not name or name == ATTRIBUTE_PREFIX:
            raise _file_error(_("Column %(n)d of the header row has no name. Found: %(found)s.")
                              % {"n": position, "found": found})
    twice = sorted({c for c in columns if columns.count(c) > 1})
    if twice:
        raise _file_error(_("These columns appear more than once in the header row: "
                            "%(columns)s.") % {"columns": ", ".join(twice)})
    if kind == ImportKind.CIS:
        required: tuple[str, ...] = CI_REQUIRED_COLUMNS
        allowed = set(BASE_COLUMNS)
        other_kind = set(RELATIONSHIP_COLUMNS) <= set(columns)
    else:
        required = RELATIONSHIP_COLUMNS
        allowed = set(RELATIONSHIP_COLUMNS)
        other_kind = "name" in columns and "class" in columns
    missing = [c for c in required if c not in columns]
    if missing:
        message = _("Missing required columns: %(missing)s. The header row has: %(found)s.") % {
            "missing": ", ".join(missing), "found": found}
        if other_kind:
            message += " " + (_("This looks like a relationships file: choose "
                                "“Relationships”.") if kind == ImportKind.CIS else
                              _("This looks like a configuration items file: choose "
                                "“Configuration items”."))
        raise _file_error(message)
    unknown = [h for h, c in zip(table.header, columns, strict=True)
               if c not in allowed and not (kind == ImportKind.CIS
                                            and c.startswith(ATTRIBUTE_PREFIX))]
    if unknown:
        if kind == ImportKind.CIS:
            hint = _("A configuration item file may have: %(columns)s, and attr.<key> for "
                     "the attributes of a class.") % {"columns": ", ".join(BASE_COLUMNS)}
        else:
            hint = _("A relationships file has exactly: source, type, target.")
        raise _file_error(_("Unknown columns: %(unknown)s. %(hint)s")
                          % {"unknown": ", ".join(unknown), "hint": hint})


# --- One row of the plan --------------------------------------------------------------

@dataclass
class RowPlan:
    """What one CSV row will do. ``as_json`` is what the ImportJob stores."""

    line: int
    values: dict[str, str]
    label: str = ""
    action: str = ""
    target: dict[str, Any] | None = None  # the CI an update changes
    link: dict[str, Any] | None = None  # a relationship's two CIs
    matched_by: str = ""
    changes: list[dict[str, str]] = field(default_factory=list)
    reasons: list[dict[str, str]] = field(default_factory=list)
    # Parsed objects for applying the row (not stored).
    prepared: dict[str, Any] = field(default_factory=dict)

    def reject(self, column: str, message: Any) -> None:
        self.reasons.append({"column": column, "message": str(message)})

    def reject_error(self, error: DomainError, default_column: str = "") -> None:
        """A service's refusal, named by column (``attributes.os`` → ``attr.os``): its
        message at the first field it names, the other fields' own messages at theirs."""
        columns = [_column_of(name) for name in error.fields] or [default_column]
        self.reject(columns[0], error.message)
        for name, messages in error.fields.items():
            column = _column_of(name)
            for message in messages:
                if column != columns[0] and message != error.message:
                    self.reject(column, message)

    def as_json(self) -> dict[str, Any]:
        return {"line": self.line, "label": self.label, "action": self.action,
                "target": self.target, "link": self.link, "matched_by": self.matched_by,
                "changes": self.changes, "reasons": self.reasons, "values": self.values}


def _column_of(field_name: str) -> str:
    if field_name.startswith("attributes."):
        return ATTRIBUTE_PREFIX + field_name[len("attributes."):]
    return COLUMN_OF_FIELD.get(field_name, field_name)


def _display(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return _("yes") if value else _("no")
    if isinstance(value, Team):
        return value.name
    if isinstance(value, datetime.date):
        return value.isoformat()
    if isinstance(value, list):
        return " ".join(str(v) for v in value)
    if hasattr(value, "get_username"):
        return str(value.get_username())
    return str(value)


def _choices_map(choices: Iterable[tuple[Any, Any]]) -> dict[str, Any]:
    mapping: dict[str, Any] = {}
    for value, label in choices:
        mapping[str(value).lower()] = value
        mapping[str(label).lower()] = value
    return mapping


class _Keep:
    """A blank cell of a field that cannot be empty: leave the field as it is."""


KEEP = _Keep()


# --- Configuration items --------------------------------------------------------------

class CIPlanner:
    """Plans CI rows. One planner per pass over a file: it loads in bulk the CIs the
    rows may mean, and remembers the identifiers and CIs earlier rows used, to reject
    duplicates within the file.

    Rows are matched with the identification rule (``services.identity_of``: the CI
    whose identity key the row's identifiers give, as ``ci_find_identified`` does), from
    CIs loaded in a few queries instead of one lookup per row. Applying a row goes
    through ``ci_upsert_identified``, which looks again; if it finds another CI than
    the plan, the row fails rather than write to the wrong CI."""

    def __init__(self, rows: Iterable[dict[str, str]]) -> None:
        classes = list(CIClass.objects.prefetch_related("attributes"))
        self.classes: dict[str, CIClass] = {}
        for ci_class in classes:
            self.classes[ci_class.name.lower()] = ci_class
        for ci_class in classes:  # keys win over names
            self.classes[ci_class.key.lower()] = ci_class
        self.class_keys = ", ".join(sorted(c.key for c in classes))
        self.teams = {team.name.lower(): team for team in Team.objects.all()}
        self.users: dict[str, Any] = {}
        self.statuses = _choices_map(CIStatus.choices)
        self.environments = _choices_map(Environment.choices)
        self.criticalities = _choices_map(Criticality.choices)
        self.criticalities.update({str(label).split("–")[-1].strip().lower(): value
                                   for value, label in Criticality.choices})
        self.seen_keys: dict[str, int] = {}
        self.seen_targets: dict[int, int] = {}
        self.known = self._load(rows)

    @staticmethod
    def _load(rows: Iterable[dict[str, str]]) -> _KnownItems:
        """The CIs these rows may mean (by any of their identifiers, or by name), in a
        few queries. Applying loads them again, under the job's lock, and adds each CI it
        writes (see remember)."""
        keys: set[str] = set()
        names: set[str] = set()
        for values in rows:
            identifiers = {f: values.get(f, "") for f in IDENTIFIER_COLUMNS}
            keys.update(_identity_keys(identifiers))
            if values.get("name"):
                names.add(values["name"])
        known = _KnownItems()
        for chunk in _chunks(sorted(keys)):
            for ci in _candidates().filter(identity__in=chunk):
                known.add(ci)
        for chunk in _chunks(sorted(names)):
            lowered = [n.lower() for n in chunk]
            query = _candidates().annotate(lower_name=Lower("name")).filter(
                Q(name__in=chunk) | Q(lower_name__in=lowered))
            for ci in query:
                if ci.pk not in known.keys_of:
                    known.add(ci)
        return known

    # Cells → values ---------------------------------------------------------------

    def _convert(self, column: str, raw: str) -> Any:
        """The value a cell stands for, KEEP, or ValueError saying what is wrong."""
        if column in KEEP_WHEN_BLANK and not raw:
            return KEEP
        if column == "owner_team":
            if not raw:
                return None
            team = self.teams.get(raw.lower())
            if team is None:
                raise ValueError(_("No team is called “%(value)s”.") % {"value": raw})
            return team
        if column == "assigned_to":
            return self._user(raw)
        if column == "criticality":
            if raw.lower() not in self.criticalities:
                raise ValueError(_("“%(value)s” is not a criticality: use 1 (critical), "
                                   "2 (high), 3 (medium) or 4 (low).") % {"value": raw})
            return self.criticalities[raw.lower()]
        if column == "environment":
            if raw.lower() not in self.environments:
                raise ValueError(_("“%(value)s” is not an environment: use %(choices)s.")
                                 % {"value": raw, "choices": ", ".join(Environment.values)})
            return self.environments[raw.lower()]
        if column == "ip_address":
            if not raw:
                return None
            try:
                return str(ipaddress.ip_address(raw))
            except ValueError:
                raise ValueError(_("“%(value)s” is not an IP address (e.g. 10.0.0.12 or "
                                   "2001:db8::12).") % {"value": raw}) from None
        if column == "mac_address":
            try:
                return services.normalise_mac(raw)
            except DomainError:
                raise ValueError(_("“%(value)s” is not a MAC address (e.g. "
                                   "00:1a:2b:3c:4d:5e).") % {"value": raw}) from None
        if column in DATE_COLUMNS:
            return _date(raw)
        if column == "cost":
            return _amount(raw)
        return raw

    def _user(self, raw: str) -> Any:
        if not raw:
            return None
        if raw.lower() not in self.users:
            user_model = get_user_model()
            self.users[raw.lower()] = user_model._default_manager.filter(
                **{f"{user_model.USERNAME_FIELD}__iexact": raw}).first()
        if self.users[raw.lower()] is None:
            raise ValueError(_("Nobody has the username “%(value)s”.") % {"value": raw})
        return self.users[raw.lower()]

    def _fields(self, row: RowPlan) -> dict[str, Any]:
        fields: dict[str, Any] = {}
        for column, raw in row.values.items():
            if column in ("name", "class", "status", "tags") or column.startswith(
                    ATTRIBUTE_PREFIX):
                continue
            try:
                value = self._convert(column, raw)
            except ValueError as error:
                row.reject(column, error)
                continue
            if value is not KEEP:
                fields[FIELD_OF_COLUMN.get(column, column)] = value
        return fields

    def _status(self, row: RowPlan) -> str | None:
        raw = row.values.get("status", "")
        if not raw:
            return None
        if raw.lower() not in self.statuses:
            row.reject("status", _("Unknown status “%(value)s”: use one of %(choices)s.")
                       % {"value": raw, "choices": ", ".join(CIStatus.values)})
            return None
        return str(self.statuses[raw.lower()])

    def _tags(self, row: RowPlan) -> list[str] | None:
        if "tags" not in row.values:
            return None
        tags = []
        for name in re.split(r"[\s,;]+", row.values["tags"]):
            if not name:
                continue
            slug = slugify(name)[:50]
            if not slug:
                row.reject("tags", _("“%(value)s” is not a tag: use letters, digits and "
                                     "hyphens.") % {"value": name})
            else:
                tags.append(slug)
        return sorted(set(tags))

    def _attributes(self, row: RowPlan, ci_class: CIClass | None) -> dict[str, str] | None:
        """The attribute cells the row sets, or None when the file has no attribute
        columns. A blank cell for an attribute the class does not have is not a value
        (an export has a column for every attribute of every class in it)."""
        cells = {column[len(ATTRIBUTE_PREFIX):]: raw for column, raw in row.values.items()
                 if column.startswith(ATTRIBUTE_PREFIX)}
        if not cells:
            return None
        if ci_class is None:
            return {}
        keys = {definition.key for definition in ci_class.attributes.all()}
        kept = {}
        for key, raw in cells.items():
            if key in keys:
                kept[key] = raw
            elif raw:
                row.reject(ATTRIBUTE_PREFIX + key,
                           _("The class %(cls)s has no attribute %(key)s.")
                           % {"cls": ci_class.name, "key": key})
        return kept

    # Finding the CI a row means ------------------------------------------------------

    def _match(self, row: RowPlan, identifiers: dict[str, str], ci_class: CIClass | None,
               name: str) -> tuple[ConfigurationItem | None, str, str]:
        """(the CI this row updates or None, how it was found, the rule: ``identity`` when
        the identification rule found it, ``fallback`` otherwise)."""
        key, deciding = services.identity_of(**identifiers)
        if key is not None and deciding is not None:
            found = self.known.by_identity.get(key)
            if found is not None:
                return found, self._matched_by(deciding, identifiers), "identity"
            # A CI identified so far by a lower-ranked identifier this row also carries
            # (asset tag, hostname, MAC) is the same thing, now getting e.g. a serial
            # number: update it rather than record it twice.
            order = list(IDENTIFIER_LABELS)
            keys = {k: f for k, f in _identity_keys(identifiers).items()
                    if order.index(f) > order.index(deciding)}
            matches = [self.known.by_identity[k] for k in keys if k in self.known.by_identity]
            if len(matches) == 1:
                return matches[0], self._matched_by(keys[matches[0].identity or ""],
                                                    identifiers), "fallback"
            if len(matches) > 1:
                row.reject(deciding, _("The identifiers in this row belong to different "
                                       "CIs: %(cis)s.") % {"cis": ", ".join(
                                           f"{ci.name} (CI {ci.pk})" for ci in matches)})
                return None, "", ""
        if ci_class is None or not name:
            return None, "", ""
        # No identifier found anything: a CI of the same class and name that has no
        # identifier of its own (a business service, an application) is this one.
        candidates = [ci for ci in self.known.by_name.get(name.lower(), [])
                      if ci.ci_class_id == ci_class.pk]
        if key is not None:
            candidates = [ci for ci in candidates if ci.identity is None]
        if len(candidates) == 1:
            return candidates[0], _("class and name"), "fallback"
        if len(candidates) > 1:
            row.reject("name", _("Several %(cls)s CIs are called “%(name)s”: add a serial "
                                 "number, asset tag, hostname or MAC address to say which.")
                       % {"cls": ci_class.name, "name": name})
        return None, "", ""

    @staticmethod
    def _matched_by(deciding: str, identifiers: dict[str, str]) -> str:
        value = identifiers[deciding]
        if deciding == "hostname" and identifiers.get("domain"):
            value = f"{value}.{identifiers['domain']}"
        return f"{IDENTIFIER_LABELS[deciding]} {value}"

    def _duplicate(self, row: RowPlan, key: str, column: str, message: str) -> bool:
        if key in self.seen_keys:
            row.reject(column, message % {"line": self.seen_keys[key]})
            return True
        self.seen_keys[key] = row.line
        return False

    # The plan ------------------------------------------------------------------------

    def plan(self, line: int, values: dict[str, str], *, check_duplicates: bool = True
             ) -> RowPlan:
        row = RowPlan(line=line, values=values, label=values.get("name", ""))
        name = values.get("name", "")
        if not name:
            row.reject("name", _("A name is required."))
        ci_class = None
        class_text = values.get("class", "")
        if not class_text:
            row.reject("class", _("A class is required."))
        else:
            ci_class = self.classes.get(class_text.lower())
            if ci_class is None:
                row.reject("class", _("Unknown class “%(value)s”. The classes are: "
                                      "%(keys)s.") % {"value": class_text,
                                                      "keys": self.class_keys})
        fields = self._fields(row)
        status = self._status(row)
        tags = self._tags(row)
        attributes = self._attributes(row, ci_class)
        # A cell that is not valid (a bad MAC) is not in fields: it was rejected already.
        identifiers = {f: str(fields.get(f) or "") for f in IDENTIFIER_COLUMNS}
        existing, matched_by, rule = self._match(row, identifiers, ci_class, name)
        key, deciding = services.identity_of(**identifiers)
        if check_duplicates:
            duplicate = False
            if key is not None and deciding is not None:
                duplicate = self._duplicate(row, key, deciding,
                                            _("The same %(what)s as line %%(line)s.")
                                            % {"what": IDENTIFIER_LABELS[deciding]})
            elif ci_class is not None and name:
                duplicate = self._duplicate(
                    row, f"name:{ci_class.pk}:{name.lower()}", "name",
                    _("The same class and name as line %(line)s, and no identifier to "
                      "tell them apart."))
            if existing is not None and not duplicate:
                if existing.pk in self.seen_targets:
                    row.reject(deciding or "name",
                               _("Line %(line)s already updates %(name)s (CI %(id)s).")
                               % {"line": self.seen_targets[existing.pk],
                                  "name": existing.name, "id": existing.pk})
                else:
                    self.seen_targets[existing.pk] = line
        if existing is not None:
            row.target = {"id": existing.pk, "name": existing.name}
            row.matched_by = matched_by
        if ci_class is not None and name:
            if existing is None:
                self._plan_create(row, name, ci_class, fields, status, tags, attributes)
            else:
                self._plan_update(row, existing, name, ci_class, fields, status, tags,
                                  attributes)
        if row.reasons:
            row.action = REJECT
        elif existing is None:
            row.action = CREATE
        else:
            row.action = UPDATE if row.changes else UNCHANGED
        row.prepared = {"existing": existing, "rule": rule, "tags": tags, "status": status,
                        "values": {"name": name, "ci_class": ci_class, **fields,
                                   **({"attributes": attributes}
                                      if attributes is not None else {})}}
        return row

    def _plan_create(self, row: RowPlan, name: str, ci_class: CIClass,
                     fields: dict[str, Any], status: str | None, tags: list[str] | None,
                     attributes: dict[str, str] | None) -> None:
        ci = ConfigurationItem(name=name, ci_class=ci_class,
                               status=status or CI_LIFECYCLE.initial, **fields)
        try:
            ci.attributes = services.clean_attributes(ci_class, attributes or {})
        except DomainError as error:
            row.reject_error(error)
        self._validate(row, ci)
        row.changes = [{"column": "class", "before": "", "after": ci_class.key}]
        if status:
            row.changes.append({"column": "status", "before": "", "after": status})
        for name_, value in fields.items():
            if value not in (None, ""):
                row.changes.append({"column": COLUMN_OF_FIELD.get(name_, name_),
                                    "before": "", "after": _display(value)})
        for key, value in sorted(ci.attributes.items()):
            row.changes.append({"column": ATTRIBUTE_PREFIX + key, "before": "",
                                "after": _display(value)})
        if tags:
            row.changes.append({"column": "tags", "before": "", "after": " ".join(tags)})

    def _plan_update(self, row: RowPlan, existing: ConfigurationItem, name: str,
                     ci_class: CIClass, fields: dict[str, Any], status: str | None,
                     tags: list[str] | None, attributes: dict[str, str] | None) -> None:
        changes = row.changes

        def changed(column: str, before: Any, after: Any) -> None:
            changes.append({"column": column, "before": _display(before),
                            "after": _display(after)})

        if name != existing.name:
            changed("name", existing.name, name)
        if ci_class.pk != existing.ci_class_id:
            changed("class", existing.ci_class.key, ci_class.key)
        if status and status != existing.status:
            if CI_LIFECYCLE.find(existing.status, status) is None:
                allowed = [t.target for t in CI_LIFECYCLE.transitions
                           if t.source == existing.status]
                row.reject("status", _("%(name)s is %(current)s and cannot move to "
                                       "%(target)s; from %(current)s it can move to: "
                                       "%(allowed)s.")
                           % {"name": existing.name, "current": existing.status,
                              "target": status, "allowed": ", ".join(allowed) or "—"})
            else:
                changed("status", existing.status, status)
        after = copy.copy(existing)
        after.name, after.ci_class = name, ci_class
        for name_, value in fields.items():
            before = getattr(existing, name_)
            if name_ in ("owner_team", "assigned_to"):
                same = (before.pk if before else None) == (value.pk if value else None)
            else:
                same = before == value
            if not same:
                changed(COLUMN_OF_FIELD.get(name_, name_), before, value)
            setattr(after, name_, value)
        merged = dict(existing.attributes or {})
        if attributes:
            merged.update(attributes)
        try:
            cleaned = services.clean_attributes(ci_class, merged)
        except DomainError as error:
            row.reject_error(error)
        else:
            for key in sorted(set(cleaned) | set(existing.attributes or {})):
                if cleaned.get(key) != (existing.attributes or {}).get(key):
                    changed(ATTRIBUTE_PREFIX + key, (existing.attributes or {}).get(key),
                            cleaned.get(key))
            after.attributes = cleaned
        if tags is not None:
            current = sorted(tag.name for tag in existing.tags.all())
            if tags != current:
                changed("tags", current, tags)
        self._validate(row, after)
        key, deciding = services.identity_of(
            serial_number=after.serial_number, asset_tag=after.asset_tag,
            hostname=after.hostname, domain=after.domain, mac_address=after.mac_address)
        if key is not None and deciding is not None and key != existing.identity:
            other = ConfigurationItem.objects.filter(identity=key).exclude(
                pk=existing.pk).first()
            if other is not None:
                row.reject(deciding, _("Already recorded as %(name)s (CI %(id)s).")
                           % {"name": other.name, "id": other.pk})

    @staticmethod
    def _validate(row: RowPlan, ci: ConfigurationItem) -> None:
        """The model's own rules (lengths, choices), as the service will check them.
        Foreign keys were resolved already; identity is checked separately."""
        if row.reasons:
            return
        try:
            validated(ci, exclude=["identity", "ci_class", "owner_team", "assigned_to",
                                   "attributes"])
        except DomainError as error:
            row.reject_error(error)

    # Applying ------------------------------------------------------------------------

    def remember(self, ci: ConfigurationItem) -> None:
        """A CI this apply wrote: later rows must see it as it is now."""
        self.known.add(ci)

    def apply(self, actor: Any, row: RowPlan) -> ConfigurationItem:
        prepared = row.prepared
        values = dict(prepared["values"])
        if row.action == CREATE:
            values["status"] = prepared["status"]
            ci, created = services.ci_upsert_identified(actor=actor, values=values,
                                                        tags=prepared["tags"])
            if not created:
                raise Conflict(_("%(name)s (CI %(id)s) was recorded while this row was "
                                 "being imported.") % {"name": ci.name, "id": ci.pk})
            return ci
        existing = prepared["existing"]
        if prepared["rule"] == "identity":
            ci, created = services.ci_upsert_identified(actor=actor, values=values,
                                                        tags=prepared["tags"])
            if created or ci.pk != existing.pk:
                raise Conflict(_("The identifiers now point at another CI."))
        else:
            if "attributes" in values:
                values["attributes"] = {**existing.attributes, **values["attributes"]}
            ci = services.ci_update(actor=actor, ci=existing, tags=prepared["tags"],
                                    **values)
        status = prepared["status"]
        if status and status != ci.status:
            ci = services.ci_transition(actor=actor, ci=ci, to_status=status,
                                        note=_("CSV import, line %(line)s")
                                        % {"line": row.line})
        return ci


@dataclass
class _KnownItems:
    """CIs loaded in bulk, by identity key and by lower-case name."""

    by_identity: dict[str, ConfigurationItem] = field(default_factory=dict)
    by_name: defaultdict[str, list[ConfigurationItem]] = field(
        default_factory=lambda: defaultdict(list))
    keys_of: dict[int, tuple[str | None, str]] = field(default_factory=dict)

    def add(self, ci: ConfigurationItem) -> None:
        self.forget(ci.pk)
        if ci.identity:
            self.by_identity[ci.identity] = ci
        self.by_name[ci.name.lower()].append(ci)
        self.keys_of[ci.pk] = (ci.identity, ci.name.lower())

    def forget(self, pk: int) -> None:
        if pk not in self.keys_of:
            return
        identity, name = self.keys_of.pop(pk)
        if identity and identity in self.by_identity and self.by_identity[identity].pk == pk:
            del self.by_identity[identity]
        self.by_name[name] = [ci for ci in self.by_name[name] if ci.pk != pk]


PREFETCH_BATCH_SIZE = 500


def _chunks(items: list[str]) -> Iterable[list[str]]:
    for start in range(0, len(items), PREFETCH_BATCH_SIZE):
        yield items[start:start + PREFETCH_BATCH_SIZE]


def _candidates() -> QuerySet[ConfigurationItem]:
    return ConfigurationItem.objects.select_related(
        "ci_class", "owner_team", "assigned_to").prefetch_related("tags")


def _identity_keys(identifiers: dict[str, str]) -> dict[str, str]:
    """The identity key each identifier of a row would give on its own: {key: field}."""
    keys = {}
    for name in IDENTIFIER_LABELS:
        if not identifiers.get(name):
            continue
        domain = identifiers.get("domain", "") if name == "hostname" else ""
        try:
            key, _field = services.identity_of(**{name: identifiers[name]}, domain=domain)
        except DomainError:  # not a MAC address
            continue
        if key:
            keys[key] = name
    return keys


def _date(raw: str) -> datetime.date | None:
    if not raw:
        return None
    if not _DATE.match(raw):
        raise ValueError(_("“%(value)s” is not a date: use YYYY-MM-DD, e.g. 2026-03-31.")
                         % {"value": raw})
    try:
        return datetime.date.fromisoformat(raw)
    except ValueError:
        raise ValueError(_("“%(value)s” is not a real date (YYYY-MM-DD).")
                         % {"value": raw}) from None


def _amount(raw: str) -> Decimal | None:
    if not raw:
        return None
    try:
        amount = Decimal(raw)
    except InvalidOperation:
        amount = None
    if amount is None or not amount.is_finite():
        raise ValueError(_("“%(value)s” is not an amount: use digits and a dot for "
                           "decimals, e.g. 1299.50.") % {"value": raw})
    exponent = amount.as_tuple().exponent
    if isinstance(exponent, int) and exponent < -2:
        raise ValueError(_("“%(value)s” has more than 2 decimals.") % {"value": raw})
    if abs(amount) >= 10 ** 10:
        raise ValueError(_("“%(value)s” is too large.") % {"value": raw})
    return amount


# --- Relationships --------------------------------------------------------------------

class RelationshipPlanner:
    def __init__(self) -> None:
        types = list(RelationshipType.objects.prefetch_related("allowed_sources",
                                                               "allowed_targets"))
        self.types: dict[str, RelationshipType] = {}
        for rel_type in types:
            self.types[rel_type.name.lower()] = rel_type
        for rel_type in types:
            self.types[rel_type.key.lower()] = rel_type
        self.type_keys = ", ".join(sorted(t.key for t in types))
        self.references: dict[str, tuple[ConfigurationItem | None, str]] = {}
        self.seen: dict[tuple[int, int, int], int] = {}

    def _resolve(self, text: str) -> tuple[ConfigurationItem | None, str]:
        """(the CI ``text`` names, else None and why not)."""
        if text.isdigit():
            scheme, value = "id", text
        else:
            match = _CI_REFERENCE.match(text)
            if match is None:
                return None, _("“%(value)s” does not name a CI: use %(forms)s.") % {
                    "value": text, "forms": CI_REFERENCE_HELP}
            scheme, value = match.group(1).lower(), match.group(2).strip()
        if not value:
            return None, _("“%(value)s” has nothing after the colon.") % {"value": text}
        query = ConfigurationItem.objects.select_related("ci_class")
        what = {"id": "id", "serial": _("serial number"), "tag": _("asset tag"),
                "host": _("hostname"), "mac": _("MAC address"), "name": _("name")}[scheme]
        if scheme == "id":
            if not value.isdigit():
                return None, _("“%(value)s” is not a CI id.") % {"value": value}
            query = query.filter(pk=int(value))
        elif scheme == "serial":
            query = query.filter(serial_number__iexact=value)
        elif scheme == "tag":
            query = query.filter(asset_tag__iexact=value)
        elif scheme == "host":
            host = value.rstrip(".")
            condition = Q(hostname__iexact=host)
            if "." in host:
                head, tail = host.split(".", 1)
                condition |= Q(hostname__iexact=head, domain__iexact=tail)
            query = query.filter(condition)
        elif scheme == "mac":
            try:
                query = query.filter(mac_address=services.normalise_mac(value))
            except DomainError:
                return None, _("“%(value)s” is not a MAC address.") % {"value": value}
        else:
            query = query.filter(name__iexact=value)
        found = list(query.order_by("pk")[:AMBIGUOUS_SHOWN + 1])
        if not found:
            return None, _("No CI has the %(what)s “%(value)s”.") % {"what": what,
                                                                    "value": value}
        if len(found) > 1:
            candidates = ", ".join(f"{ci.name} (CI {ci.pk}, {ci.ci_class.name})"
                                   for ci in found[:AMBIGUOUS_SHOWN])
            if len(found) > AMBIGUOUS_SHOWN:
                candidates += ", …"
            return None, _("More than one CI has the %(what)s “%(value)s”: %(candidates)s. "
                           "Use a more specific identifier or the CI id.") % {
                               "what": what, "value": value, "candidates": candidates}
        return found[0], ""

    def _ci(self, row: RowPlan, column: str) -> ConfigurationItem | None:
        text = row.values.get(column, "")
        if not text:
            row.reject(column, _("Name the CI: %(forms)s.") % {"forms": CI_REFERENCE_HELP})
            return None
        if text not in self.references:
            self.references[text] = self._resolve(text)
        ci, problem = self.references[text]
        if ci is None:
            row.reject(column, problem)
        return ci

    def plan(self, line: int, values: dict[str, str], *, check_duplicates: bool = True
             ) -> RowPlan:
        row = RowPlan(line=line, values=values)
        source = self._ci(row, "source")
        type_text = values.get("type", "")
        rel_type = self.types.get(type_text.lower()) if type_text else None
        if rel_type is None:
            row.reject("type", (_("Unknown relationship type “%(value)s”.") % {
                "value": type_text} if type_text else _("A type is required.")) + " "
                + _("The types are: %(keys)s.") % {"keys": self.type_keys})
        target = self._ci(row, "target")
        row.label = " ".join([
            source.name if source else values.get("source", ""),
            rel_type.name if rel_type else values.get("type", ""),
            target.name if target else values.get("target", "")])
        if source is not None and target is not None and rel_type is not None:
            row.link = {"source_id": source.pk, "source_name": source.name,
                        "target_id": target.pk, "target_name": target.name}
            try:
                services.relationship_check(source, target, rel_type)
            except DomainError as error:
                row.reject_error(error, "target")
                if error.code == "class_not_allowed":
                    row.reasons[-1]["message"] += " " + self._allowed(rel_type)
            key = (source.pk, target.pk, rel_type.pk)
            if check_duplicates and not row.reasons:
                if key in self.seen:
                    row.reject("target", _("The same relationship as line %(line)s.")
                               % {"line": self.seen[key]})
                else:
                    self.seen[key] = line
            if not row.reasons and Relationship.objects.filter(
                    source=source, target=target, type=rel_type).exists():
                row.action = UNCHANGED
                row.matched_by = _("already related")
        if not row.action:
            row.action = REJECT if row.reasons else CREATE
        if row.action == CREATE:
            row.changes = [{"column": "type", "before": "", "after": rel_type.name
                            if rel_type else ""}]
        row.prepared = {"source": source, "target": target, "type": rel_type}
        return row

    @staticmethod
    def _allowed(rel_type: RelationshipType) -> str:
        sources = ", ".join(c.name for c in rel_type.allowed_sources.all()) or _("any class")
        targets = ", ".join(c.name for c in rel_type.allowed_targets.all()) or _("any class")
        return _("“%(rel)s” goes from %(sources)s to %(targets)s.") % {
            "rel": rel_type.name, "sources": sources, "targets": targets}

    def apply(self, actor: Any, row: RowPlan) -> Relationship:
        prepared = row.prepared
        return services.relationship_create(actor=actor, source=prepared["source"],
                                            target=prepared["target"],
                                            type=prepared["type"])


Planner = CIPlanner | RelationshipPlanner


def _planner(kind: str, rows: Iterable[dict[str, str]]) -> Planner:
    return CIPlanner(rows) if kind == ImportKind.CIS else RelationshipPlanner()


def plan_rows(kind: str, table: CsvTable) -> list[RowPlan]:
    planner = _planner(kind, (dict(zip(table.columns, cells, strict=False))
                              for _line, cells in table.records))
    width = len(table.columns)
    rows = []
    for line, cells in table.records:
        if len(cells) > width and not any(cells[width:]):
            cells = cells[:width]  # trailing empty cells some spreadsheets add
        values = dict(zip(table.columns, cells, strict=False))
        if len(cells) != width:
            row = RowPlan(line=line, values=values, label=values.get("name", ""),
                          action=REJECT)
            row.reject("", _("This row has %(cells)d values but the header has %(columns)d "
                             "columns (a value with a comma in it needs quotes).")
                       % {"cells": len(cells), "columns": width})
        else:
            row = planner.plan(line, values)
        rows.append(row)
    return rows


def counts_of(rows: Iterable[dict[str, Any]]) -> dict[str, int]:
    counts = dict.fromkeys(ACTIONS, 0)
    for row in rows:
        counts[row["action"]] += 1
    return counts


# --- Services -------------------------------------------------------------------------

def _closed_message(job: ImportJob) -> str:
    if job.status == ImportStatus.APPLIED:
        return _("This import was already applied; it cannot be applied or cancelled again. "
                 "Upload the file again to import it anew.")
    return _("This import was cancelled and nothing was written; it cannot be applied. "
             "Upload the file again to import it.")


def _open_job(actor: Any, job: ImportJob) -> ImportJob:
    require_permission(actor, PERMISSION)
    job = ImportJob.objects.select_for_update().get(pk=job.pk)
    if actor is not None and job.created_by_id != actor.pk:
        raise NotPermitted(_("Only the person who uploaded this file can apply or cancel "
                             "its import."))
    if job.status != ImportStatus.PREVIEW:
        raise Conflict(_closed_message(job), code="import_closed")
    return job


@transaction.atomic
@as_actor
def import_preview(*, actor: Any, kind: str, filename: str, data: bytes) -> ImportJob:
    """Read a CSV upload and plan every row; nothing is written to the CMDB."""
    require_permission(actor, PERMISSION)
    if actor is None:
        raise DomainError(_("An import needs the person who uploads it."))
    if kind not in ImportKind.values:
        raise DomainError(_("Choose what the file holds."),
                          fields={"kind": [_("Choose configuration items or relationships.")]})
    try:
        table = read_csv(decode_csv(data))
        _check_header(table, kind=kind)
    except DomainError as error:
        raise file_error_naming(filename, error) from None
    rows = [row.as_json() for row in plan_rows(kind, table)]
    counts = counts_of(rows)
    job = ImportJob.objects.create(kind=kind, filename=filename[:255], created_by=actor,
                                   rows=rows, summary={"preview": counts,
                                                       "columns": table.columns})
    audit_record(action=AuditAction.CREATE, target=job,
                 changes={"kind": [None, kind], "filename": [None, job.filename],
                          "status": [None, ImportStatus.PREVIEW]},
                 message=_("Preview: %(create)d to create, %(update)d to update, "
                           "%(unchanged)d unchanged, %(reject)d rejected.") % counts)
    return job


def _outcome_changed(planned: dict[str, Any], fresh: RowPlan) -> str:
    """Why the row cannot be applied as previewed, or "" if it still can."""
    planned_target = (planned.get("target") or {}).get("id")
    fresh_target = (fresh.target or {}).get("id")
    if planned["action"] == CREATE and fresh.target:
        return _("%(name)s (CI %(id)s) was recorded after the preview. Upload the file again "
                 "to review the update.") % {"name": fresh.target["name"], "id": fresh_target}
    if planned_target != fresh_target:
        return _("The CI this row updates changed after the preview (now: %(now)s). Upload "
                 "the file again to review it.") % {
                     "now": f"{fresh.target['name']} (CI {fresh_target})" if fresh.target
                     else _("none")}
    if _sorted_changes(planned["changes"]) != _sorted_changes(fresh.changes):
        return _("%(name)s (CI %(id)s) was edited after the preview (%(edits)s). Upload the "
                 "file again to review the changes.") % {
                     "name": (planned.get("target") or {}).get("name", ""),
                     "id": planned_target, "edits": _edits(planned["changes"], fresh.changes)}
    return ""


def _edits(planned: list[dict[str, str]], fresh: list[dict[str, str]]) -> str:
    """What someone changed between the preview and now, from the two plans of a row: a
    field missing from one plan had the file's value then (or has it now)."""
    then = {c["column"]: c["before"] for c in planned}
    now = {c["column"]: c["before"] for c in fresh}
    for change in fresh:
        then.setdefault(change["column"], change["after"])
    for change in planned:
        now.setdefault(change["column"], change["after"])
    edited = [column for column in then if then[column] != now[column]]
    return ", ".join(_("%(column)s is now “%(value)s”")
                     % {"column": column, "value": now[column] or _("(empty)")}
                     for column in edited[:3]) + (", …" if len(edited) > 3 else "")


def _sorted_changes(changes: list[dict[str, str]]) -> list[tuple[str, str, str]]:
    # Order-free: PostgreSQL's jsonb does not keep the order of the stored row's columns.
    return sorted((c["column"], c["before"], c["after"]) for c in changes)


def _failure(row: dict[str, Any], reasons: list[dict[str, str]]) -> dict[str, Any]:
    return {"line": row["line"], "label": row["label"], "reasons": reasons}


def _apply_row(planner: Planner, actor: Any, row: dict[str, Any]) -> dict[str, Any]:
    """Plan the row again, then write it in its own savepoint. Returns its result."""
    fresh = planner.plan(row["line"], row["values"], check_duplicates=False)
    if fresh.action == REJECT:
        return {"outcome": FAILED, "reasons": fresh.reasons}
    if fresh.action == UNCHANGED:
        return {"outcome": UNCHANGED, "reasons": []}
    problem = _outcome_changed(row, fresh)
    if problem:
        return {"outcome": FAILED, "reasons": [{"column": "", "message": problem}]}
    try:
        with transaction.atomic():
            written = planner.apply(actor, fresh)
    except DomainError as error:
        reasons = RowPlan(line=row["line"], values={})
        reasons.reject_error(error)
        return {"outcome": FAILED, "reasons": reasons.reasons}
    except (DatabaseError, ValidationError) as error:
        return {"outcome": FAILED, "reasons": [{"column": "", "message": str(error)}]}
    # The services write their own copies: the CIs the planner loaded are untouched, so a
    # failed row (rolled back) needs nothing; a written one replaces its old copy.
    if isinstance(planner, CIPlanner) and isinstance(written, ConfigurationItem):
        planner.remember(written)
    outcome = CREATED if fresh.action == CREATE else UPDATED
    name = written.name if isinstance(written, ConfigurationItem) else fresh.label
    return {"outcome": outcome, "reasons": [], "id": written.pk, "name": name}


APPLY_SAVE_EVERY = 25  # rows written between two progress saves
APPLY_LEASE = datetime.timedelta(minutes=5)  # a worker's claim on a job, renewed as it goes
APPLY_STALE_AFTER = datetime.timedelta(minutes=2)  # queued but never claimed: re-queue


@transaction.atomic
@as_actor
def import_apply(*, actor: Any, job: ImportJob) -> ImportJob:
    """Queue the valid rows of a previewed import to be written by a worker. The page
    shows the progress; nothing holds the web request (or the database) meanwhile."""
    from .tasks import apply_import

    job = _open_job(actor, job)
    job.status = ImportStatus.APPLYING
    job.summary = {**job.summary, "preview": job.summary.get("preview") or counts_of(job.rows),
                   "queued_at": timezone.now().isoformat(), "done": 0}
    job.save(update_fields=["status", "summary"])
    audit_record(action=AuditAction.TRANSITION, target=job,
                 changes={"status": [ImportStatus.PREVIEW, ImportStatus.APPLYING]},
                 message=_("Queued to be applied."))
    transaction.on_commit(lambda: apply_import.delay(job.pk))
    return job


def _claim(job_id: int) -> ImportJob | None:
    """Take the job for this worker unless another holds a live claim (a duplicate
    message) or it is no longer being applied."""
    with transaction.atomic():
        job = ImportJob.objects.select_for_update().filter(pk=job_id).first()
        if job is None or job.status != ImportStatus.APPLYING:
            return None
        until = job.summary.get("claimed_until")
        now = timezone.now()
        if until and datetime.datetime.fromisoformat(until) > now:
            return None
        job.summary = {**job.summary, "claimed_until": (now + APPLY_LEASE).isoformat()}
        job.save(update_fields=["summary"])
        return job


def _save_progress(job: ImportJob, rows: list[dict[str, Any]], done: int) -> None:
    job.rows = rows
    job.summary = {**job.summary, "done": done,
                   "claimed_until": (timezone.now() + APPLY_LEASE).isoformat()}
    with transaction.atomic():
        job.save(update_fields=["rows", "summary"])


def import_run(job_id: int) -> ImportJob | None:
    """Worker side: write the queued rows, each in its own short transaction, saving the
    results as it goes. Safe to run again: rows that have a result are skipped, so a
    crashed or repeated run resumes where the last one stopped."""
    job = _claim(job_id)
    if job is None:
        return None
    actor = job.created_by
    with acting_as(user_actor(actor, "task")):
        planner = _planner(job.kind, (row["values"] for row in job.rows
                                      if row["action"] in (CREATE, UPDATE)))
        rows = list(job.rows)
        pending = [i for i, row in enumerate(rows)
                   if row["action"] in (CREATE, UPDATE) and "result" not in row]
        done = sum(1 for row in rows if "result" in row)
        for count, index in enumerate(pending, start=1):
            rows[index] = {**rows[index], "result": _apply_row(planner, actor, rows[index])}
            done += 1
            if count % APPLY_SAVE_EVERY == 0:
                _save_progress(job, rows, done)
        return _finish(job, rows)


@transaction.atomic
def _finish(job: ImportJob, rows: list[dict[str, Any]]) -> ImportJob:
    summary: dict[str, Any] = {"preview": job.summary.get("preview") or counts_of(rows),
                               "created": [], "updated": [], "unchanged": [], "failed": [],
                               "rejected": []}
    for row in rows:
        result = row.get("result")
        if row["action"] == REJECT:
            summary["rejected"].append(row["line"])
        elif row["action"] == UNCHANGED or (result or {}).get("outcome") == UNCHANGED:
            summary["unchanged"].append(row["line"])
        elif result["outcome"] == FAILED:
            summary["failed"].append(_failure(row, result["reasons"]))
        else:
            summary[result["outcome"]].append(
                {"line": row["line"], "id": result["id"], "name": result["name"]})
    counts = {key: len(summary[key])
              for key in ("created", "updated", "unchanged", "failed", "rejected")}
    summary["counts"] = counts
    job.rows, job.summary = rows, summary
    job.status, job.applied_at = ImportStatus.APPLIED, timezone.now()
    job.save(update_fields=["rows", "summary", "status", "applied_at"])
    audit_record(action=AuditAction.TRANSITION, target=job,
                 changes={"status": [ImportStatus.APPLYING, ImportStatus.APPLIED],
                          "counts": [None, counts]},
                 message=_("Applied: %(created)d created, %(updated)d updated, %(unchanged)d "
                           "unchanged, %(failed)d failed, %(rejected)d rejected.") % counts)
    return job


def imports_resume_stale(now: datetime.datetime | None = None) -> list[int]:
    """The sweep behind lost messages: re-queue jobs still being applied whose worker
    claim ran out (a crash) or that no worker ever claimed."""
    from .tasks import apply_import

    now = now or timezone.now()
    stale = []
    for job in ImportJob.objects.filter(status=ImportStatus.APPLYING).only("pk", "summary"):
        until = job.summary.get("claimed_until")
        queued = job.summary.get("queued_at")
        if (until and datetime.datetime.fromisoformat(until) < now) or (
            not until and queued
            and datetime.datetime.fromisoformat(queued) < now - APPLY_STALE_AFTER
        ):
            stale.append(job.pk)
    for pk in stale:
        apply_import.delay(pk)
    return stale


@transaction.atomic
@as_actor
def import_cancel(*, actor: Any, job: ImportJob) -> ImportJob:
    """Close a preview without writing anything to the CMDB."""
    job = _open_job(actor, job)
    job.status = ImportStatus.CANCELLED
    job.save(update_fields=["status"])
    audit_record(action=AuditAction.TRANSITION, target=job,
                 changes={"status": [ImportStatus.PREVIEW, ImportStatus.CANCELLED]},
                 message=_("Cancelled: nothing was imported."))
    return job


def template_header(kind: str) -> list[str]:
    """The header row of an empty file to fill in."""
    if kind == ImportKind.RELATIONSHIPS:
        return list(RELATIONSHIP_COLUMNS)
    return list(BASE_COLUMNS)

