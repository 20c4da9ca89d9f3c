"""Ticket numbers (INC0001042): unique per prefix, increasing, drawn without races on
both databases (tests/tickets/test_numbering_concurrency.py).

* PostgreSQL: a native sequence per prefix (``ticket_number_<prefix>``), drawn through
  the function ``itsm_ticket_number(prefix)`` (migration 0002), which makes the sequence
  on first use, starting after the prefix's ``TicketNumberSequence`` row if there is one.
  ``nextval`` holds no lock until the commit, so creates of one type run side by side
  (with the row lock every create waited for the one before it to commit:
  docs/benchmarks.md). A create that rolls back leaves a gap; a number is never reused.
* SQLite (embedded): one ``UPDATE … RETURNING`` of the ``TicketNumberSequence`` row in the
  creating transaction. SQLite lets one writer at a time in anyway, and a create that
  rolls back leaves no gap.
"""

from __future__ import annotations

from django.db import IntegrityError, connection, transaction

from .models import TicketNumberSequence

# The function behind the PostgreSQL numbers. The EXCEPTION block runs only when the
# sequence is missing: it makes it (two first creates at once: the loser retries).
PG_FUNCTION = """
CREATE OR REPLACE FUNCTION itsm_ticket_number(ticket_prefix text) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
  sequence_name text := 'ticket_number_' || lower(ticket_prefix);
  first bigint;
BEGIN
  RETURN nextval(sequence_name);
EXCEPTION WHEN undefined_table THEN
  SELECT coalesce(max(last_value), 0) + 1 INTO first
    FROM tickets_ticketnumbersequence WHERE prefix = ticket_prefix;
  BEGIN
    EXECUTE format('CREATE SEQUENCE %I START WITH %s', sequence_name, first);
  EXCEPTION WHEN duplicate_table OR unique_violation THEN
    NULL;
  END;
  RETURN nextval(sequence_name);
END
$$;
"""


def _pg() -> bool:
    return connection.vendor == "postgresql"


def ticket_number_next(prefix: str) -> str:
    """The next number for ``prefix``. Call it inside the creating transaction."""
    if _pg():
        with connection.cursor() as cursor:
            cursor.execute("SELECT itsm_ticket_number(%s)", [prefix])
            value = cursor.fetchone()[0]
    else:
        value = _row_increment(prefix)
        if value is None:
            try:
                with transaction.atomic():
                    TicketNumberSequence.objects.create(prefix=prefix, last_value=1)
                value = 1
            except IntegrityError:  # another transaction created it first
                value = _row_increment(prefix)
    return f"{prefix}{value:07d}"


def ticket_number_last(prefix: str) -> int:
    """The highest number handed out for ``prefix`` so far (0 if none)."""
    if _pg():
        name = f"ticket_number_{prefix.lower()}"
        with connection.cursor() as cursor:
            cursor.execute("SELECT to_regclass(%s)", [name])
            if cursor.fetchone()[0] is not None:
                cursor.execute("SELECT last_value, is_called FROM "
                               f"{connection.ops.quote_name(name)}")
                last_value, is_called = cursor.fetchone()
                return last_value if is_called else last_value - 1
    row = TicketNumberSequence.objects.filter(prefix=prefix).first()
    return row.last_value if row else 0


def _row_increment(prefix: str) -> int | None:
    quote = connection.ops.quote_name
    table = quote(TicketNumberSequence._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(f"UPDATE {table} SET {quote('last_value')} = {quote('last_value')} + 1 "
                       f"WHERE {quote('prefix')} = %s RETURNING {quote('last_value')}",
                       [prefix])
        row = cursor.fetchone()
    return None if row is None else row[0]
