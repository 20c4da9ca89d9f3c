"""Numbers per database (tickets/numbering.py); races: test_numbering_concurrency.py."""

import pytest
from django.db import connection, transaction

from tickets.models import TicketNumberSequence
from tickets.numbering import ticket_number_last, ticket_number_next


class Boom(Exception):
    pass


def test_numbering_continues_from_the_stored_row(db):
    # A database numbered before (or seeded by an import) keeps counting from there.
    TicketNumberSequence.objects.create(prefix="OLD", last_value=41)
    assert ticket_number_next("OLD") == "OLD0000042"
    assert ticket_number_next("OLD") == "OLD0000043"
    assert ticket_number_last("OLD") == 43


def test_a_rolled_back_create_gaps_on_postgresql_only(db):
    first = ticket_number_next("GAP")
    with pytest.raises(Boom), transaction.atomic():
        ticket_number_next("GAP")
        raise Boom
    after = ticket_number_next("GAP")
    step = int(after[3:]) - int(first[3:])
    # PostgreSQL's sequence does not roll back (no lock held to the commit); SQLite's row
    # does.
    assert step == (2 if connection.vendor == "postgresql" else 1)
    assert ticket_number_last("GAP") == int(after[3:])
