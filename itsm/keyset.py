"""Keyset pagination helpers: "the rows after this one" in a multi-column order.

``RowsAfter(("priority", "created_at", "id"), (2, when, 1042))`` filters on the row
comparison ``(priority, created_at, id) > (2, when, 1042)``. PostgreSQL turns that into one
range condition on an index over those columns, so a page deep in a queue costs what the
first page costs. The equivalent ``a > x OR (a = x AND (b > y OR …))`` is only a filter,
which makes the database read every row before the cursor. SQLite (3.15+) compares row
values too. Every column must sort ascending and be NOT NULL.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.db.models import BooleanField, Expression, F, Value


class RowsAfter(Expression):
    output_field = BooleanField()
    conditional = True

    def __init__(self, fields: Sequence[str], values: Sequence[Any]) -> None:
        if len(fields) != len(values) or not fields:
            raise ValueError("one value per field")
        super().__init__()
        self.fields = tuple(fields)
        self.values = tuple(values)
        self.columns: list[Any] = [F(name) for name in self.fields]

    def get_source_expressions(self) -> list[Any]:
        return self.columns

    def set_source_expressions(self, exprs: list[Any]) -> None:
        self.columns = list(exprs)

    def as_sql(self, compiler: Any, connection: Any) -> tuple[str, list[Any]]:
        left, right, params = [], [], []
        for column in self.columns:
            sql, column_params = compiler.compile(column)
            left.append(sql)
            params.extend(column_params)
        for column, value in zip(self.columns, self.values, strict=True):
            sql, value_params = compiler.compile(Value(value, output_field=column.output_field))
            right.append(sql)
            params.extend(value_params)
        return f"({', '.join(left)}) > ({', '.join(right)})", params
