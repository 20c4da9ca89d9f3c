import factory

from cmdb.models import CIClass, ConfigurationItem, RelationshipType


def ci_class(key: str) -> CIClass:
    return CIClass.objects.get(key=key)


def rel_type(key: str) -> RelationshipType:
    return RelationshipType.objects.get(key=key)


class CIFactory(factory.django.DjangoModelFactory):
    """A CI written straight to the table (for building graphs quickly); tests of the
    rules themselves go through cmdb.services."""

    class Meta:
        model = ConfigurationItem

    name = factory.Sequence(lambda n: f"ci-{n:04d}")
    ci_class = factory.LazyFunction(lambda: ci_class("application"))
    status = "operational"
