"""Routing by task name puts each message on exactly one named queue of the real broker."""

import pytest
from django.conf import settings

from itsm.celery import app


def _sizes(connection) -> dict[str, int]:
    channel = connection.default_channel
    return {name: app.amqp.queues[name](channel).queue_declare().message_count
            for name in settings.CELERY_QUEUES}


@pytest.fixture
def broker():
    try:
        connection = app.connection_for_write()
        connection.ensure_connection(max_retries=1, timeout=2)
    except Exception as error:
        pytest.skip(f"broker not reachable: {error}")
    for queue in app.amqp.queues.values():
        queue(connection.default_channel).declare()
        queue(connection.default_channel).purge()
    yield connection
    for queue in app.amqp.queues.values():
        queue(connection.default_channel).purge()
    connection.release()


@pytest.mark.parametrize(("task", "queue"), [
    ("sla.tasks.tick", "sla"), ("remediation.tasks.dispatch", "dispatch"),
    ("notifications.tasks.send", "notify"), ("events.tasks.ingest", "events"),
    ("accounts.tasks.purge_expired_credentials", "default"),
])
@pytest.mark.filterwarnings("ignore::celery.exceptions.AlwaysEagerIgnored")
def test_a_task_lands_on_its_queue_only(broker, task, queue):
    app.send_task(task, connection=broker)
    sizes = _sizes(broker)
    assert sizes == {name: int(name == queue) for name in settings.CELERY_QUEUES}
