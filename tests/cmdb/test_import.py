"""CSV import: the preview plans every row (create / update / unchanged / reject and
why) without writing; cancel writes nothing; confirm writes only the valid rows, each
on its own; an export imported again changes nothing."""

import csv
import io
from decimal import Decimal
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import transaction as django_transaction
from django.urls import reverse

from audit.models import AuditAction, AuditEntry
from cmdb import imports, services
from cmdb.export import export_rows
from cmdb.models import ConfigurationItem, ImportJob, ImportStatus, Relationship
from itsm.errors import Conflict, DomainError
from tests.cmdb.factories import ci_class, rel_type
from tests.factories import TeamFactory, UserFactory

DATA = Path(__file__).parent / "data"
UPLOAD_URL = reverse("cmdb:import_upload")


@pytest.fixture(autouse=True)
def _apply_runs_at_once(monkeypatch):
    """The apply is queued on commit to a worker. A test runs inside one transaction
    that never commits, so run the queued task at once (Celery is eager in tests)."""
    monkeypatch.setattr(django_transaction, "on_commit", lambda func, *a, **k: func())


def apply_now(actor, job):
    imports.import_apply(actor=actor, job=job)
    job.refresh_from_db()
    return job


@pytest.fixture
def asset_manager(db):
    return UserFactory(username="assets", roles=["asset_manager"])


@pytest.fixture
def assets_client(client, asset_manager):
    client.force_login(asset_manager)
    return client


def upload(client, content, *, kind="cis"):
    """Post the upload form with ``content``: bytes, or a sample file from data/."""
    if isinstance(content, bytes):
        content = SimpleUploadedFile("items.csv", content, content_type="text/csv")
    return client.post(UPLOAD_URL, {"kind": kind, "file": content})


def sample(name):
    return SimpleUploadedFile(name, (DATA / name).read_bytes(), content_type="text/csv")


def preview(actor, text, kind="cis"):
    return imports.import_preview(actor=actor, kind=kind, filename="test.csv",
                                  data=text.encode())


def by_line(job):
    return {row["line"]: row for row in job.rows}


def reasons(row):
    return {reason["column"]: reason["message"] for reason in row["reasons"]}


def changes(row):
    return {c["column"]: (c["before"], c["after"]) for c in row["changes"]}


def server(actor, name, **fields):
    fields.setdefault("attributes", {"os": "RHEL 9"})
    return services.ci_create(actor=actor, name=name, ci_class=ci_class("server"), **fields)


def file_error(response):
    return response.context["form"].errors["file"][0]


# --- The preview ----------------------------------------------------------------------

def test_preview_shows_per_row_what_would_happen_and_why(assets_client, asset_manager):
    # Given db-01 already in the CMDB
    db01 = server(asset_manager, "db-01", serial_number="SN-200",
                  attributes={"os": "RHEL 9", "cpu_cores": 8})

    # When the mixed file is uploaded
    response = upload(assets_client, sample("cis_mixed.csv"))

    # Then a preview job holds one plan per row
    job = ImportJob.objects.get()
    assert response.status_code == 302
    assert response.url == reverse("cmdb:import_job", args=[job.pk])
    assert job.status == ImportStatus.PREVIEW and job.created_by == asset_manager
    rows = by_line(job)
    assert rows[2]["action"] == "create"
    assert changes(rows[2])["attr.os"] == ("", "Ubuntu 24.04")
    assert rows[3]["action"] == "update"
    assert rows[3]["target"] == {"id": db01.pk, "name": "db-01"}
    assert rows[3]["matched_by"] == "serial number SN-200"
    assert changes(rows[3])["attr.cpu_cores"] == ("8", "16")
    assert changes(rows[3])["hostname"] == ("", "db01")
    assert "status" not in changes(rows[3])  # a blank status keeps the current one

    def rejected(line, column, text):
        assert rows[line]["action"] == "reject", rows[line]
        assert text in reasons(rows[line])[column], reasons(rows[line])

    rejected(4, "attr.cpu_cores", "CPU cores: Enter a number.")  # clean_attributes' words
    rejected(5, "purchase_date", "YYYY-MM-DD")
    rejected(6, "class", "Unknown class “toaster”")
    rejected(7, "serial_number", "same serial number as line 2")
    rejected(8, "ip_address", "not an IP address")
    rejected(9, "mac_address", "not a MAC address")
    rejected(10, "owner_team", "No team is called “Nobody's Team”")
    rejected(11, "status", "Unknown status “broken”")
    rejected(12, "attr.engine", "has no attribute engine")
    assert imports.counts_of(job.rows) == {"create": 1, "update": 1, "unchanged": 0,
                                           "reject": 9}
    # ...and nothing was written to the CMDB
    assert list(ConfigurationItem.objects.values_list("name", flat=True)) == ["db-01"]
    db01.refresh_from_db()
    assert db01.attributes["cpu_cores"] == 8

    # The preview page shows the counts, the reasons and the buttons
    page = assets_client.get(response.url)
    html = page.content.decode()
    assert page.status_code == 200
    assert "Import the 2 valid rows" in html and ">Cancel<" in html
    assert "9 rejected" in html
    assert "CPU cores: Enter a number." in html
    detail = reverse("cmdb:ci_detail", args=[db01.pk])
    assert f'matches <a href="{detail}">db-01</a> (CI {db01.pk}) by serial number SN-200' in html
    assert assets_client.get(response.url + "?show=reject").context["page"].paginator.count == 9


def test_unchanged_row_and_lifecycle_checked_status(asset_manager):
    server(asset_manager, "web-01", serial_number="SN-1", status="operational")
    job = preview(asset_manager, "name,class,serial_number,status,attr.os\n"
                                 "web-01,server,SN-1,operational,RHEL 9\n"
                                 "web-01,server,sn-2,planned,RHEL 9\n")
    rows = by_line(job)
    assert rows[2]["action"] == "unchanged"
    assert rows[3]["action"] == "create"  # another serial: another server

    job = preview(asset_manager, "name,class,serial_number,status\n"
                                 "web-01,server,SN-1,planned\n")
    row = by_line(job)[2]
    assert row["action"] == "reject"
    assert "cannot move to planned" in reasons(row)["status"]
    assert "maintenance, in_stock, retired" in reasons(row)["status"]


def test_required_attribute_missing_and_bad_values_are_rejected_by_column(asset_manager):
    job = preview(asset_manager,
                  "name,class,serial_number,cost,criticality,environment,assigned_to,"
                  "warranty_end,attr.os\n"
                  "a,server,S1,12.345,9,moon,ghost,2026-02-30,\n"
                  "b,database,S2,,,,,,\n")
    first, second = by_line(job)[2], by_line(job)[3]
    assert set(reasons(first)) == {"cost", "criticality", "environment", "assigned_to",
                                   "warranty_end", "attr.os"}
    assert "not a real date" in reasons(first)["warranty_end"]
    assert reasons(second) == {"attr.engine": "Engine is required."}


# --- Cancel and confirm ---------------------------------------------------------------

def test_cancel_writes_nothing_and_the_job_cannot_be_applied_afterwards(
        assets_client, asset_manager):
    upload(assets_client, sample("cis_mixed.csv"))
    job = ImportJob.objects.get()

    response = assets_client.post(reverse("cmdb:import_cancel", args=[job.pk]))

    assert response.status_code == 302
    job.refresh_from_db()
    assert job.status == ImportStatus.CANCELLED
    assert not ConfigurationItem.objects.exists()
    response = assets_client.post(reverse("cmdb:import_apply", args=[job.pk]), follow=True)
    assert "was cancelled and nothing was written" in response.content.decode()
    assert not ConfigurationItem.objects.exists()
    assert AuditEntry.objects.filter(object_id=str(job.pk), action=AuditAction.TRANSITION,
                                     changes__status=["preview", "cancelled"]).exists()


def test_confirm_writes_only_the_valid_rows_and_audits(assets_client, asset_manager):
    db01 = server(asset_manager, "db-01", serial_number="SN-200",
                  attributes={"os": "RHEL 9", "cpu_cores": 8})
    upload(assets_client, sample("cis_mixed.csv"))
    job = ImportJob.objects.get()

    response = assets_client.post(reverse("cmdb:import_apply", args=[job.pk]), follow=True)

    assert "Import applied: 1 created, 1 updated." in response.content.decode()
    assert ConfigurationItem.objects.count() == 2
    web = ConfigurationItem.objects.get(serial_number="SN-100")
    assert web.status == "operational"
    assert web.mac_address == "00:1a:2b:3c:4d:5e"
    assert web.attributes == {"os": "Ubuntu 24.04", "cpu_cores": 8}
    assert str(web.purchase_date) == "2024-01-15"
    assert sorted(web.tags.values_list("name", flat=True)) == ["prod", "web"]
    db01.refresh_from_db()
    assert db01.attributes == {"os": "RHEL 9", "cpu_cores": 16}
    assert db01.hostname == "db01"
    job.refresh_from_db()
    assert job.status == ImportStatus.APPLIED and job.applied_at is not None
    assert job.summary["created"] == [{"line": 2, "id": web.pk, "name": "web-01"}]
    assert job.summary["updated"] == [{"line": 3, "id": db01.pk, "name": "db-01"}]
    assert job.summary["counts"] == {"created": 1, "updated": 1, "unchanged": 0,
                                     "failed": 0, "rejected": 9}
    # Audited: the job with its actor and counts, and each CI through the services.
    queued, applied = AuditEntry.objects.filter(
        object_id=str(job.pk), action=AuditAction.TRANSITION,
        content_type__model="importjob").order_by("id")
    assert queued.changes == {"status": ["preview", "applying"]}
    assert queued.actor == asset_manager and queued.source == "web"
    assert applied.actor == asset_manager and applied.source == "task"
    assert applied.changes["counts"][1]["created"] == 1
    assert AuditEntry.objects.filter(object_id=str(web.pk), action=AuditAction.CREATE,
                                     actor=asset_manager).exists()
    assert AuditEntry.objects.filter(object_id=str(db01.pk), action=AuditAction.UPDATE,
                                     actor=asset_manager).exists()

    # Applying again is refused and writes nothing.
    response = assets_client.post(reverse("cmdb:import_apply", args=[job.pk]), follow=True)
    assert "already applied" in response.content.decode()
    assert ConfigurationItem.objects.count() == 2
    with pytest.raises(Conflict):
        imports.import_apply(actor=asset_manager, job=job)


def test_a_row_that_fails_at_apply_time_is_reported_and_the_others_go_on(asset_manager):
    edited = server(asset_manager, "edited", serial_number="SN-E", location="A")
    job = preview(asset_manager, "name,class,serial_number,location,attr.os\n"
                                 "new-1,server,SN-1,Lab,RHEL 9\n"
                                 "new-2,server,SN-2,Lab,RHEL 9\n"
                                 "edited,server,SN-E,B,RHEL 9\n")
    assert [r["action"] for r in job.rows] == ["create", "create", "update"]
    # Meanwhile someone records new-1 and edits the CI line 4 updates.
    taken = server(asset_manager, "new-1 (by hand)", serial_number="sn-1")
    services.ci_update(actor=asset_manager, ci=edited, location="C")

    job = apply_now(asset_manager, job)

    assert job.summary["counts"]["created"] == 1
    failed = {f["line"]: f for f in job.summary["failed"]}
    assert set(failed) == {2, 4}
    assert f"(CI {taken.pk}) was recorded after the preview" in (
        failed[2]["reasons"][0]["message"])
    assert "edited after the preview (location is now “C”)" in (
        failed[4]["reasons"][0]["message"])
    assert ConfigurationItem.objects.filter(serial_number="SN-2").exists()
    assert ConfigurationItem.objects.filter(serial_number__iexact="sn-1").count() == 1
    edited.refresh_from_db()
    assert edited.location == "C"
    assert by_line(job)[2]["result"]["outcome"] == "failed"


def test_a_service_refusal_at_apply_time_fails_only_that_row(asset_manager, monkeypatch):
    job = preview(asset_manager, "name,class,serial_number,attr.os\n"
                                 "ok-1,server,SN-1,RHEL 9\nbad-2,server,SN-2,RHEL 9\n"
                                 "ok-3,server,SN-3,RHEL 9\n")
    real = services.ci_upsert_identified

    def refuse_bad(*, actor, values, tags=None):
        ci, created = real(actor=actor, values=values, tags=tags)  # written, then refused
        if values["name"] == "bad-2":
            raise DomainError("Refused by a rule.", fields={"serial_number": ["No."]})
        return ci, created

    monkeypatch.setattr(services, "ci_upsert_identified", refuse_bad)
    job = apply_now(asset_manager, job)

    assert sorted(ConfigurationItem.objects.values_list("name", flat=True)) == ["ok-1",
                                                                                "ok-3"]
    assert job.summary["failed"] == [{"line": 3, "label": "bad-2", "reasons": [
        {"column": "serial_number", "message": "Refused by a rule."},
    ]}]


def test_status_change_goes_through_the_lifecycle(asset_manager):
    ci = server(asset_manager, "web-01", serial_number="SN-1", status="operational")
    job = preview(asset_manager, "name,class,serial_number,status\nweb-01,server,SN-1,retired\n")
    assert changes(job.rows[0]) == {"status": ("operational", "retired")}

    job = apply_now(asset_manager, job)

    ci.refresh_from_db()
    assert ci.status == "retired"
    assert AuditEntry.objects.filter(object_id=str(ci.pk), action=AuditAction.TRANSITION,
                                     changes__status=["operational", "retired"]).exists()


# --- Export, edit, import -------------------------------------------------------------

def export_text():
    buffer = io.StringIO()
    csv.writer(buffer).writerows(export_rows(ConfigurationItem.objects.all()))
    return buffer.getvalue()


def test_an_export_imported_again_is_unchanged_and_an_edit_is_an_update(asset_manager):
    # Given an estate with every kind of field, including CIs without identifiers
    team = TeamFactory(name="Platform")
    web = server(asset_manager, "web-01", serial_number="SN-1", hostname="web01",
                 domain="corp.example", ip_address="10.0.0.1", mac_address="00:1a:2b:3c:4d:5e",
                 owner_team=team, assigned_to=asset_manager, cost=Decimal("1299.50"),
                 purchase_date="2024-01-15", warranty_end="2027-01-15",
                 description="-5 dB: looks like a formula", tags=["web", "prod"],
                 attributes={"os": "RHEL 9", "cpu_cores": 8, "hypervisor_host": True},
                 status="operational")
    services.ci_create(actor=asset_manager, name="Payroll", ci_class=ci_class(
        "business_service"), attributes={"users": 1200})
    services.ci_create(actor=asset_manager, name="Laptop", asset_tag="AT-9",
                       ci_class=ci_class("workstation"), criticality=2, environment="test",
                       attributes={"os": "Windows 11", "disk_encrypted": False})
    services.ci_create(actor=asset_manager, name="pg-main", ci_class=ci_class("database"),
                       attributes={"engine": "PostgreSQL", "size_gb": 12.5})
    exported = export_text()
    assert "'-5 dB" in exported  # escaped against spreadsheet formulas

    # When the export is imported unchanged, then every row is unchanged
    job = preview(asset_manager, exported)
    assert [row["action"] for row in job.rows] == ["unchanged"] * 4, job.rows

    # When one cell is edited, that row is an update of the same CI and nothing else
    edited = exported.replace("web01,corp.example", "web01,corp.example.org")
    job = preview(asset_manager, edited)
    actions = {row["label"]: row["action"] for row in job.rows}
    assert actions == {"web-01": "update", "Payroll": "unchanged", "Laptop": "unchanged",
                       "pg-main": "unchanged"}
    assert changes(by_line(job)[2]) == {"domain": ("corp.example", "corp.example.org")}
    job = apply_now(asset_manager, job)
    assert ConfigurationItem.objects.count() == 4
    web.refresh_from_db()
    assert web.domain == "corp.example.org"
    assert web.description == "-5 dB: looks like a formula"


def test_a_new_serial_on_a_ci_known_by_asset_tag_updates_it(asset_manager):
    laptop = services.ci_create(actor=asset_manager, name="Laptop", asset_tag="AT-9",
                                ci_class=ci_class("workstation"),
                                attributes={"os": "Windows 11"})
    job = preview(asset_manager, "name,class,serial_number,asset_tag\n"
                                 "Laptop,workstation,5CG-1,at-9\n")
    row = job.rows[0]
    assert row["action"] == "update" and row["target"]["id"] == laptop.pk
    assert row["matched_by"] == "asset tag at-9"

    job = apply_now(asset_manager, job)

    laptop.refresh_from_db()
    assert ConfigurationItem.objects.count() == 1
    assert laptop.serial_number == "5CG-1" and laptop.identity == "serial:5CG-1"


def test_rows_without_identifiers_are_matched_by_class_and_name(asset_manager):
    services.ci_create(actor=asset_manager, name="Payroll",
                       ci_class=ci_class("business_service"))
    job = preview(asset_manager, "name,class,attr.users\nPayroll,business_service,30\n"
                                 "Payroll,business_service,40\n")
    first, second = job.rows
    assert first["action"] == "update"
    assert first["matched_by"] == "class and name"
    assert second["action"] == "reject"
    assert "same class and name as line 2" in reasons(second)["name"]


# --- Relationships --------------------------------------------------------------------

@pytest.fixture
def estate(asset_manager):
    app = services.ci_create(actor=asset_manager, name="Payroll app",
                             ci_class=ci_class("application"))
    licence = services.ci_create(actor=asset_manager, name="Payroll licence",
                                 ci_class=ci_class("licence"))
    esx = server(asset_manager, "esx-01", serial_number="SN-ESX-1")
    router = services.ci_create(actor=asset_manager, name="router-01", hostname="router01",
                                domain="corp.example", ci_class=ci_class("network_device"),
                                attributes={"device_type": "router"})
    return {"app": app, "licence": licence, "esx": esx, "router": router}


def test_relationship_preview_checks_classes_self_links_and_identifiers(
        assets_client, asset_manager, estate):
    response = upload(assets_client, sample("relationships_mixed.csv"), kind="relationships")

    job = ImportJob.objects.get()
    assert response.status_code == 302
    rows = by_line(job)
    assert rows[2]["action"] == "create"
    assert rows[2]["link"]["source_id"] == estate["app"].pk
    assert rows[2]["link"]["target_id"] == estate["esx"].pk
    assert rows[3]["action"] == "reject"
    with pytest.raises(DomainError) as refusal:  # the import uses the service's words
        services.relationship_check(estate["licence"], estate["router"], rel_type("runs_on"))
    assert reasons(rows[3])["source"].startswith(refusal.value.message)
    assert "“runs on” goes from Technical service, Application" in reasons(rows[3])["source"]
    assert reasons(rows[4]) == {"target": "A configuration item cannot be related to itself."}
    assert reasons(rows[5]) == {"source": "No CI has the serial number “NOPE”."}
    assert "Unknown relationship type “flies_to”" in reasons(rows[6])["type"]
    assert "same relationship as line 2" in reasons(rows[7])["target"]
    assert not Relationship.objects.exists()

    assets_client.post(reverse("cmdb:import_apply", args=[job.pk]))

    relationship = Relationship.objects.get()
    assert (relationship.source, relationship.target) == (estate["app"], estate["esx"])
    assert relationship.type.key == "runs_on"
    job.refresh_from_db()
    assert job.summary["counts"] == {"created": 1, "updated": 0, "unchanged": 0,
                                     "failed": 0, "rejected": 5}
    # Imported again: already there.
    app_id = estate["app"].pk
    job = preview(asset_manager, f"source,type,target\n{app_id},runs_on,host:esx-01\n",
                  kind="relationships")
    assert reasons(job.rows[0]) == {"target": "No CI has the hostname “esx-01”."}
    job = preview(asset_manager, f"source,type,target\n{app_id},runs_on,name:esx-01\n",
                  kind="relationships")
    assert job.rows[0]["action"] == "unchanged"


# --- Bad files ------------------------------------------------------------------------

def test_a_file_that_is_not_utf8_gets_a_clear_error(assets_client):
    response = upload(assets_client, sample("cis_latin1.csv"))

    assert response.status_code == 400
    message = file_error(response)
    assert "not UTF-8" in message and "line 2" in message and "0xFC" in message
    assert "CSV UTF-8" in message
    assert not ImportJob.objects.exists()


def test_utf8_with_a_byte_order_mark_is_read(assets_client):
    content = "\ufeffname,class,location,attr.os\nfile-01,server,Zürich,RHEL 9\n"
    upload(assets_client, content.encode("utf-8"))
    row = ImportJob.objects.get().rows[0]
    assert row["action"] == "create"
    assert changes(row)["location"] == ("", "Zürich")


def test_missing_header_columns_are_named(assets_client):
    response = upload(assets_client, sample("cis_missing_header.csv"))

    assert response.status_code == 400
    assert file_error(response) == ("“cis_missing_header.csv”: Missing required columns: "
                                    "name, class. The header row has: hostname, "
                                    "serial_number.")
    response = upload(assets_client, b"name,class\nx,server\n", kind="relationships")
    assert "Missing required columns: source, type, target" in file_error(response)
    assert "looks like a configuration items file" in file_error(response)
    assert not ImportJob.objects.exists()


@pytest.mark.parametrize(("content", "expected"), [
    (b"\xef\xbb\xbf  \r\n", "The file is empty."),
    (b"name,class\r\n", "The file has a header row but no rows to import."),
    (b"name,class,colour\nx,server,red\n", "Unknown columns: colour."),
    (b"name,class,name\nx,server,y\n", "appear more than once in the header row: name"),
    (b"\xff\xfen\x00a\x00", "UTF-16"),
])
def test_malformed_files_get_a_clear_error(assets_client, content, expected):
    response = upload(assets_client, content)
    assert response.status_code == 400
    assert expected in file_error(response)
    assert not ImportJob.objects.exists()


def test_an_empty_upload_and_a_file_over_the_limit_are_refused(assets_client):
    response = upload(assets_client, b"")
    assert response.status_code == 400
    assert "empty" in file_error(response)
    big = b"name,class\n" + b"x" * imports.MAX_FILE_BYTES
    response = upload(assets_client, big)
    assert response.status_code == 400
    assert "the limit is 5.0 MB" in file_error(response)
    assert not ImportJob.objects.exists()


def test_a_row_with_the_wrong_number_of_cells_is_rejected_not_guessed(asset_manager):
    job = preview(asset_manager, "name,class,location,attr.os\n"
                                 "a,server,Lab, Room 2,RHEL 9\nb,server,Lab,RHEL 9,,\n")
    first, second = job.rows
    assert first["action"] == "reject"
    assert "4 columns" in reasons(first)[""]
    assert second["action"] == "create"  # trailing empty cells are tolerated


# --- Who may import -------------------------------------------------------------------

def test_only_asset_managers_and_administrators_import(client, admin_user, agent,
                                                       asset_manager):
    assert client.get(UPLOAD_URL).status_code == 302  # to sign in
    client.force_login(agent)
    assert client.get(UPLOAD_URL).status_code == 403
    assert upload(client, b"name,class\nx,server\n").status_code == 403
    client.force_login(UserFactory(roles=["change_manager"]))
    assert client.get(UPLOAD_URL).status_code == 403
    client.force_login(admin_user)
    assert client.get(UPLOAD_URL).status_code == 200
    assert not ImportJob.objects.exists()
    client.force_login(asset_manager)
    page = client.get(UPLOAD_URL)
    assert page.status_code == 200 and b"Preview the import" in page.content


def test_a_preview_belongs_to_the_person_who_uploaded_it(client, asset_manager):
    job = preview(asset_manager, "name,class,attr.os\nx,server,RHEL 9\n")
    other = UserFactory(roles=["asset_manager"])
    client.force_login(other)
    assert client.get(reverse("cmdb:import_job", args=[job.pk])).status_code == 404
    assert client.post(reverse("cmdb:import_apply", args=[job.pk])).status_code == 404
    with pytest.raises(DomainError):
        imports.import_apply(actor=other, job=job)
    assert not ConfigurationItem.objects.exists()
    job.refresh_from_db()
    assert job.status == ImportStatus.PREVIEW


def test_the_template_download_has_the_export_header(assets_client):
    response = assets_client.get(reverse("cmdb:import_template", args=["cis"]))
    assert response.status_code == 200
    header = response.content.decode("utf-8-sig").splitlines()[0].split(",")
    assert header[:2] == ["name", "class"] and "warranty_end" in header


# --- Background apply -----------------------------------------------------------------

def test_apply_is_resumable_and_a_duplicate_message_is_harmless(asset_manager, monkeypatch):
    """A worker that dies part-way leaves its rows' results saved; the sweep re-queues the
    job once its claim runs out, and the next run writes only the rest."""
    import datetime

    from django.utils import timezone

    from cmdb.tasks import apply_import

    monkeypatch.setattr(django_transaction, "on_commit", lambda func, *a, **k: None)
    monkeypatch.setattr(imports, "APPLY_SAVE_EVERY", 1)
    job = preview(asset_manager, "name,class,serial_number,attr.os\n"
                                 "a,server,SN-A,RHEL 9\nb,server,SN-B,RHEL 9\n")
    imports.import_apply(actor=asset_manager, job=job)  # queued; the message is "lost"
    job.refresh_from_db()
    assert job.status == ImportStatus.APPLYING
    real_apply_row = imports._apply_row
    calls = []

    def dies_on_second_row(planner, actor, row):
        calls.append(row["line"])
        if len(calls) == 2:
            raise SystemExit("worker killed")
        return real_apply_row(planner, actor, row)

    monkeypatch.setattr(imports, "_apply_row", dies_on_second_row)
    with pytest.raises(SystemExit):
        imports.import_run(job.pk)
    assert ConfigurationItem.objects.filter(serial_number="SN-A").exists()
    assert imports.import_run(job.pk) is None  # its claim is still live: no double run

    monkeypatch.setattr(imports, "_apply_row", real_apply_row)
    later = timezone.now() + imports.APPLY_LEASE + datetime.timedelta(seconds=1)
    sent = []
    monkeypatch.setattr(apply_import, "delay", lambda pk: sent.append(pk))
    assert imports.imports_resume_stale(now=later) == [job.pk] and sent == [job.pk]
    job.refresh_from_db()
    job.summary["claimed_until"] = (timezone.now() - datetime.timedelta(seconds=1)).isoformat()
    job.save(update_fields=["summary"])
    imports.import_run(job.pk)
    job.refresh_from_db()
    assert job.status == ImportStatus.APPLIED
    assert job.summary["counts"]["created"] == 2
    assert ConfigurationItem.objects.filter(serial_number__in=["SN-A", "SN-B"]).count() == 2


def test_the_page_shows_progress_while_a_worker_applies(assets_client, asset_manager,
                                                        monkeypatch):
    monkeypatch.setattr(django_transaction, "on_commit", lambda func, *a, **k: None)
    job = preview(asset_manager, "name,class,serial_number,attr.os\na,server,SN-A,RHEL 9\n")
    response = assets_client.post(reverse("cmdb:import_apply", args=[job.pk]), follow=True)
    html = response.content.decode()
    assert "Import started" in html and "Being imported" in html
    assert 'http-equiv="refresh"' in html and "0 of 1 rows written" in html
