"""Value types and error formatting shared by the damo format readers and writers.

Every numeric field of damo's documents accepts a JSON number, a comma string ("1,000"),
"max", and a human unit ("5 ms", "200 MiB", "4 %"); a bare number is in the unit the key
names. These annotated types apply damon_gym.units to one field each; the error they raise
names what is allowed, and :func:`problems_of` turns a pydantic error into one line per
problem naming the JSON path ("kdamonds[0].contexts[0].schemes[0].quotas.sz_bytes").
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Annotated, Any

from pydantic import BeforeValidator, ValidationError

from damon_gym.errors import DamonGymError
from damon_gym.units import (
    U64_MAX,
    UnitError,
    format_int,
    parse_int,
    parse_percent,
    parse_size,
    parse_time,
)


class DamoFormatError(DamonGymError):
    """A damo document that cannot be read; ``problems`` holds one line per problem."""

    def __init__(self, problems: list[str]):
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


def _allowed(err: UnitError) -> str:
    """The "expected ..." part of a UnitError (the field name is added by the path)."""
    text = str(err)
    return text.split("; ", 1)[1] if "; " in text else text


def _wrap(fn: Callable[[Any], Any]) -> Callable[[Any], Any]:
    def inner(value: Any) -> Any:
        try:
            return fn(value)
        except UnitError as e:
            raise ValueError(_allowed(e)) from None
    return inner


def _clamp(n: int) -> int:
    return U64_MAX if n >= U64_MAX else n


def _whole(value: float, unit: str) -> int:
    r = round(value)
    if abs(value - r) > 1e-6 * max(1.0, abs(value)):
        raise ValueError(f"expected a whole number of {unit} (got {value:g} {unit})")
    return int(r)


def _ratio(value: Any, scale: int, unit: str) -> int:
    """permil / bp fields: a bare number is in ``unit``; "N %" is converted."""
    if isinstance(value, str) and value.strip().endswith("%"):
        p = parse_percent(value)
        if p >= U64_MAX:
            return U64_MAX
        return _whole(p * scale / 100, unit)
    if isinstance(value, str) and value.strip().lower() == "max":
        return U64_MAX
    try:
        return parse_int(value, unit)
    except UnitError:
        pass
    if isinstance(value, (int, float, str)) and not isinstance(value, bool):
        try:
            f = float(str(value).replace(",", ""))
        except ValueError:
            raise ValueError(f'expected {unit} as a number or a percentage such as "0.1 %"') from None
        return _whole(f, unit)
    raise ValueError(f'expected {unit} as a number or a percentage such as "0.1 %"')


def _opt_int(value: Any) -> int | None:
    return None if value is None else parse_int(value, "value")


def _size(value: Any, field: str = "size") -> int:
    """Bytes, exact for big integers: comma strings are read as integers, not floats."""
    try:
        n = parse_int(value, field)
    except UnitError:
        return _clamp(parse_size(value, field))
    if n < 0:
        raise UnitError(f"{field}: cannot read {value!r}; expected a non-negative size")
    return _clamp(n)


Size = Annotated[int, BeforeValidator(_wrap(_size))]
Int = Annotated[int, BeforeValidator(_wrap(lambda v: parse_int(v, "value")))]
OptInt = Annotated[int | None, BeforeValidator(_wrap(_opt_int))]
TimeUs = Annotated[int, BeforeValidator(_wrap(lambda v: _clamp(parse_time(v, "time", "us"))))]
TimeMs = Annotated[int, BeforeValidator(_wrap(lambda v: _clamp(parse_time(v, "time", "ms"))))]
Permil = Annotated[int, BeforeValidator(_wrap(lambda v: _ratio(v, 1000, "permil")))]
Bp = Annotated[int, BeforeValidator(_wrap(lambda v: _ratio(v, 10000, "bp")))]


def to_bp(value: Any) -> int:
    """A basis-point value: 9970, "9,970" or "99.7 %"."""
    return _wrap(lambda v: _ratio(v, 10000, "bp"))(value)


def to_time_us(value: Any) -> int:
    return _wrap(lambda v: _clamp(parse_time(v, "time", "us")))(value)


def to_int(value: Any) -> int:
    return _wrap(lambda v: parse_int(v, "value"))(value)


# ---------------------------------------------------------------- value parsers

def _pair(value: Any, parse: Any, what: str) -> tuple[int, int]:
    if isinstance(value, Mapping):
        if "start" not in value or "end" not in value:
            raise ValueError(f"expected {what} as {{start, end}}")
        value = (value["start"], value["end"])
    if isinstance(value, (list, tuple)) and len(value) == 2:
        try:
            return parse(value[0], "value"), parse(value[1], "value")
        except UnitError as e:
            raise ValueError(str(e).split("; ", 1)[-1]) from None
    raise ValueError(f"expected {what} as {{start, end}} or a [start, end] pair")


def _range(value: Any) -> tuple[int, int]:
    return _pair(value, _size, "an address range")


def opt_range(value: Any) -> tuple[int, int] | None:
    return None if value is None else _range(value)


def opt_size_pair(value: Any) -> tuple[int, int] | None:
    if value is None:
        return None
    if isinstance(value, Mapping):
        value = (value.get("min"), value.get("max"))
    return _pair(value, _size, "a [min, max] size pair")


def regions_list(value: Any) -> list[tuple[int, int]]:
    if not isinstance(value, list):
        raise ValueError("expected a list of {start, end} regions")
    out, bad = [], []
    for i, v in enumerate(value):
        try:
            out.append(_range(v))
        except ValueError as e:
            bad.append(f"@[{i}]: got {_short(v)}; {e}")
    if bad:
        raise ValueError("\n".join(bad))
    return out


def dest_pair(value: Any) -> tuple[int, int]:
    if isinstance(value, Mapping):
        if "id" not in value or "weight" not in value:
            raise ValueError("expected a destination as {id, weight}")
        value = (value["id"], value["weight"])
    if isinstance(value, (list, tuple)) and len(value) == 2:
        return to_int(value[0]), to_int(value[1])
    raise ValueError("expected a destination as {id, weight}")


def _num(p: float) -> int | float:
    if p < 0:
        raise UnitError(f"percent: cannot read {p!r}; expected a non-negative percentage")
    if p >= U64_MAX:
        return U64_MAX
    return int(p) if float(p).is_integer() else p


def nr_accesses_bound(value: Any) -> tuple[str, int | float]:
    """("percent", 5) from 5, "5 %", "max"; ("samples", 3) from "3 samples"."""
    allowed = 'expected a non-negative percentage such as "5 %" or "max", or "N samples"'
    unit = "percent"
    if isinstance(value, (list, tuple)) and len(value) == 2 and value[0] in ("percent", "samples"):
        unit, value = value
    elif isinstance(value, str) and value.strip().endswith("samples"):
        unit, value = "samples", value.strip()[: -len("samples")].strip()
    try:
        if unit == "samples":
            n = parse_int(value, "samples")
            if n >= 0:
                return "samples", n
            raise ValueError(allowed)
        return "percent", _num(parse_percent(value))
    except UnitError:
        raise ValueError(allowed) from None


def age_bound(value: Any) -> tuple[str, int]:
    """("us", 5000000) from "5 s" or 5000000; ("aggr_intervals", 5) from "5 aggr_intervals"."""
    allowed = 'expected a time such as "5 s" or "max", or "N aggr_intervals"'
    if isinstance(value, (list, tuple)) and len(value) == 2 and value[0] in ("us", "aggr_intervals"):
        unit, value = value
        return unit, (to_int(value) if unit == "aggr_intervals" else to_time_us(value))
    if isinstance(value, str) and value.strip().endswith("aggr_intervals"):
        try:
            return "aggr_intervals", parse_int(value.strip()[: -len("aggr_intervals")].strip())
        except UnitError:
            raise ValueError(allowed) from None
    try:
        return "us", to_time_us(value)
    except ValueError:
        raise ValueError(allowed) from None


# ---------------------------------------------------------------- formatting (damo's human form)

def fmt_decimal(numer: int, denom: int) -> str:
    """numer/denom as an exact decimal string with thousands commas ("0.1", "99.7", "4")."""
    whole, rest = divmod(numer, denom)
    if rest == 0:
        return f"{whole:,}"
    digits = len(str(denom)) - 1
    frac = str(rest * 10**digits // denom).rjust(digits, "0").rstrip("0")
    return f"{whole:,}.{frac}"


def fmt_percent_of(value: int, per: int) -> str:
    """A permil (per=1000) or bp (per=10000) value as damo's percent string: 1 permil ->
    "0.1 %", 400 bp -> "4 %"; "max" stays "max" so that damo reads it back exactly."""
    if value >= U64_MAX:
        return "max"
    return f"{fmt_decimal(value, per // 100)} %"


def fmt_percent(p: float) -> str:
    """A percentage exactly: "5 %", "0.5 %"; the 2**64-1 sentinel as "max"."""
    if p >= U64_MAX:
        return "max"
    if float(p).is_integer():
        return f"{int(p):,} %"
    return f"{p!r} %"


def fmt_int(n: int) -> str:
    return format_int(n)


# ---------------------------------------------------------------- error paths

def json_path(loc: tuple[Any, ...], root: str = "") -> str:
    out = root
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif str(part).startswith(("function-", "tagged-union")):
            continue
        else:
            out += f".{part}" if out else str(part)
    return out or "(document)"


def problems_of(err: ValidationError, root: str = "") -> list[str]:
    """One line per problem: ``path: got VALUE; what is allowed``.

    Model validators report problems under a sub-path by starting a message line with
    ``@sub.path: ``; such lines are attached to the model's path and carry no value.
    """
    lines: list[str] = []
    for e in err.errors(include_url=False):
        path = json_path(tuple(e["loc"]), root)
        msg = str(e["msg"])
        if msg.startswith("Value error, "):
            msg = msg[len("Value error, "):]
        if msg.startswith("@"):
            for line in msg.splitlines():
                sub, _, text = line[1:].partition(": ")
                if not sub:
                    full = path
                elif path == "(document)":
                    full = sub
                elif sub.startswith("["):
                    full = path + sub
                else:
                    full = f"{path}.{sub}"
                lines.append(f"{full}: {text}")
            continue
        kind = e["type"]
        if kind == "missing":
            lines.append(f"{path}: missing (required)")
        elif kind == "literal_error":
            lines.append(f"{path}: got {e['input']!r}; expected one of {e['ctx']['expected']}")
        elif kind == "extra_forbidden":
            lines.append(f"{path}: unknown key")
        else:
            lines.append(f"{path}: got {_short(e['input'])}; {msg}")
    return lines


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."
