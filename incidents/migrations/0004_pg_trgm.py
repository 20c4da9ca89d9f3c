"""Trigram similarity for duplicate suggestions on PostgreSQL (a trusted extension since
PostgreSQL 13, so the database owner may create it). Other databases use the TF-IDF
fallback and need nothing."""

from django.db import migrations


def create_extension(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")


class Migration(migrations.Migration):
    dependencies = [("incidents", "0003_major_incidents")]
    operations = [migrations.RunPython(create_extension, migrations.RunPython.noop)]
