import threading

import pytest
from django.db import connection, connections

from tickets.numbering import ticket_number_next


@pytest.mark.django_db(transaction=True)
def test_parallel_transactions_never_share_a_number():
    """Eight threads, each with its own connection and transactions, draw numbers at once."""
    results: list[str] = []
    errors: list[BaseException] = []
    lock = threading.Lock()
    start = threading.Barrier(8)

    def draw() -> None:
        try:
            start.wait()
            for _ in range(15):
                number = ticket_number_next("CON")
                with lock:
                    results.append(number)
        except BaseException as error:  # surfaced below
            errors.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=draw) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors
    assert len(results) == 120
    assert sorted(results) == [f"CON{n:07d}" for n in range(1, 121)], connection.vendor
