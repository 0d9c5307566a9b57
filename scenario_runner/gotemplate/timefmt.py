"""Go's time layouts (``2006-01-02T15:04:05Z07:00``) and durations (``1m30s``). Pure."""

from __future__ import annotations

import datetime as _dt
import re

__all__ = ["go_duration", "go_time_format", "parse_go_duration"]

# Longest tokens first, as Go's layout scanner reads them.
_LAYOUT = re.compile(
    r"January|Jan|Monday|Mon|MST|2006|Z07:00|Z0700|Z07|-07:00|-0700|-07|"
    r"\.0+|\.9+|,0+|,9+|__2|002|_2|01|02|03|04|05|06|15|PM|pm|1|2|3|4|5"
)


def _fraction(moment: _dt.datetime, token: str) -> str:
    digits = f"{moment.microsecond:06d}000"[: len(token) - 1]
    if token[1] == "9":
        digits = digits.rstrip("0")
        return f"{token[0]}{digits}" if digits else ""
    return f"{token[0]}{digits}"


def _zone(moment: _dt.datetime, token: str) -> str:
    offset = moment.utcoffset() or _dt.timedelta(0)
    minutes = int(offset.total_seconds() // 60)
    if token.startswith("Z") and minutes == 0:
        return "Z"
    sign = "+" if minutes >= 0 else "-"
    hours, mins = divmod(abs(minutes), 60)
    if token.endswith(":00"):
        return f"{sign}{hours:02d}:{mins:02d}"
    if token.endswith("0700"):
        return f"{sign}{hours:02d}{mins:02d}"
    return f"{sign}{hours:02d}"


def go_time_format(moment: _dt.datetime, layout: str) -> str:
    """``time.Time.Format(layout)`` for the layout elements Go documents."""

    def one(match: re.Match[str]) -> str:
        token = match.group()
        hour12 = moment.hour % 12 or 12
        table = {
            "January": moment.strftime("%B"),
            "Jan": moment.strftime("%b"),
            "Monday": moment.strftime("%A"),
            "Mon": moment.strftime("%a"),
            "MST": moment.tzname() or "UTC",
            "2006": f"{moment.year:04d}",
            "06": f"{moment.year % 100:02d}",
            "01": f"{moment.month:02d}",
            "1": str(moment.month),
            "02": f"{moment.day:02d}",
            "2": str(moment.day),
            "_2": f"{moment.day:2d}",
            "002": f"{moment.timetuple().tm_yday:03d}",
            "__2": f"{moment.timetuple().tm_yday:3d}",
            "15": f"{moment.hour:02d}",
            "03": f"{hour12:02d}",
            "3": str(hour12),
            "04": f"{moment.minute:02d}",
            "4": str(moment.minute),
            "05": f"{moment.second:02d}",
            "5": str(moment.second),
            "PM": "PM" if moment.hour >= 12 else "AM",
            "pm": "pm" if moment.hour >= 12 else "am",
        }
        if token in table:
            return table[token]
        if token[0] in ".," and token[1] in "09":
            return _fraction(moment, token)
        return _zone(moment, token)

    return _LAYOUT.sub(one, layout)


_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)")
_UNIT = {
    "ns": 1e-9,
    "us": 1e-6,
    "µs": 1e-6,
    "μs": 1e-6,
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
}


def parse_go_duration(text: str) -> float | None:
    """``time.ParseDuration`` in seconds (``"1m30s"`` → 90.0); None when it is not one."""
    body = text.strip()
    sign = -1.0 if body.startswith("-") else 1.0
    body = body.lstrip("+-")
    if body == "0":
        return 0.0
    position, total = 0, 0.0
    if not body:
        return None
    for match in _DURATION_PART.finditer(body):
        if match.start() != position:
            return None
        total += float(match.group(1)) * _UNIT[match.group(2)]
        position = match.end()
    return sign * total if position == len(body) else None


def go_duration(seconds: float) -> str:
    """``time.Duration.String()``: ``1.5s``, ``30ms``, ``1m30s``, ``0s``."""
    nanos = round(seconds * 1e9)
    if nanos == 0:
        return "0s"
    sign = "-" if nanos < 0 else ""
    nanos = abs(nanos)
    if nanos < 1_000:
        return f"{sign}{nanos}ns"
    if nanos < 1_000_000:
        return f"{sign}{_trim(nanos / 1_000)}µs"
    if nanos < 1_000_000_000:
        return f"{sign}{_trim(nanos / 1_000_000)}ms"
    hours, rest = divmod(nanos, 3_600_000_000_000)
    minutes, rest = divmod(rest, 60_000_000_000)
    text = f"{_trim(rest / 1e9)}s"
    if hours:
        return f"{sign}{hours}h{minutes}m{text}"
    if minutes:
        return f"{sign}{minutes}m{text}"
    return f"{sign}{text}"


def _trim(value: float) -> str:
    return f"{value:.9f}".rstrip("0").rstrip(".")
