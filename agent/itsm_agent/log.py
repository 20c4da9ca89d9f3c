"""Logging to stderr. Under systemd (``INVOCATION_ID`` is set) lines carry a syslog
priority prefix and no timestamp: journald adds its own and maps ``<N>`` to a level."""

from __future__ import annotations

import logging
import os
import sys
from typing import TextIO

# logging level → syslog priority (journald reads the "<N>" prefix).
_PRIORITIES = {logging.DEBUG: 7, logging.INFO: 6, logging.WARNING: 4,
               logging.ERROR: 3, logging.CRITICAL: 2}


class JournalFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        priority = _PRIORITIES.get(record.levelno, 6)
        text = super().format(record)
        # One entry per line in the journal: prefix each line so multi-line text
        # (tracebacks) keeps its priority.
        return "\n".join(f"<{priority}>{line}" for line in text.splitlines() or [""])


def under_systemd(environ: dict[str, str] | None = None) -> bool:
    return bool((environ if environ is not None else os.environ).get("INVOCATION_ID"))


def setup(level: str = "INFO", stream: TextIO | None = None,
          environ: dict[str, str] | None = None) -> None:
    """Configure the ``itsm_agent`` logger tree once (idempotent)."""
    handler = logging.StreamHandler(stream or sys.stderr)
    if under_systemd(environ):
        handler.setFormatter(JournalFormatter("%(name)s: %(message)s"))
    else:
        handler.setFormatter(logging.Formatter(
            "%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger("itsm_agent")
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(getattr(logging, str(level).upper(), logging.INFO))
    root.propagate = False
