from django.db import migrations


def create_function(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        from tickets.numbering import PG_FUNCTION

        with schema_editor.connection.cursor() as cursor:  # no parameters: % is literal
            cursor.execute(PG_FUNCTION)


def drop_function(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("DROP FUNCTION IF EXISTS itsm_ticket_number(text)")


class Migration(migrations.Migration):
    """PostgreSQL numbers tickets with a sequence per prefix (tickets/numbering.py)."""

    dependencies = [("tickets", "0001_initial")]

    operations = [migrations.RunPython(create_function, drop_function)]
