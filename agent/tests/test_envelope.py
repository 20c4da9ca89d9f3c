"""Every check of AGENT.md's "Job envelope", with a key generated here."""

from __future__ import annotations

import copy
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from conftest import Signer

from itsm_agent.envelope import check_job, load_public_keys
from itsm_agent.policy import Policy
from itsm_agent.runner import JobProcessor
from itsm_agent.state import State


def check(job, state: State, signer: Signer, agent_id: str, policy: Policy | None = None,
          now: datetime | None = None):
    return check_job(job, agent_id=agent_id, keys=load_public_keys([signer.pinned]),
                     policy=policy or Policy(), state=state, now=now)


def test_a_valid_job_passes(state, signer, agent_id):
    verdict = check(signer.job(signer.envelope(agent_id)), state, signer, agent_id)
    assert verdict.run and verdict.reason == ""


def test_a_query_with_a_script_whose_hash_matches_passes(state, signer, agent_id):
    env = signer.envelope(agent_id, kind="query", action="disk_above", script="echo hi",
                          params={"percent": 90})
    assert check(signer.job(env), state, signer, agent_id).run


def test_bad_signature(state, signer, agent_id):
    job = signer.job(signer.envelope(agent_id))
    job["signature"] = signer.sign({"something": "else"})
    assert check(job, state, signer, agent_id).reason == "bad_signature"


def test_signature_that_is_not_base64(state, signer, agent_id):
    job = signer.job(signer.envelope(agent_id))
    job["signature"] = "!!not base64!!"
    assert check(job, state, signer, agent_id).reason == "bad_signature"


def test_altered_params(state, signer, agent_id):
    job = signer.job(signer.envelope(agent_id, kind="query", action="process_running",
                                     params={"name": "sshd"}))
    job["envelope"]["params"]["name"] = "evil"
    assert check(job, state, signer, agent_id).reason == "bad_signature"


def test_signed_by_another_key(state, signer, agent_id):
    other = Signer(key_id="k1")  # same key id, different key
    assert check(other.job(other.envelope(agent_id)), state, signer,
                 agent_id).reason == "bad_signature"


def test_unknown_key_id(state, signer, agent_id):
    job = signer.job(signer.envelope(agent_id))
    job["key_id"] = "k9"
    assert check(job, state, signer, agent_id).reason == "bad_signature"


def test_other_agent_id(state, signer, agent_id):
    job = signer.job(signer.envelope(str(uuid.uuid4())))
    assert check(job, state, signer, agent_id).reason == "wrong_agent"


def test_expired(state, signer, agent_id):
    past = datetime.now(UTC) - timedelta(minutes=10)
    env = signer.envelope(agent_id, not_before=past, expires_at=past + timedelta(minutes=5))
    assert check(signer.job(env), state, signer, agent_id).reason == "expired"


def test_not_yet_valid_and_the_60_second_skew(state, signer, agent_id):
    now = datetime.now(UTC).replace(microsecond=0)
    later = signer.envelope(agent_id, not_before=now + timedelta(seconds=120),
                            expires_at=now + timedelta(minutes=10))
    assert check(signer.job(later), state, signer, agent_id, now=now).reason == "not_yet_valid"
    # 50 s early is inside the skew allowance.
    soon = signer.envelope(agent_id, not_before=now + timedelta(seconds=50),
                           expires_at=now + timedelta(minutes=10))
    assert check(signer.job(soon), state, signer, agent_id, now=now).run


def test_replayed_sequence(state, signer, agent_id):
    state.raise_sequence(10)
    env = signer.envelope(agent_id, sequence=10)
    assert check(signer.job(env), state, signer, agent_id).reason == "replayed"
    env = signer.envelope(agent_id, sequence=11)
    assert check(signer.job(env), state, signer, agent_id).run


def test_wrong_hash(state, signer, agent_id):
    env = signer.envelope(agent_id, kind="query", action="disk_above", script="echo hi",
                          params={"percent": 90})
    env["script"] = "rm -rf /"
    assert check(signer.job(env), state, signer, agent_id).reason == "hash_mismatch"


def test_hash_without_script(state, signer, agent_id):
    env = signer.envelope(agent_id)
    env["script_sha256"] = "0" * 64
    assert check(signer.job(env), state, signer, agent_id).reason == "hash_mismatch"


def test_not_allowed_by_policy(state, signer, agent_id):
    env = signer.envelope(agent_id, kind="action", action="restart-service")
    assert check(signer.job(env), state, signer, agent_id).reason == "not_allowed"
    only_snapshot = Policy(allow=("snapshot",))
    env = signer.envelope(agent_id, kind="query", action="disk_above", params={"percent": 1})
    assert check(signer.job(env), state, signer, agent_id,
                 policy=only_snapshot).reason == "not_allowed"


def test_unreadable_times_are_a_bad_envelope(state, signer, agent_id):
    env = signer.envelope(agent_id)
    env["expires_at"] = "tomorrow"
    assert check(signer.job(env), state, signer, agent_id).reason == "bad_envelope"


def test_key_rotation_both_pinned_keys_verify(state, signer, agent_id):
    second = Signer(key_id="k2")
    keys = load_public_keys([signer.pinned, second.pinned])
    for s in (signer, second):
        verdict = check_job(s.job(s.envelope(agent_id, sequence=None)), agent_id=agent_id,
                            keys=keys, policy=Policy(), state=state)
        assert verdict.run


# -- through the processor: results, records and replays ------------------------------

def processor(state: State, signer: Signer, agent_id: str,
              policy: Policy | None = None) -> JobProcessor:
    keys = load_public_keys([signer.pinned])
    return JobProcessor(state, agent_id, lambda: keys, lambda: policy or Policy())


def test_refusals_become_refused_results(state, signer, agent_id):
    proc = processor(state, signer, agent_id)
    env = signer.envelope(agent_id, kind="action", action="restart-service")
    decision = proc.accept(signer.job(env))
    assert decision.envelope is None
    assert decision.result["status"] == "refused"
    assert decision.result["reason"] == "not_allowed"
    assert decision.result["execution_id"] == env["execution_id"]
    assert decision.result["type"] == "result"


def test_an_id_already_run_is_answered_from_the_record(state, signer, agent_id):
    proc = processor(state, signer, agent_id)
    env = signer.envelope(agent_id, kind="query", action="disk_above", params={"percent": 0})
    job = signer.job(env)
    accepted = proc.accept(job)
    assert accepted.envelope is not None
    first = proc.execute(accepted.envelope)
    assert first["status"] == "succeeded" and first["data"]["matched"] is True
    # The same job again (a lost ack): not run, the stored result comes back.
    again = proc.accept(copy.deepcopy(job))
    assert again.envelope is None and again.result == first
    # Even after it expired, the record answers.
    later = datetime.now(UTC) + timedelta(hours=1)
    assert proc.accept(job, now=later).result == first
    assert state.highest_sequence() == env["sequence"]


def test_a_job_interrupted_by_a_crash_is_reported_not_rerun(state, signer, agent_id):
    env = signer.envelope(agent_id)
    job = signer.job(env)
    assert processor(state, signer, agent_id).accept(job).envelope is not None
    # A new process (the agent restarted) sees the "running" record.
    decision = processor(state, signer, agent_id).accept(job)
    assert decision.envelope is None
    assert decision.result["status"] == "failed" and decision.result["reason"] == "interrupted"


def test_a_duplicate_while_running_is_ignored(state, signer, agent_id):
    proc = processor(state, signer, agent_id)
    job = signer.job(signer.envelope(agent_id))
    assert proc.accept(job).envelope is not None
    duplicate = proc.accept(job)
    assert duplicate.envelope is None and duplicate.result is None


def test_new_id_with_old_sequence_is_refused_replayed(state, signer, agent_id):
    proc = processor(state, signer, agent_id)
    first = signer.envelope(agent_id, sequence=5)
    proc.execute(proc.accept(signer.job(first)).envelope)
    replay = signer.envelope(agent_id, sequence=5)
    decision = proc.accept(signer.job(replay))
    assert decision.result["reason"] == "replayed"
    # Not recorded: the record of the id stays empty.
    assert state.record(replay["execution_id"]) is None


@pytest.mark.parametrize(("params", "reason"), [({}, "bad_params"),
                                                ({"percent": "x"}, "bad_params")])
def test_bad_params_fail_without_running(state, signer, agent_id, params, reason):
    proc = processor(state, signer, agent_id)
    env = signer.envelope(agent_id, kind="query", action="disk_above", params=params)
    result = proc.execute(proc.accept(signer.job(env)).envelope)
    assert result["status"] == "failed" and result["reason"] == reason


def test_unknown_query_allowed_by_glob_fails_cleanly(state, signer, agent_id):
    proc = processor(state, signer, agent_id)
    env = signer.envelope(agent_id, kind="query", action="no_such_query")
    result = proc.execute(proc.accept(signer.job(env)).envelope)
    assert result["status"] == "failed" and result["reason"] == "unknown_action"
