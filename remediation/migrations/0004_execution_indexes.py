"""Executions: one index by (run, wave) instead of two holding the state, no separate
run index, and on PostgreSQL a fifth of each page left free, so the state changes of a
wave (thousands of rows at once, three times per execution) are HOT updates in place."""

import django.db.models.deletion
from django.db import migrations, models


def set_fillfactor(apps, schema_editor) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("ALTER TABLE remediation_execution SET (fillfactor = 80)")


def reset_fillfactor(apps, schema_editor) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("ALTER TABLE remediation_execution RESET (fillfactor)")


class Migration(migrations.Migration):

    dependencies = [
        ('cmdb', '0005_saved_views_to_desk'),
        ('fleet', '0003_agent_fillfactor'),
        ('remediation', '0003_run_as_default'),
    ]

    operations = [
        migrations.RunPython(set_fillfactor, reset_fillfactor),
        migrations.RemoveIndex(
            model_name='execution',
            name='execution_wave_idx',
        ),
        migrations.RemoveIndex(
            model_name='execution',
            name='execution_state_idx',
        ),
        migrations.AlterField(
            model_name='execution',
            name='run',
            field=models.ForeignKey(db_index=False,
                                    on_delete=django.db.models.deletion.CASCADE,
                                    related_name='executions', to='remediation.run'),
        ),
        migrations.AddIndex(
            model_name='execution',
            index=models.Index(fields=['run', 'wave'], name='execution_run_wave_idx'),
        ),
    ]
