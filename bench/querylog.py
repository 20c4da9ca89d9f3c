"""``QueryLog``: the queries a block of code runs, for the benchmarks' reports."""

from __future__ import annotations

import time
from typing import Any


class QueryLog:
    """The queries run inside the block: ``{"sql": …, "ms": …}`` each, the SQL with its
    parameters bound."""

    def __enter__(self) -> QueryLog:
        from django.db import connection

        self.queries: list[dict[str, Any]] = []
        self._wrapper = connection.execute_wrapper(self._record)
        self._wrapper.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self._wrapper.__exit__(*exc)

    def _record(self, execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            cursor = context["cursor"]
            bound = context["connection"].ops.last_executed_query(cursor, sql, params)
            self.queries.append({"sql": bound or sql,
                                 "ms": (time.perf_counter() - started) * 1000})
