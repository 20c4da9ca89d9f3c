"""Statements for thousands of rows at once, where the ORM's bulk methods cost more than
the database: one dispatch writes a job per agent of the fleet, and results come back in
batches of hundreds (docs/benchmarks.md, "Remediation").

On PostgreSQL an id list is one array parameter (``= ANY(%s)``) and rows go in by COPY or
come from ``unnest`` of arrays; elsewhere (SQLite, the embedded profile and the tests) the
same statements use IN lists in chunks, or the ORM."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from django.db import DEFAULT_DB_ALIAS, connection, connections, models

# SQLite's host-parameter limit as Django assumes it (features.max_query_params).
SQLITE_CHUNK = 900


def postgresql() -> bool:
    return connection.vendor == "postgresql"


def column(model: type[models.Model], name: str) -> str:
    """A field's column, quoted for raw SQL."""
    return connection.ops.quote_name(model._meta.get_field(name).column)


_column = column


def prep(model: type[models.Model], name: str, value: Any) -> Any:
    """A value as the field writes it (SQLite's datetimes are text without an offset)."""
    return model._meta.get_field(name).get_db_prep_value(value, connection)


def _table(model: type[models.Model]) -> str:
    return connection.ops.quote_name(model._meta.db_table)


def array_literal(values: Iterable[Any]) -> str:
    """PostgreSQL's text form of an array (``{"a","b",NULL}``), for a parameter cast with
    ``%s::<type>[]``: psycopg quotes a Python list element by element, several
    times slower than this for thousands of ids or results."""
    return "{" + ",".join(
        "NULL" if value is None
        else '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'
        for value in values) + "}"


def _array_param(model: type[models.Model], sql_type: str | None = None) -> str:
    """The placeholder of an array parameter given as ``array_literal`` text."""
    return f"%s::{sql_type or model._meta.pk.db_type(connection)}[]"


def update_returning(model: type[models.Model], *, assignments: dict[str, str],
                     params: Sequence[Any], ids: Iterable[Any],
                     where: str = "", where_params: Sequence[Any] = (),
                     returning: Sequence[str] = ("id",), lock_in_order: bool = False,
                     ) -> list[tuple[Any, ...]]:
    """``UPDATE model SET <assignments> WHERE pk IN ids [AND where] [RETURNING …]``.

    ``assignments`` maps field names to SQL expressions (``%s`` for ``params``); ``where``
    is extra SQL with ``where_params``. The rows updated are locked until the commit;
    ``lock_in_order`` (PostgreSQL) locks them in primary-key order first, so two
    transactions updating overlapping sets cannot deadlock. Returned values are as the
    database gives them: ids go through ``model._meta.pk.to_python`` for the caller."""
    pk = model._meta.pk
    # The connection itself, not the thread-local proxy: looked up once, not per id.
    db = connections[DEFAULT_DB_ALIAS]
    ids = [pk.get_db_prep_value(value, db) for value in ids]
    if not ids:
        return []
    table, pk_column = _table(model), connection.ops.quote_name(pk.column)
    sets = ", ".join(f"{_column(model, name)} = {sql}" for name, sql in assignments.items())
    back = ""
    if returning:
        back = " RETURNING " + ", ".join(_column(model, name) for name in returning)
    extra = f" AND ({where})" if where else ""
    rows: list[tuple[Any, ...]] = []
    with connection.cursor() as cursor:
        if postgresql():
            chosen = f"{pk_column} = ANY({_array_param(model)}){extra}"
            if lock_in_order:
                # The ids locked are collected first (an init plan, run once), then
                # updated through the primary key: as "IN (subquery)" the planner could
                # join the two, and with statistics that saw no row matching ``where``
                # (no queued job) it chose a nested loop that ran the locking subquery
                # again for every row of the table: seconds per 500 jobs.
                chosen = (f"{pk_column} = ANY(ARRAY(SELECT {pk_column} FROM {table} WHERE "
                          f"{chosen} ORDER BY {pk_column} FOR UPDATE))")
            cursor.execute(f"UPDATE {table} SET {sets} WHERE {chosen}{back}",
                           [*params, array_literal(ids), *where_params])
            return list(cursor.fetchall()) if returning else []
        for start in range(0, len(ids), SQLITE_CHUNK):
            chunk = ids[start:start + SQLITE_CHUNK]
            marks = ", ".join(["%s"] * len(chunk))
            cursor.execute(f"UPDATE {table} SET {sets} WHERE {pk_column} IN ({marks}){extra}"
                           f"{back}", [*params, *chunk, *where_params])
            if returning:
                rows += cursor.fetchall()
    return rows


def copy_insert(model: type[models.Model], columns: Sequence[str],
                rows: Iterable[Sequence[Any]]) -> None:
    """PostgreSQL only: rows (values in ``columns``' order, as psycopg adapts them; JSON
    columns as JSON text) written with COPY, several times faster than INSERT for
    thousands of rows."""
    names = ", ".join(_column(model, name) for name in columns)
    with connection.cursor() as cursor, cursor.copy(
            f"COPY {_table(model)} ({names}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)


def update_from_arrays(model: type[models.Model], *, key: str,
                       columns: dict[str, tuple[str, list[Any]]],
                       constant: dict[str, tuple[str, Any]] | None = None) -> int:
    """PostgreSQL only: one UPDATE giving each row its own values, from arrays joined on
    ``key`` (the ORM's bulk_update writes a CASE per column with a branch per row).
    ``columns`` maps a field to (SQL type, one value per row, the key column first
    included); ``constant`` maps a field to (SQL type, one value for every row)."""
    constant = constant or {}
    names = list(columns)
    arrays = ", ".join(_array_param(model, sql_type) for sql_type, _values in columns.values())
    alias = ", ".join(f"c{index}" for index in range(len(names)))
    sets = [f"{_column(model, name)} = v.c{index}" for index, name in enumerate(names)
            if name != key]
    sets += [f"{_column(model, name)} = %s::{sql_type}"
             for name, (sql_type, _value) in constant.items()]
    table = _table(model)
    key_index = names.index(key)
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET {', '.join(sets)} FROM unnest({arrays}) AS v({alias}) "
            f"WHERE {table}.{_column(model, key)} = v.c{key_index}",
            [*(value for _type, value in constant.values()),
             *(array_literal(values) for _type, values in columns.values())])
        return cursor.rowcount
