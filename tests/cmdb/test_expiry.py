import datetime

import pytest
from django.conf import settings
from django.core import mail

from audit.models import AuditEntry
from cmdb import expiry, licences, services
from cmdb.models import CmdbSettings, ExpiryNotice
from cmdb.tasks import send_expiry_warnings
from tests.cmdb.factories import ci_class
from tests.factories import MembershipFactory, TeamFactory, UserFactory

TODAY = datetime.date(2026, 3, 2)


def days(n: int) -> datetime.date:
    return TODAY + datetime.timedelta(days=n)


@pytest.fixture
def team(db):
    return TeamFactory(name="End-User Computing", email="euc@example.com")


@pytest.fixture
def run(db, django_capture_on_commit_callbacks):
    """One sweep on a given day, running what it queues on commit (eager Celery)."""

    def sweep(today=TODAY):
        with django_capture_on_commit_callbacks(execute=True):
            return expiry.expiry_warnings_send(today=today)

    return sweep


def laptop(serial="5CG0001", owner=None, **fields):
    return services.ci_create(actor=None, name=f"LAP-{serial}", ci_class=ci_class("workstation"),
                              serial_number=serial, owner_team=owner, status="operational",
                              attributes={"os": "Windows 11"}, **fields)


def certificate(name="www.example.com", expires_on=None, owner=None, status="operational"):
    return services.ci_create(actor=None, name=name, ci_class=ci_class("certificate"),
                              owner_team=owner, status=status,
                              attributes={"expires_on": expires_on})


def product(name="Adobe Acrobat Pro", owner=None):
    return services.ci_create(actor=None, name=name, ci_class=ci_class("software_product"),
                              owner_team=owner, status="operational")


def notices(**filters):
    return list(ExpiryNotice.objects.filter(**filters).order_by("pk")
                .values_list("kind", "due_date", "threshold_days"))


# --- Thresholds -----------------------------------------------------------------------

@pytest.mark.parametrize(("days_left", "threshold"), [
    (31, None), (30, 30), (8, 30), (7, 7), (6, 7), (2, 7), (1, 1), (0, 1), (-1, None),
])
def test_the_smallest_threshold_that_applies_is_sent(team, run, days_left, threshold):
    # Given a warranty ending days_left from today, with warnings at 30, 7 and 1 days
    laptop(owner=team, warranty_end=days(days_left))
    # When the sweep runs
    result = run()
    # Then one notice at the smallest threshold that covers it, or none
    expected = [] if threshold is None else [("warranty", days(days_left), threshold)]
    assert notices() == expected
    assert result["warranty"] == len(expected)
    assert len(mail.outbox) == len(expected)


def test_a_thing_first_seen_at_six_days_gets_only_the_seven_day_warning(team, run):
    laptop(owner=team, warranty_end=days(6))
    run()
    assert notices() == [("warranty", days(6), 7)]
    assert len(mail.outbox) == 1


def test_each_warning_is_sent_once_however_often_the_sweep_runs(team, run):
    # Given a warranty ending in 40 days
    laptop(owner=team, warranty_end=days(40))
    # When the sweep runs every day (twice a day) until and after it ends
    for day in range(0, 43):
        run(days(day))
        run(days(day))
    # Then exactly the 30-, 7- and 1-day warnings were sent, one mail each
    assert notices() == [("warranty", days(40), 30), ("warranty", days(40), 7),
                         ("warranty", days(40), 1)]
    assert len(mail.outbox) == 3
    assert [m.subject.split(":")[0] for m in mail.outbox] == [
        "Warranty ending in 30 days", "Warranty ending in 7 days", "Warranty ending tomorrow"]


def test_configured_thresholds_are_used(team, run):
    CmdbSettings.objects.update(expiry_warning_days=[60, 14])
    laptop(owner=team, warranty_end=days(50))
    run()
    assert notices() == [("warranty", days(50), 60)]


def test_a_renewed_date_starts_over(team, run):
    # Given a warranty that got its 7-day warning
    ci = laptop(owner=team, warranty_end=days(5))
    run()
    assert notices() == [("warranty", days(5), 7)]
    # When it is renewed to a date 20 days away
    services.ci_update(actor=None, ci=ci, warranty_end=days(20))
    run()
    # Then the new date gets its own warning
    assert notices()[-1] == ("warranty", days(20), 30)
    assert len(mail.outbox) == 2


def test_warranty_and_lease_are_separate_warnings(team, run):
    laptop(owner=team, warranty_end=days(3), lease_end=days(3))
    result = run()
    assert sorted(notices()) == [("lease", days(3), 7), ("warranty", days(3), 7)]
    assert result["warranty"] == result["lease"] == 1
    # One mail to the team lists both
    assert len(mail.outbox) == 1
    assert "Warranty of LAP-5CG0001" in mail.outbox[0].body
    assert "Lease of LAP-5CG0001" in mail.outbox[0].body


# --- Licences and certificates ----------------------------------------------------------

def test_licences_warn_their_owner_team_else_the_product_owner(team, run):
    other = TeamFactory(name="Application Support", email="apps@example.com")
    acrobat = product(owner=other)
    own = licences.licence_create(actor=None, product=acrobat, name="Adobe VIP 2026",
                                  entitlement_count=50, expiry_date=days(25), owner_team=team)
    inherited = licences.licence_create(actor=None, product=acrobat, name="Adobe VIP extra",
                                        entitlement_count=5, expiry_date=days(1))
    result = run()
    assert result["licence"] == 2
    assert notices(licence=own) == [("licence", days(25), 30)]
    assert notices(licence=inherited) == [("licence", days(1), 1)]
    to = {tuple(m.to): m for m in mail.outbox}
    assert "Licence Adobe VIP 2026 for Adobe Acrobat Pro" in to[("euc@example.com",)].body
    assert "Licence Adobe VIP extra" in to[("apps@example.com",)].body
    run()
    assert len(mail.outbox) == 2


def test_certificates_warn_from_their_expiry_attribute(team, run):
    certificate("www.example.com", expires_on=days(5), owner=team)
    certificate("later.example.com", expires_on=days(90), owner=team)
    result = run()
    assert result["certificate"] == 1
    assert notices(kind="certificate") == [("certificate", days(5), 7)]
    assert mail.outbox[0].subject == (
        f"Certificate ending in 5 days: www.example.com ({days(5).isoformat()})")


def test_nothing_is_sent_for_retired_or_disposed_things(team, run):
    retired = laptop("RET1", owner=team, warranty_end=days(3))
    services.ci_transition(actor=None, ci=retired, to_status="retired")
    disposed = laptop("DIS1", owner=team, warranty_end=days(3))
    services.ci_transition(actor=None, ci=disposed, to_status="retired")
    services.ci_transition(actor=None, ci=disposed, to_status="disposed")
    old_cert = certificate("old.example.com", expires_on=days(3), owner=team)
    services.ci_transition(actor=None, ci=old_cert, to_status="retired")
    gone = product("Gone Product", owner=team)
    licences.licence_create(actor=None, product=gone, name="Gone", entitlement_count=1,
                            expiry_date=days(3))
    services.ci_transition(actor=None, ci=gone, to_status="retired")
    assert run() == {"warranty": 0, "lease": 0, "licence": 0, "certificate": 0, "mails": 0,
                     "unaddressed": 0}
    assert not mail.outbox


# --- Recipients -----------------------------------------------------------------------

def test_team_without_an_address_warns_its_active_members(run):
    team = TeamFactory(name="Network Operations", email="")
    MembershipFactory(team=team, user=UserFactory(username="ann", email="ann@example.com"))
    MembershipFactory(team=team, user=UserFactory(username="bob", email="bob@example.com"))
    MembershipFactory(team=team, user=UserFactory(username="gone", email="gone@example.com",
                                                  is_active=False))
    laptop(owner=team, warranty_end=days(7))
    run()
    assert mail.outbox[0].to == ["ann@example.com", "bob@example.com"]
    assert ExpiryNotice.objects.get().recipients == ["ann@example.com", "bob@example.com"]


def test_team_without_address_or_members_warns_its_manager(run):
    team = TeamFactory(name="Database Administration", email="",
                       manager=UserFactory(username="boss", email="boss@example.com"))
    laptop(owner=team, warranty_end=days(7))
    run()
    assert mail.outbox[0].to == ["boss@example.com"]


def test_things_without_an_owner_team_go_to_the_service_desk(run):
    TeamFactory(name="Service Desk", email="desk@example.com", is_service_desk=True)
    laptop(warranty_end=days(7))
    run()
    assert mail.outbox[0].to == ["desk@example.com"]


def test_a_team_nobody_can_be_reached_at_is_retried_not_recorded(run):
    team = TeamFactory(name="Nobody", email="")
    laptop(owner=team, warranty_end=days(6))
    assert run()["unaddressed"] == 1
    assert not notices() and not mail.outbox
    # Once the team has an address, the warning that applies then is sent
    team.email = "nobody@example.com"
    team.save()
    assert run(days(1))["warranty"] == 1
    assert mail.outbox[0].to == ["nobody@example.com"]


# --- Mail, audit, batching, task ------------------------------------------------------

def test_the_mail_names_the_thing_its_end_date_and_the_threshold(team, run):
    ci = laptop("5CG0042", owner=team, warranty_end=days(6))
    run()
    message = mail.outbox[0]
    assert message.to == ["euc@example.com"]
    assert message.from_email == settings.DEFAULT_FROM_EMAIL
    assert message.subject == f"Warranty ending in 6 days: LAP-5CG0042 ({days(6).isoformat()})"
    assert (f"- Warranty of LAP-5CG0042 (Workstation / laptop, 5CG0042, CI {ci.pk}): "
            in message.body)
    assert f"ends {days(6).isoformat()}, in 6 days (7-day warning)" in message.body


def test_one_mail_per_team_lists_everything_due(team, run):
    other = TeamFactory(name="Server & Cloud", email="servers@example.com")
    laptop("A1", owner=team, warranty_end=days(2))
    laptop("A2", owner=team, warranty_end=days(20))
    laptop("B1", owner=other, warranty_end=days(1))
    result = run()
    assert result["warranty"] == 3
    by_team = {tuple(m.to): m for m in mail.outbox}
    assert len(mail.outbox) == 2 == result["mails"]
    assert by_team[("euc@example.com",)].body.count("- Warranty of") == 2
    assert "LAP-B1" in by_team[("servers@example.com",)].body


def test_a_batch_mail_lists_every_notice(team, run, monkeypatch):
    for n in range(3):
        laptop(f"D{n}", owner=team, warranty_end=days(20 + n))
    run()
    assert len(mail.outbox) == 1
    assert mail.outbox[0].subject == f"Expiry warning: 3 items end by {days(22).isoformat()}"
    assert mail.outbox[0].body.count("- Warranty of") == 3


def test_batches_cover_everything(team, run, monkeypatch):
    monkeypatch.setattr(expiry, "EXPIRY_BATCH_SIZE", 2)
    for n in range(5):
        laptop(f"E{n}", owner=team, warranty_end=days(10))
    result = run()
    assert result["warranty"] == 5
    assert result["mails"] == 3  # one per batch of two
    assert ExpiryNotice.objects.count() == 5


def test_each_notice_is_audited_on_the_thing(team, run):
    ci = laptop(owner=team, warranty_end=days(6))
    run()
    entry = AuditEntry.objects.filter(object_id=str(ci.pk), message__contains="expiry").get()
    assert entry.message == (f"Warranty ends {days(6).isoformat()} (in 6 days): 7-day expiry "
                             "warning sent to euc@example.com")


def test_a_sweep_with_nothing_to_send_costs_a_few_queries(team, run,
                                                         django_assert_max_num_queries):
    for n in range(30):
        laptop(f"Q{n}", owner=team, warranty_end=days(5), lease_end=days(200))
    run()
    # The settings, then one query per threshold and kind (3 × 4)
    with django_assert_max_num_queries(13):
        assert run()["warranty"] == 0


def test_the_task_runs_the_sweep_as_the_system(team, django_capture_on_commit_callbacks):
    ci = laptop(owner=team, warranty_end=datetime.date.today() + datetime.timedelta(days=3))
    with django_capture_on_commit_callbacks(execute=True):
        send_expiry_warnings.delay()
    assert len(mail.outbox) == 1
    entry = AuditEntry.objects.filter(object_id=str(ci.pk), message__contains="expiry").get()
    assert entry.actor_label == "system (send_expiry_warnings)"


def test_beat_runs_the_sweep_daily_at_seven_utc():
    entry = settings.CELERY_BEAT_SCHEDULE["cmdb-expiry-warnings"]
    assert entry["task"] == send_expiry_warnings.name == "cmdb.tasks.send_expiry_warnings"
    schedule = entry["schedule"]
    assert schedule.hour == {7} and schedule.minute == {0}
    assert schedule.day_of_week == set(range(7))
    assert settings.CELERY_TIMEZONE == "UTC"
