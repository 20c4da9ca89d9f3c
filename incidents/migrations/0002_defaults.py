"""The ITIL default priority matrix and the incident settings row (data administrators
edit afterwards)."""

from django.db import migrations

MATRIX = {(1, 1): 1, (1, 2): 2, (1, 3): 3, (2, 1): 2, (2, 2): 3, (2, 3): 4,
          (3, 1): 3, (3, 2): 4, (3, 3): 4}


def seed(apps, schema_editor):
    Entry = apps.get_model("incidents", "PriorityMatrixEntry")
    Settings = apps.get_model("incidents", "IncidentSettings")
    for (impact, urgency), priority in MATRIX.items():
        Entry.objects.get_or_create(impact=impact, urgency=urgency,
                                    defaults={"priority": priority})
    if not Settings.objects.exists():
        Settings.objects.create(reopen_window_days=7, auto_close_days=3)


class Migration(migrations.Migration):
    dependencies = [("incidents", "0001_initial")]
    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
