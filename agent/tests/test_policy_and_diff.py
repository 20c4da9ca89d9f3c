from __future__ import annotations

import hashlib
import json

from itsm_agent.diff import apply_diff, canonical_json, digest, is_empty, make_diff
from itsm_agent.policy import Policy, action_name, load_policy


def test_default_policy():
    policy = Policy()
    assert policy.allows("snapshot")
    assert policy.allows(action_name("query", "process_running"))
    assert not policy.allows(action_name("action", "restart-service"))


def test_policy_file_exact_glob_and_category(tmp_path):
    (tmp_path / "policy.json").write_text(json.dumps(
        {"allow": ["restart-service", "category:read-only"]}))
    policy = load_policy(tmp_path)
    assert policy.allows("restart-service")
    assert policy.allows("snapshot")  # read-only built-in
    assert policy.allows("query:disk_above")
    assert not policy.allows("query:something_new")  # not a known read-only built-in
    assert not policy.allows("reboot")
    assert policy.as_dict()["allow"] == ["restart-service", "category:read-only"]


def test_policy_glob(tmp_path):
    (tmp_path / "policy.json").write_text('{"allow": ["query:*"]}')
    policy = load_policy(tmp_path)
    assert policy.allows("query:anything")
    assert not policy.allows("snapshot")


def test_broken_policy_allows_nothing(tmp_path):
    (tmp_path / "policy.json").write_text('{"allow": "snapshot"}')
    policy = load_policy(tmp_path)
    assert policy.allow == () and "malformed" in policy.error
    assert not policy.allows("snapshot")
    (tmp_path / "policy.json").write_text("not json")
    assert not load_policy(tmp_path).allows("snapshot")


def test_canonical_json_is_the_contract_form():
    obj = {"b": 1, "a": {"é": [1, 2]}, "c": "x"}
    assert canonical_json(obj) == '{"a":{"é":[1,2]},"b":1,"c":"x"}'.encode()
    assert digest(obj) == hashlib.sha256(canonical_json(obj)).hexdigest()
    assert digest({"c": "x", "a": {"é": [1, 2]}, "b": 1}) == digest(obj)


def test_diff_and_apply_round_trip():
    base = {"hostname": "a", "disks": [{"mount": "/", "used_percent": 10}], "old": 1,
            "software": [{"name": "x", "version": "1"}]}
    new = {"hostname": "a", "disks": [{"used_percent": 12, "mount": "/"}],
           "software": [{"version": "1", "name": "x"}], "sessions": []}
    diff = make_diff(base, new)
    assert diff == {"set": {"disks": [{"used_percent": 12, "mount": "/"}], "sessions": []},
                    "unset": ["old"]}
    assert apply_diff(base, diff) == new
    assert digest(apply_diff(base, diff)) == digest(new)
    assert is_empty(make_diff(new, json.loads(json.dumps(new))))
