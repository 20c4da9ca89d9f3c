"""The CI list's saved views move to the desk's one saved-views model (list "cmdb.ci"),
which every desk list shares; the CMDB's own model goes."""

from django.db import migrations

LIST_KEY = "cmdb.ci"


def _free_name(taken: set, owner_id: int, name: str) -> str:
    """Names are unique per person and list whatever their case; the old model only
    cared about exact case, so a clash gets a number."""
    candidate, number = name, 2
    while (owner_id, candidate.lower()) in taken:
        suffix = f" ({number})"
        candidate, number = name[:100 - len(suffix)] + suffix, number + 1
    taken.add((owner_id, candidate.lower()))
    return candidate


def copy_to_desk(apps, schema_editor):
    old_model = apps.get_model("cmdb", "SavedView")
    new_model = apps.get_model("desk", "SavedView")
    taken = {(owner_id, name.lower()) for owner_id, name in
             new_model.objects.filter(list_key=LIST_KEY).values_list("owner_id", "name")}
    for old in old_model.objects.order_by("id"):
        new = new_model.objects.create(
            list_key=LIST_KEY, owner_id=old.owner_id, query=old.query, shared=old.shared,
            name=_free_name(taken, old.owner_id, old.name))
        # auto_now_add stamped it now: keep when it was really saved
        new_model.objects.filter(pk=new.pk).update(created_at=old.created_at)


def copy_back(apps, schema_editor):
    old_model = apps.get_model("cmdb", "SavedView")
    new_model = apps.get_model("desk", "SavedView")
    rows = new_model.objects.filter(list_key=LIST_KEY).order_by("id")
    for new in rows:
        old = old_model.objects.create(owner_id=new.owner_id, name=new.name, query=new.query,
                                       shared=new.shared)
        old_model.objects.filter(pk=old.pk).update(created_at=new.created_at)
    rows.delete()


class Migration(migrations.Migration):

    dependencies = [
        ("cmdb", "0004_relationship_covering_indexes"),
        ("desk", "0001_initial"),
    ]

    operations = [
        migrations.RunPython(copy_to_desk, copy_back),
        migrations.DeleteModel(name="SavedView"),
    ]
