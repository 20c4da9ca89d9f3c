"""The forward schedule as an RFC 5545 iCalendar file, written with the standard library:
one VEVENT per change and per window occurrence, times in UTC, text escaped, lines folded
at 75 octets and ended with CRLF."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from urllib.parse import urljoin, urlsplit

from .schedule import ScheduleEntry

PRODID = "-//ITSM//Forward schedule of change//EN"
LINE_OCTETS = 75


def escape(text: str) -> str:
    """TEXT value escaping (RFC 5545 3.3.11): backslash, semicolon, comma, newline."""
    return (text.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,")
            .replace("\r\n", "\\n").replace("\r", "\\n").replace("\n", "\\n"))


def fold(line: str) -> str:
    """Split a content line into chunks of at most 75 octets, continued with CRLF and a
    space, never inside a UTF-8 character."""
    data = line.encode("utf-8")
    if len(data) <= LINE_OCTETS:
        return line
    parts: list[str] = []
    limit = LINE_OCTETS
    while data:
        cut = min(limit, len(data))
        while cut < len(data) and (data[cut] & 0xC0) == 0x80:  # a continuation byte
            cut -= 1
        parts.append(data[:cut].decode("utf-8"))
        data = data[cut:]
        limit = LINE_OCTETS - 1  # the leading space of a continuation counts
    return "\r\n ".join(parts)


def _stamp(instant: dt.datetime) -> str:
    return instant.astimezone(dt.UTC).strftime("%Y%m%dT%H%M%SZ")


def _description(entry: ScheduleEntry) -> str:
    lines = []
    if entry.kind == "change":
        facts = [entry.state_label, entry.type_label]
        if entry.risk_label:
            facts.append(entry.risk_label + " risk")
        if entry.team:
            facts.append(entry.team)
        lines.append(" · ".join(fact for fact in facts if fact))
        if entry.conflict:
            lines.append("Has conflicts.")
    elif entry.ci_name:
        lines.append(entry.ci_name)
    if entry.description:
        lines.append(entry.description)
    return "\n".join(lines)


def calendar_ics(entries: Iterable[ScheduleEntry], *, base_url: str = "",
                 name: str = "Forward schedule of change",
                 now: dt.datetime | None = None) -> str:
    """The iCalendar text. ``base_url`` (``https://itsm.example.org/``) makes the events'
    links absolute and names the UID domain, so the UIDs stay the same between exports."""
    now = now or dt.datetime.now(dt.UTC)
    domain = urlsplit(base_url).hostname or "itsm.invalid"
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", f"PRODID:{PRODID}", "CALSCALE:GREGORIAN",
             "METHOD:PUBLISH", f"X-WR-CALNAME:{escape(name)}"]
    for entry in entries:
        lines += ["BEGIN:VEVENT", f"UID:{entry.uid}@{domain}", f"DTSTAMP:{_stamp(now)}",
                  f"DTSTART:{_stamp(entry.start)}", f"DTEND:{_stamp(entry.end)}",
                  f"SUMMARY:{escape(entry.title)}"]
        description = _description(entry)
        if description:
            lines.append(f"DESCRIPTION:{escape(description)}")
        if entry.url:
            lines.append(f"URL:{urljoin(base_url, entry.url) if base_url else entry.url}")
        if entry.categories:
            lines.append("CATEGORIES:" + ",".join(escape(c) for c in entry.categories))
        # Windows are background: they do not make anyone busy.
        lines.append("TRANSP:OPAQUE" if entry.kind == "change" else "TRANSP:TRANSPARENT")
        lines.append("END:VEVENT")
    lines.append("END:VCALENDAR")
    return "".join(fold(line) + "\r\n" for line in lines)
