import pytest

from knowledge import services
from tests.factories import UserFactory


@pytest.fixture
def author(db):
    return UserFactory(username="kb.author", roles=["service_desk_agent"])


@pytest.fixture
def manager(db):
    return UserFactory(username="kb.manager", roles=["knowledge_manager"])


@pytest.fixture
def reader(db):
    return UserFactory(username="kb.reader", roles=["requester"])


def publish(author, manager, **fields):
    """An article written by ``author``, reviewed and published by ``manager``."""
    fields.setdefault("body", "Some text.")
    article = services.article_create(actor=author, **fields)
    version = article.versions.get()
    services.version_submit_for_review(actor=author, version=version)
    services.version_approve(actor=manager, version=version)
    services.version_publish(actor=manager, version=version)
    article.refresh_from_db()
    return article


@pytest.fixture
def published(author, manager):
    def make(**fields):
        return publish(author, manager, **fields)
    return make
