"""Jobs: the pending jobs' index keyed on "not finished" instead of the state, the
agent's own index dropped (the unique (agent, sequence) serves), and on PostgreSQL a
third of each page left free, so a job's moves from queued to sent to running are HOT
updates in place (a wave marks 10,000 jobs sent in one statement)."""

import django.db.models.deletion
from django.db import migrations, models


def set_fillfactor(apps, schema_editor) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("ALTER TABLE fleet_job SET (fillfactor = 70)")


def reset_fillfactor(apps, schema_editor) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("ALTER TABLE fleet_job RESET (fillfactor)")


class Migration(migrations.Migration):

    dependencies = [
        ('fleet', '0003_agent_fillfactor'),
    ]

    operations = [
        migrations.RunPython(set_fillfactor, reset_fillfactor),
        migrations.RemoveIndex(
            model_name='job',
            name='job_agent_seq_idx',
        ),
        migrations.RemoveIndex(
            model_name='job',
            name='job_pending_idx',
        ),
        migrations.AlterField(
            model_name='job',
            name='agent',
            field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='jobs', to='fleet.agent'),
        ),
        migrations.AddIndex(
            model_name='job',
            index=models.Index(condition=models.Q(('finished_at__isnull', True)), fields=['agent', 'created_at'], name='job_unfinished_idx'),
        ),
    ]
