"""Checks of a space's settings shared by the API's serializers and the models' clean() (the admin)."""

import ipaddress
import re
from urllib.parse import urlsplit

LLM_BASE_URL_INVALID = "Enter a valid http(s) URL with a host"

_HOST_LABEL = re.compile(r"(?!-)[\w-]{1,63}(?<!-)\Z")  # \w: IDN letters and Docker's underscores too


def is_llm_base_url(value: str) -> bool:
    """An http(s) URL with a host: a name with or without dots (`http://ollama:11434/v1`, a Docker or
    Kubernetes service name; Django's URLValidator wants a dot or `localhost`), an IPv4 address or a
    bracketed IPv6 one, an optional port."""
    try:
        url = urlsplit(value)
        url.port  # noqa: B018 (raises ValueError for a port that is not a number in 0-65535)
    except ValueError:
        return False
    return url.scheme in ("http", "https") and _is_host(url.hostname or "") and not re.search(r"\s", value)


def _is_host(name: str) -> bool:
    if ":" in name or all(label.isdigit() for label in name.split(".")):  # an IPv6 or IPv4 address
        try:
            ipaddress.ip_address(name)
        except ValueError:
            return False
        return True
    name = name.removesuffix(".")  # a fully qualified name may end with its root
    return len(name) <= 253 and all(_HOST_LABEL.match(label) for label in name.split("."))
