"""``itsm-agent enroll | run | status``.

Exit codes: 0 fine; 1 ``status`` says not enrolled or revoked; 2 enrolment or
configuration error; 3 ``run`` stopped because the server refused the token."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
from collections.abc import Sequence
from typing import Any

from . import __version__, inventory
from . import log as agent_log
from .channel import EXIT_REVOKED, AgentService, http_request, http_url
from .config import Config, ConfigError, load_config
from .state import State

log = logging.getLogger("itsm_agent.cli")

EXIT_OK, EXIT_NOT_ENROLLED, EXIT_ERROR = 0, 1, 2

ENROL_ERRORS = {
    "bad_request": "The server found the enrolment request malformed",
    "secret_invalid": "The enrolment secret is not valid: check that it was copied whole "
                      "(it is shown once, when it is created in the desk)",
    "secret_expired": "The enrolment secret has expired: ask for a new one in the desk",
    "secret_exhausted": "The enrolment secret has reached its use limit: ask for a new one "
                        "or a higher limit in the desk",
    "secret_revoked": "The enrolment secret was revoked: ask for a new one in the desk",
    "rate_limited": "The server is limiting enrolments right now: try again in a minute",
}


def _parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config-dir", help="directory of agent.toml and policy.json "
                        "(default /etc/itsm-agent, or $ITSM_AGENT_CONFIG_DIR)")
    common.add_argument("--state-dir", help="directory of the agent's identity and records "
                        "(default /var/lib/itsm-agent, or $ITSM_AGENT_STATE_DIR)")
    parser = argparse.ArgumentParser(prog="itsm-agent", description="ITSM endpoint agent")
    parser.add_argument("--version", action="version", version=f"itsm-agent {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    enroll = sub.add_parser("enroll", parents=[common],
                            help="exchange an enrolment secret for this agent's identity")
    enroll.add_argument("--server", help="the server's base URL, e.g. https://itsm.example.org")
    enroll.add_argument("--secret", required=True, help="the enrolment secret from the desk")
    sub.add_parser("run", parents=[common], help="run the agent service (foreground)")
    status = sub.add_parser("status", parents=[common], help="show the enrolment and state")
    status.add_argument("--json", action="store_true", help="print JSON")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        config = load_config(args.config_dir, args.state_dir)
    except ConfigError as exc:
        agent_log.setup("INFO")
        log.error("configuration error: %s", exc)
        return EXIT_ERROR
    agent_log.setup(config.log_level)
    state = State(config.state_dir)
    if args.command == "enroll":
        return enroll(config, state, args.server or config.server, args.secret)
    if args.command == "run":
        return run(config, state)
    return status(config, state, as_json=args.json)


def enroll(config: Config, state: State, server: str, secret: str) -> int:
    server = (server or "").rstrip("/")
    if not server.startswith(("http://", "https://")):
        log.error("give the server's base URL with --server (http:// or https://)")
        return EXIT_ERROR
    facts = inventory.facts()
    try:
        status_code, payload = http_request("POST", http_url(server, "/enroll"),
                                            body={"secret": secret, "facts": facts})
    except OSError as exc:
        log.error("cannot reach the server at %s: %s", server, exc)
        return EXIT_ERROR
    if status_code != 201 or not isinstance(payload, dict):
        code = payload.get("code", "") if isinstance(payload, dict) else ""
        detail = payload.get("message", "") if isinstance(payload, dict) else ""
        text = ENROL_ERRORS.get(code, f"Enrolment failed (HTTP {status_code})")
        log.error("%s.%s", text, f" Server said: {detail}" if detail else "")
        return EXIT_ERROR
    try:
        agent_id, token = str(payload["agent_id"]), str(payload["token"])
        keys = [{"key_id": str(k["key_id"]), "public_key": str(k["public_key"])}
                for k in payload["signing_keys"]]
    except (KeyError, TypeError) as exc:
        log.error("the server's enrolment answer is incomplete (%s)", exc)
        return EXIT_ERROR
    if not keys:
        log.error("the server sent no job-signing key to pin: nothing could ever run")
        return EXIT_ERROR
    try:
        state.save_enrolment(server=server, agent_id=agent_id, token=token, signing_keys=keys,
                             heartbeat_seconds=int(payload.get("heartbeat_seconds") or 60),
                             inventory_seconds=int(payload.get("inventory_seconds") or 3600),
                             reenrolled=bool(payload.get("reenrolled")))
    except OSError as exc:
        log.error("cannot write the state directory %s: %s", state.path, exc)
        return EXIT_ERROR
    again = " (this machine was known: same agent id, new token)" if payload.get(
        "reenrolled") else ""
    print(f"Enrolled as agent {agent_id} with {server}{again}. "
          f"Pinned signing keys: {', '.join(k['key_id'] for k in keys)}.")
    return EXIT_OK


def run(config: Config, state: State) -> int:
    if not state.enrolled:
        log.error("not enrolled (state directory %s): run `itsm-agent enroll` first",
                  state.path)
        return EXIT_ERROR
    if state.revoked:
        log.error("this agent's token was refused by the server (revoked at %s): enrol "
                  "again with `itsm-agent enroll`", state.status().get("revoked_at"))
        return EXIT_REVOKED
    try:
        service = AgentService(config, state)
    except (RuntimeError, ValueError) as exc:
        log.error("cannot start: %s", exc)
        return EXIT_ERROR
    return asyncio.run(service.run())


def status(config: Config, state: State, as_json: bool = False) -> int:
    identity = state.identity()
    info: dict[str, Any] = {
        "enrolled": state.enrolled,
        "state_dir": str(state.path),
        "config_dir": str(config.config_dir),
        "server": (config.server or (identity or {}).get("server") or None),
        "agent_id": (identity or {}).get("agent_id"),
        "enrolled_at": (identity or {}).get("enrolled_at"),
        "signing_keys": [k.get("key_id") for k in (identity or {}).get("signing_keys", [])],
        "last_contact": None, "last_inventory_sent": None, "revoked": False,
        "last_sequence": state.highest_sequence(),
        "pending_results": state.pending_count(),
    }
    stored = state.status()
    for key in ("last_contact", "last_inventory_sent", "revoked", "revoked_at"):
        if key in stored:
            info[key] = stored[key]
    if as_json:
        print(json.dumps(info, indent=2))
    else:
        width = max(len(k) for k in info)
        for key, value in info.items():
            shown = "-" if value is None or value == [] else value
            if isinstance(shown, list):
                shown = ", ".join(map(str, shown))
            print(f"{key.replace('_', ' '):<{width}}  {shown}")
    return EXIT_OK if info["enrolled"] and not info["revoked"] else EXIT_NOT_ENROLLED


if __name__ == "__main__":
    sys.exit(main())
