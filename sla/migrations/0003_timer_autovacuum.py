"""Vacuum the timer table sooner on PostgreSQL: every tick moves ``next_check_at`` of the
timers it checks, and with the default scale factor a table of a million timers waits for
200,000 dead rows, which the tick's index scan then steps over (bench/sla.py)."""

from django.db import migrations


def tune(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(
            "ALTER TABLE sla_timer SET (autovacuum_vacuum_scale_factor = 0.01, "
            "autovacuum_analyze_scale_factor = 0.02)")


def untune(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("ALTER TABLE sla_timer RESET (autovacuum_vacuum_scale_factor, "
                              "autovacuum_analyze_scale_factor)")


class Migration(migrations.Migration):
    dependencies = [("sla", "0002_start_conditions_and_report_indexes")]
    operations = [migrations.RunPython(tune, untune)]
