"""Human units as damo writes and reads them: "5 ms", "200.000 MiB", "1,000", "max", "5 %".

damo accepts, for every numeric field, a JSON number, a string with thousands commas, the word
"max" (2**64 - 1), sizes with binary suffixes (B, K/KB/KiB, M/MB/MiB, ... all powers of 1024),
times with ns/us/ms/s/m/h/d (multi-part forms such as "1 m 21.097 s" included) and percentages.
A bare number is taken in the unit the key names (``sz_bytes`` -> bytes, ``time_ms`` -> ms).
(Facts from damo's _damo_fmt_str helpers, summarised in [WF 2.2].)

This module sits below every layer of damon_gym and imports nothing from it.
"""

from __future__ import annotations

import math
import re

from damon_gym.errors import DamonGymError

U64_MAX = 2**64 - 1

_SIZE_UNITS = {
    "b": 1,
    "k": 1 << 10, "kb": 1 << 10, "kib": 1 << 10,
    "m": 1 << 20, "mb": 1 << 20, "mib": 1 << 20,
    "g": 1 << 30, "gb": 1 << 30, "gib": 1 << 30,
    "t": 1 << 40, "tb": 1 << 40, "tib": 1 << 40,
    "p": 1 << 50, "pb": 1 << 50, "pib": 1 << 50,
    "e": 1 << 60, "eb": 1 << 60, "eib": 1 << 60,
}
# time units in nanoseconds
_TIME_UNITS_NS = {
    "ns": 1, "us": 1_000, "ms": 1_000_000, "s": 1_000_000_000,
    "m": 60_000_000_000, "min": 60_000_000_000, "h": 3_600_000_000_000,
    "d": 86_400_000_000_000,
}
_NOMINAL_NS = {"ns": 1, "us": 1_000, "ms": 1_000_000, "s": 1_000_000_000}

_NUM = r"[-+]?(?:\d[\d,]*)?(?:\.\d+)?"


class UnitError(DamonGymError):
    """A value that cannot be read in the unit its field needs."""


def _err(field: str, value: object, allowed: str) -> UnitError:
    return UnitError(f"{field}: cannot read {value!r}; expected {allowed}")


def _number(text: str) -> float:
    return float(text.replace(",", ""))


def parse_int(value: object, field: str = "value", *, allow_max: bool = True) -> int:
    """An integer from 12, "1,000", "12.0" or "max" (2**64-1)."""
    if isinstance(value, bool):
        raise _err(field, value, "an integer")
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        if value.is_integer():
            return int(value)
        raise _err(field, value, "an integer")
    if isinstance(value, str):
        s = value.strip()
        if allow_max and s.lower() == "max":
            return U64_MAX
        if s.lower() == "min":
            return 0
        if re.fullmatch(_NUM, s) and s:
            f = _number(s)
            if f.is_integer():
                return int(s.replace(",", "").split(".")[0]) if "." not in s else int(f)
        raise _err(field, value, 'an integer such as 1000, "1,000" or "max"')
    raise _err(field, value, "an integer")


def parse_size(value: object, field: str = "size") -> int:
    """Bytes from 4096, "4,096", "4 KiB", "200MB" (binary, as damo reads it) or "max"."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if value < 0 or (isinstance(value, float) and not value.is_integer()):
            raise _err(field, value, "a non-negative whole number of bytes")
        return int(value)
    if isinstance(value, str):
        s = value.strip()
        if s.lower() == "max":
            return U64_MAX
        if s.lower() == "min":
            return 0
        m = re.fullmatch(rf"({_NUM})\s*([A-Za-z]*)", s)
        if m and m.group(1) not in ("", "+", "-"):
            unit = m.group(2).lower() or "b"
            if unit in _SIZE_UNITS:
                n = _number(m.group(1)) * _SIZE_UNITS[unit]
                if n < 0:
                    raise _err(field, value, "a non-negative size")
                return int(round(n))
    raise _err(field, value, 'a size such as 4096, "4 KiB", "200 MiB" or "max"')


def parse_time(value: object, field: str = "time", unit: str = "us") -> int:
    """A duration in ``unit`` (ns, us, ms or s) from a bare number (taken in ``unit``),
    "5 ms", "1 m 21.097 s" or "max". Fractions of ``unit`` are rounded to the nearest."""
    if unit not in _NOMINAL_NS:
        raise ValueError(f"unit must be one of {sorted(_NOMINAL_NS)}")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if value < 0:
            raise _err(field, value, "a non-negative duration")
        return int(round(value))
    if isinstance(value, str):
        s = value.strip()
        if s.lower() == "max":
            return U64_MAX
        if re.fullmatch(_NUM, s) and s:
            return parse_time(_number(s), field, unit)
        parts = re.findall(rf"({_NUM})\s*([A-Za-z]+)", s)
        rebuilt = "".join(f"{a}{b}" for a, b in parts)
        if parts and rebuilt == re.sub(r"\s+", "", s):
            total_ns = 0.0
            for num, u in parts:
                u = u.lower()
                if u not in _TIME_UNITS_NS:
                    raise _err(field, value, "a time with unit ns, us, ms, s, m, h or d")
                total_ns += _number(num) * _TIME_UNITS_NS[u]
            if total_ns < 0:
                raise _err(field, value, "a non-negative duration")
            return int(round(total_ns / _NOMINAL_NS[unit]))
    raise _err(field, value, 'a duration such as 5000, "5 ms", "1 s" or "max"')


def parse_seconds(value: object, field: str = "duration", max_s: float | None = None) -> int:
    """Microseconds from a duration given in seconds when bare (20, 2.5, "20") or as a time
    string ("20 s", "500 ms", see :func:`parse_time`); a bare number must be more than 0 and,
    with ``max_s``, at most ``max_s``."""
    if isinstance(value, (int, float)) or (
            isinstance(value, str) and value.strip().replace(".", "", 1).isdigit()):
        secs = float(value)
        if not 0 < secs <= (math.inf if max_s is None else max_s):
            bound = "" if max_s is None else f" and at most {max_s:g} s"
            raise _err(field, value, f"a number of seconds more than 0{bound}")
        return int(round(secs * 1_000_000))
    return parse_time(value, field, unit="us")


def parse_percent(value: object, field: str = "percent") -> float:
    """A percentage from 5, 5.0, "5 %", "5%" or "max" (returned as float; "max" -> 2**64-1)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        s = value.strip()
        if s.lower() == "max":
            return float(U64_MAX)
        m = re.fullmatch(rf"({_NUM})\s*%?", s)
        if m and m.group(1) not in ("", "+", "-"):
            return _number(m.group(1))
    raise _err(field, value, 'a percentage such as 5, "5 %" or "max"')


def format_int(n: int) -> str:
    """Thousands commas, "max" for 2**64-1 (damo's style)."""
    return "max" if n == U64_MAX else f"{n:,}"


def format_size(n: int) -> str:
    """An exact size string damo reads back to the same byte count: "200 MiB", "4,097 B"."""
    if n == U64_MAX:
        return "max"
    for name, mult in (("EiB", 1 << 60), ("PiB", 1 << 50), ("TiB", 1 << 40),
                       ("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= mult and n % mult == 0:
            return f"{n // mult:,} {name}"
    return f"{n:,} B"


def format_time_us(us: int) -> str:
    """An exact duration string from microseconds: "5 ms", "1 s", "0 ns", "1,500 us"."""
    if us == U64_MAX:
        return "max"
    if us == 0:
        return "0 ns"
    for name, mult in (("s", 1_000_000), ("ms", 1_000)):
        if us % mult == 0:
            return f"{us // mult:,} {name}"
    return f"{us:,} us"
