"""The configuration file ``agent.toml`` in the config directory.

Directories are chosen in this order: command-line option, environment variable
(``ITSM_AGENT_CONFIG_DIR``, ``ITSM_AGENT_STATE_DIR``), the file (``state_dir`` only),
the default (``/etc/itsm-agent``, ``/var/lib/itsm-agent``)."""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from pathlib import Path

from .remedies import DEFAULT_CLEARABLE_ROOTS

DEFAULT_CONFIG_DIR = "/etc/itsm-agent"
DEFAULT_STATE_DIR = "/var/lib/itsm-agent"
CONFIG_FILE = "agent.toml"

# key → accepted types
_KEYS: dict[str, tuple[type, ...]] = {
    "server": (str,),
    "state_dir": (str,),
    "heartbeat_seconds": (int,),
    "inventory_seconds": (int,),
    "log_level": (str,),
    "prefer_longpoll": (bool,),
    "reconnect_jitter": (int, float),
    "clearable_roots": (list,),
}
_LEVELS = {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}


class ConfigError(Exception):
    """The configuration file cannot be used; the message names the key."""


@dataclass
class Config:
    config_dir: Path
    state_dir: Path
    server: str = ""
    # None: use what the server said at enrolment.
    heartbeat_seconds: int | None = None
    inventory_seconds: int | None = None
    log_level: str = "INFO"
    prefer_longpoll: bool = False
    reconnect_jitter: float = 10.0
    # Folders the clear_directory built-in may empty (it refuses anything outside).
    clearable_roots: tuple[str, ...] = DEFAULT_CLEARABLE_ROOTS

    @property
    def config_file(self) -> Path:
        return self.config_dir / CONFIG_FILE


def load_config(config_dir: str | os.PathLike[str] | None = None,
                state_dir: str | os.PathLike[str] | None = None,
                environ: dict[str, str] | None = None) -> Config:
    env = environ if environ is not None else os.environ
    cdir = Path(config_dir or env.get("ITSM_AGENT_CONFIG_DIR") or DEFAULT_CONFIG_DIR)
    values = _read_file(cdir / CONFIG_FILE)
    sdir = Path(state_dir or env.get("ITSM_AGENT_STATE_DIR") or values.pop("state_dir", None)
                or DEFAULT_STATE_DIR)
    values.pop("state_dir", None)
    config = Config(config_dir=cdir, state_dir=sdir, **values)
    config.server = config.server.rstrip("/")
    return config


def _read_file(path: Path) -> dict[str, object]:
    try:
        with path.open("rb") as fh:
            data = tomllib.load(fh)
    except FileNotFoundError:
        return {}
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path}: {exc}") from exc
    values: dict[str, object] = {}
    for key, value in data.items():
        if key not in _KEYS:
            raise ConfigError(f"{path}: unknown key {key!r} "
                              f"(known: {', '.join(sorted(_KEYS))})")
        types = _KEYS[key]
        # bool is an int in Python: do not accept `true` for a number of seconds.
        if not isinstance(value, types) or (isinstance(value, bool) and bool not in types):
            raise ConfigError(f"{path}: {key} must be {' or '.join(t.__name__ for t in types)}")
        values[key] = value
    for key in ("heartbeat_seconds", "inventory_seconds"):
        if key in values and int(values[key]) < 5:  # type: ignore[call-overload]
            raise ConfigError(f"{path}: {key} must be at least 5")
    if "reconnect_jitter" in values:
        if float(values["reconnect_jitter"]) < 0:  # type: ignore[arg-type]
            raise ConfigError(f"{path}: reconnect_jitter must not be negative")
        values["reconnect_jitter"] = float(values["reconnect_jitter"])  # type: ignore[arg-type]
    if "clearable_roots" in values:
        roots = values["clearable_roots"]
        assert isinstance(roots, list)
        if not all(isinstance(r, str) and os.path.isabs(r) and r.rstrip("/\\")
                   for r in roots):
            raise ConfigError(f"{path}: clearable_roots must be a list of absolute paths "
                              "(and not the filesystem root)")
        values["clearable_roots"] = tuple(roots)
    if "log_level" in values:
        level = str(values["log_level"]).upper()
        if level not in _LEVELS:
            raise ConfigError(f"{path}: log_level must be one of {', '.join(sorted(_LEVELS))}")
        values["log_level"] = level
    return values
