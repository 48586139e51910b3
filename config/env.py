"""Settings read from the environment, checked as they are read. A value that is not what the variable takes
stops the process with one line naming the variable and what it takes (SystemExit, exit status 1), not a
traceback from deep inside settings, gunicorn's config or a request. No Django imports: gunicorn.conf.py and
config.run use it too."""

import math
import os
import re


def _refuse(name: str, raw: str, takes: str):
    raise SystemExit(f"Environment variable {name}={raw!r}: expected {takes}.")


def env_int(name: str, default: int, *, minimum: int = 1, maximum: int | None = None) -> int:
    return _env_number(name, default, int, "a whole number", minimum=minimum, maximum=maximum)


def env_float(name: str, default: float, *, minimum: float, maximum: float | None = None) -> float:
    return _env_number(name, default, float, "a number", minimum=minimum, maximum=maximum)


def _env_number(name: str, default, parse, kind: str, *, minimum, maximum):
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    takes = f"{kind} from {minimum}" + (f" to {maximum}" if maximum is not None else " up")
    try:
        value = parse(raw)
    except ValueError:
        _refuse(name, raw, takes)
    if not math.isfinite(value) or value < minimum or (maximum is not None and value > maximum):
        _refuse(name, raw, takes)
    return value


_TRUE, _FALSE = {"1", "true", "yes", "on"}, {"0", "false", "no", "off"}


def env_bool(name: str, default: bool) -> bool:
    """A yes or no; a word neither (`DEBUG=ture`) is refused rather than taken for no."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    if raw.lower() not in _TRUE | _FALSE:
        _refuse(name, raw, "one of " + ", ".join(sorted(_TRUE)) + " or " + ", ".join(sorted(_FALSE)))
    return raw.lower() in _TRUE


def env_choice(name: str, default: str, *, valid, takes: str) -> str:
    """A string that `valid(value)` accepts; `takes` says which, for the message."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    if not valid(raw):
        _refuse(name, raw, takes)
    return raw


# What DRF's SimpleRateThrottle.parse_rate takes; anything else made every authenticated request a 500.
_RATE = re.compile(r"[1-9][0-9]*/[smhd][a-z]*")


def env_rate(name: str) -> str | None:
    raw = os.environ.get(name, "").strip()
    if raw and not _RATE.fullmatch(raw):
        _refuse(name, raw, "requests per period, such as 600/minute (periods: second, minute, hour, day)")
    return raw or None


_HOST_NAME = re.compile(r"(?!-)[\w-]{1,63}(?<!-)(\.(?!-)[\w-]{1,63}(?<!-))*\.?")


def env_hosts(name: str) -> list[str]:
    """Comma-separated host names, IP addresses or networks (`10.0.0.0/8`, `[::1]`), or `*`; empty when unset."""
    import ipaddress

    raw = os.environ.get(name, "")
    entries = [entry.strip() for entry in raw.split(",") if entry.strip()]
    for entry in entries:
        if entry == "*" or _HOST_NAME.fullmatch(entry):
            continue
        try:
            ipaddress.ip_network(entry.strip("[]"), strict=False)
        except ValueError:
            _refuse(name, raw, "comma-separated host names, IP addresses or networks (10.0.0.0/8), or *")
    return entries
