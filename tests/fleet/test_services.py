"""The fleet's services: enrolment (and re-enrolment without a duplicate), refusals,
signed jobs, results taken in batches (a repeated result is the same result), revocation."""

import datetime
import uuid

import pytest
from django.utils import timezone

from cmdb.models import ConfigurationItem
from fleet import services, signing
from fleet.models import Agent, EnrolmentSecret, Job, SigningKey
from itsm.errors import DomainError, NotPermitted
from tests.factories import UserFactory

from .conftest import FACTS


def test_enrolling_creates_the_device_and_an_agent_with_a_hashed_token(enrolled):
    agent = enrolled.agent
    assert not enrolled.reenrolled and enrolled.token.startswith("itsm_agt_")
    assert agent.token_hash != enrolled.token and enrolled.token not in agent.token_hash
    device = agent.device
    assert (device.name, device.ci_class.key, device.serial_number) == (
        "lap-0042", "workstation", "PF3XYZ42")
    assert services.agents_for_tokens([enrolled.token]) == {enrolled.token: agent}
    assert EnrolmentSecret.objects.get().uses == 1


def test_the_same_machine_enrolling_again_is_found_not_duplicated(enrolled, secret):
    again = services.agent_enrol(secret=secret, facts={**FACTS, "hostname": "LAP-0042"})
    assert again.reenrolled and again.agent.pk == enrolled.agent.pk
    assert ConfigurationItem.objects.filter(serial_number="PF3XYZ42").count() == 1
    # the old token no longer works
    assert services.agents_for_tokens([enrolled.token]) == {}
    assert services.agents_for_tokens([again.token])[again.token].pk == enrolled.agent.pk


@pytest.mark.parametrize(("change", "code"), [
    ({"revoked_at": timezone.now()}, "secret_revoked"),
    ({"expires_at": timezone.now() - datetime.timedelta(seconds=1)}, "secret_expired"),
    ({"uses": 5}, "secret_exhausted"),
])
def test_a_secret_that_cannot_be_used_is_refused_with_its_reason(secret, signing_key,
                                                                  change, code):
    EnrolmentSecret.objects.update(**change)
    with pytest.raises(services.EnrolmentRefused) as refused:
        services.agent_enrol(secret=secret, facts=dict(FACTS))
    assert refused.value.code == code
    assert not Agent.objects.exists()


@pytest.mark.parametrize(("secret_value", "facts", "code"), [
    ("itsm_enr_wrong", FACTS, "secret_invalid"),
    ("nonsense", FACTS, "secret_invalid"),
    (None, FACTS, "secret_invalid"),
    ("__good__", {**FACTS, "hostname": ""}, "bad_request"),
    ("__good__", {**FACTS, "mac_addresses": "aa"}, "bad_request"),
    ("__good__", {**FACTS, "os_name": ""}, "bad_request"),
    ("__good__", [], "bad_request"),
])
def test_bad_enrolment_input_is_refused(secret, signing_key, secret_value, facts, code):
    value = secret if secret_value == "__good__" else secret_value
    with pytest.raises(services.EnrolmentRefused) as refused:
        services.agent_enrol(secret=value, facts=facts)
    assert refused.value.code == code


def test_only_fleet_managers_make_secrets(group):
    agent = UserFactory(username="desk1", roles=["service_desk_agent"])
    with pytest.raises(NotPermitted):
        services.enrolment_secret_create(actor=agent, group=group, name="x",
                                         expires_at=timezone.now() + datetime.timedelta(1))
    with pytest.raises(DomainError) as error:
        services.enrolment_secret_create(actor=UserFactory(roles=["administrator"]),
                                         group=group, name="x", expires_at=timezone.now())
    assert "expires_at" in error.value.fields


def test_jobs_are_signed_with_the_current_key_and_numbered(enrolled):
    first, = services.jobs_create(agents=[enrolled.agent], kind="snapshot", action="snapshot")
    second, = services.jobs_create(agents=[enrolled.agent], kind="snapshot", action="snapshot")
    key = SigningKey.objects.get()
    assert first.key_id == key.key_id
    assert signing.verify(first.envelope, first.signature, key.public_key)
    tampered = {**first.envelope, "params": {"x": 1}}
    assert not signing.verify(tampered, first.signature, key.public_key)
    assert (first.sequence, second.sequence) == (1, 2)
    assert first.envelope["agent_id"] == str(enrolled.agent.pk)
    pending = services.jobs_pending([enrolled.agent.pk])[enrolled.agent.pk]
    assert [job.pk for job in pending] == [first.pk, second.pk]


def test_a_missing_key_file_says_how_to_make_one(enrolled, settings, tmp_path):
    settings.FLEET_SIGNING_KEY_FILE = str(tmp_path / "none.pem")
    with pytest.raises(signing.SigningKeyMissing, match="fleet_keygen"):
        services.jobs_create(agents=[enrolled.agent], kind="snapshot", action="snapshot")
    assert not Job.objects.exists()


def test_results_are_stored_once_and_acknowledged_again(enrolled):
    job, = services.jobs_create(agents=[enrolled.agent], kind="snapshot", action="snapshot")
    result = {"execution_id": str(job.pk), "status": "succeeded", "data": {
        "processes": [{"pid": 1, "name": "systemd"}], "services": [], "sessions": []}}
    assert services.results_record([(enrolled.agent.pk, result)]) == [str(job.pk)]
    job.refresh_from_db()
    assert job.state == "done" and job.result["data"]["processes"][0]["name"] == "systemd"
    assert enrolled.agent.inventory.snapshot["processes"][0]["pid"] == 1
    # the same result again (a lost ack): acknowledged, nothing changes
    other = {**result, "status": "failed"}
    assert services.results_record([(enrolled.agent.pk, other)]) == [str(job.pk)]
    job.refresh_from_db()
    assert job.state == "done"
    # another agent's result for this job is ignored
    assert services.results_record([("00000000-0000-0000-0000-000000000000", result)]) == []


def test_revoking_an_agent_ends_its_token_and_pending_jobs(enrolled, fleet_manager):
    job, = services.jobs_create(agents=[enrolled.agent], kind="snapshot", action="snapshot")
    services.agent_revoke(actor=fleet_manager, agent=enrolled.agent)
    assert services.agents_for_tokens([enrolled.token]) == {}
    job.refresh_from_db()
    assert job.state == "expired"
    with pytest.raises(DomainError):
        services.agent_revoke(actor=fleet_manager, agent=enrolled.agent)


def _second_agent(secret):
    return services.agent_enrol(secret=secret, facts={
        **FACTS, "hostname": "lap-0043", "serial_number": "PF3XYZ43",
        "mac_addresses": ["aa:bb:cc:dd:ee:43"]}).agent


def test_a_dispatch_reserves_each_agents_next_numbers_in_bulk(enrolled, secret):
    # Given two agents, one listed twice (sequences reserved by UPDATE … RETURNING)
    other = _second_agent(secret)
    Agent.objects.filter(pk=other.pk).update(last_sequence=41)
    # When one dispatch sends them three jobs
    jobs = services.jobs_create(agents=[enrolled.agent, other, enrolled.agent],
                                kind="snapshot", action="snapshot")
    # Then each agent's numbers follow its last one, in the order given
    assert [job.sequence for job in jobs] == [1, 42, 2]
    assert dict(Agent.objects.values_list("hostname", "last_sequence")) == {
        "lap-0042": 2, "lap-0043": 42}
    # and what is stored is what was returned and signed
    key = SigningKey.objects.get()
    for job in jobs:
        stored = Job.objects.get(pk=job.pk)
        assert (stored.envelope, stored.signature, stored.sequence, stored.state) == (
            job.envelope, job.signature, job.sequence, "queued")
        assert stored.envelope["sequence"] == job.sequence
        assert signing.verify(stored.envelope, stored.signature, key.public_key)
        assert stored.sent_at is None and stored.result == {}
    pending = services.jobs_pending([enrolled.agent.pk])[enrolled.agent.pk]
    assert [job.sequence for job in pending] == [1, 2]


def test_a_dispatch_to_an_unknown_agent_writes_nothing(enrolled):
    with pytest.raises(Agent.DoesNotExist):
        services.jobs_create(agents=[enrolled.agent, Agent(pk=uuid.uuid4())],
                             kind="snapshot", action="snapshot")
    assert not Job.objects.exists()


def test_a_batch_of_results_stores_each_its_own_outcome(enrolled, secret):
    # Given jobs of two agents, sent
    other = _second_agent(secret)
    ok, refused, gone = services.jobs_create(agents=[enrolled.agent, other, other],
                                             kind="snapshot", action="snapshot")
    services.jobs_mark_sent([ok.pk, refused.pk])
    assert Job.objects.get(pk=ok.pk).state == "sent"
    # When one batch brings a success, a refusal (with quotes and accents) and a failure
    recorded = services.results_record([
        (enrolled.agent.pk, {"execution_id": str(ok.pk), "status": "succeeded",
                             "exit_code": 0, "stdout": "a \"quoted\" {line}", "data": {}}),
        (other.pk, {"execution_id": str(refused.pk), "status": "refused",
                    "reason": "bad_signature: é, {x}", "data": {}}),
        (other.pk, {"execution_id": str(gone.pk), "status": "what?", "exit_code": 3})])
    # Then each job holds its own state, reason and result
    assert sorted(recorded) == sorted(str(job.pk) for job in (ok, refused, gone))
    rows = {job.pk: job for job in Job.objects.all()}
    assert (rows[ok.pk].state, rows[ok.pk].result["stdout"]) == ("done",
                                                                 'a "quoted" {line}')
    assert (rows[refused.pk].state, rows[refused.pk].refusal_reason) == (
        "refused", "bad_signature: é, {x}")
    assert (rows[gone.pk].state, rows[gone.pk].result["exit_code"]) == ("failed", 3)
    assert len({job.finished_at for job in rows.values()}) == 1
    assert rows[ok.pk].finished_at is not None and rows[ok.pk].sent_at is not None
