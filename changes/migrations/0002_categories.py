"""The usual change categories, so a new installation can file changes at once
(administrators edit the list in the admin)."""

from django.db import migrations

CATEGORIES = ("Application release", "Infrastructure", "Database", "Network", "Security",
              "End-user computing", "Facilities")


def seed(apps, schema_editor):
    category = apps.get_model("changes", "ChangeCategory")
    for order, name in enumerate(CATEGORIES, start=1):
        category.objects.get_or_create(name=name, defaults={"order": order * 10})


class Migration(migrations.Migration):
    dependencies = [("changes", "0001_initial")]
    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
