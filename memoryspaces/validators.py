"""Checks of a space's settings shared by the API's serializers and the models' clean() (the admin)."""

import inspect
import ipaddress
import os
import re
import socket
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


# --- where a space's LLM calls may go ----------------------------------------------------------------------
# A tenant's llmBaseUrl makes the service send HTTP requests there, from inside the operator's network: to its
# own database or Redis on loopback, to private hosts, to the cloud's metadata address. By default only hosts
# whose addresses are all public are allowed, and the operator's own LLM endpoint (`_operators_endpoint`); the
# operator opens more with LLM_ALLOWED_HOSTS (names, addresses, networks; `*` for any host). A name is checked
# by the addresses a call connects to (mem0_compat/llm_http.py).

LLM_HOST_REFUSED = ("LLM calls may not go to {host}: {it} a loopback, private, link-local or other non-public "
                    "address, which the operator has not allowed in LLM_ALLOWED_HOSTS")
_LOOPBACK = ipaddress.ip_address("127.0.0.1")


def _allowed_hosts() -> tuple[bool, set[str], list]:
    """LLM_ALLOWED_HOSTS as (any host, names, networks); config.env checked its entries at start."""
    from django.conf import settings

    names, networks = set(), []
    for entry in settings.LLM_ALLOWED_HOSTS:
        try:
            networks.append(ipaddress.ip_network(entry.strip("[]"), strict=False))
        except ValueError:
            names.add(_normal_name(entry))
    return "*" in names, names, networks


def _normal_name(host: str) -> str:
    return host.lower().removesuffix(".")


def _numeric_address(host: str):
    """The address `host` spells, as the resolver reads it (`0x7f.1` is 127.0.0.1), else None."""
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    try:
        return ipaddress.ip_address(socket.inet_aton(host))
    except (OSError, UnicodeEncodeError, ValueError):
        return None


# IPv6 networks that carry an IPv4 address in their last 32 bits: NAT64's well-known prefix (RFC 6052), the
# deprecated IPv4-compatible addresses (RFC 4291; Linux's sit0 tunnels them to the IPv4 address) and SIIT's
# IPv4-translated ones (RFC 2765). NAT64's local-use prefix (RFC 8215) and the deprecated site-local network
# (RFC 3879) are a network's own, never public. Python counts all of them as global.
_CARRYING_IPV4 = tuple(map(ipaddress.ip_network, ("64:ff9b::/96", "::/96", "::ffff:0:0:0/96")))
_UNSPECIFIED_AND_LOOPBACK_V6 = ipaddress.ip_network("::/127")  # in ::/96, yet not IPv4's 0.0.0.0 and 0.0.0.1
_NOT_PUBLIC_V6 = tuple(map(ipaddress.ip_network, ("64:ff9b:1::/48", "fec0::/10")))


def _ipv4_reached(address):
    """The IPv4 address an IPv6 `address` reaches (IPv4-mapped, 6to4, `_CARRYING_IPV4`), else None."""
    if address.version != 6:
        return None
    if address not in _UNSPECIFIED_AND_LOOPBACK_V6 and any(address in network for network in _CARRYING_IPV4):
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return address.ipv4_mapped or address.sixtofour


def _address_allowed(address, networks: list) -> bool:
    if any(address.version == network.version and address in network for network in networks):
        return True
    if reached := _ipv4_reached(address):
        return _address_allowed(reached, networks)
    return address.is_global and not address.is_multicast and not any(address in net for net in _NOT_PUBLIC_V6)


def _is_operators_endpoint(host: str, port: int) -> bool:
    """The host and port of the operator's own endpoint (`_operators_endpoint`), whatever its address (not its
    other ports: `http://` for an `https://` operator is its port 80)."""
    url = _operators_endpoint()
    if not url:
        return False
    try:
        return _host_and_port(url) == (host, port)
    except ValueError:
        return False


def _operators_endpoint() -> str | None:
    """LLM_BASE_URL, else the default endpoint of LLM_MODEL's provider (`ollama/llama3` alone: Ollama's)."""
    from django.conf import settings

    return settings.LLM_BASE_URL or (settings.LLM_MODEL and llm_call_endpoint(settings.LLM_MODEL, None))


def _host_and_port(url: str) -> tuple[str, int]:
    """The host and the port a call to `url` connects to (the scheme's default when it names none)."""
    parts = urlsplit(url.strip())
    return _normal_name(parts.hostname or ""), parts.port or (443 if parts.scheme.lower() == "https" else 80)


class LlmHostRefused(Exception):
    """LLM calls may not go to this host (the message says why)."""


def llm_host_refusal(url: str, *, provider: str | None = None) -> str | None:
    """Why a space's LLM calls may not go to `url` (an `is_llm_base_url`), as far as the URL itself tells: its
    host is an address, or a name of loopback (`localhost`). None when they may, or when only the addresses
    its name resolves to will tell (`llm_connect_addresses`, where the call connects), unless mem0's `provider`
    makes the call through a library of its own, which connects past that check (`_CHECKED_WHEN_CONNECTING`)."""
    host, port = _host_and_port(url)
    try:
        allowed = _allowed_addresses(host, port, resolve=False)
    except LlmHostRefused as refused:
        return str(refused)
    if allowed is not None or provider is None or provider in _CHECKED_WHEN_CONNECTING:
        return None
    return (f"{provider} calls {host} through its own client library, which resolves the name itself when it "
            "connects, so its addresses cannot be checked (a name server may answer a public address to a check "
            "and an internal one to the connection). Name an IP address, have the operator allow the host in "
            f"LLM_ALLOWED_HOSTS, or call the server's OpenAI-compatible endpoint with the model named without "
            f"the '{provider}/' prefix")


def llm_connect_addresses(host: str, port: int) -> list[str]:
    """The addresses a call to `host`:`port` may connect to, resolved now (no later answer of a name server
    counts): `host` itself when LLM_ALLOWED_HOSTS or the operator's endpoint allow it by name. LlmHostRefused
    when any address is not allowed; OSError (UnicodeError) when the name does not resolve."""
    return _allowed_addresses(_normal_name(host), port, resolve=True)


def _allowed_addresses(host: str, port: int, *, resolve: bool) -> list[str] | None:
    """`llm_connect_addresses`; without `resolve`, None for a name only its addresses will tell about."""
    any_host, names, networks = _allowed_hosts()
    if any_host or host in names or _is_operators_endpoint(host, port):
        return [host]
    address = _numeric_address(host)
    if address is not None or host == "localhost" or host.endswith(".localhost"):
        # RFC 6761: a localhost name is always loopback, whatever a resolver says
        if not _address_allowed(address or _LOOPBACK, networks):
            raise LlmHostRefused(LLM_HOST_REFUSED.format(host=host, it="it is"))
        if address is not None:
            return [str(address)]
    if not resolve:
        return None
    found = [sockaddr[0] for *_, sockaddr in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)]
    if not all(_address_allowed(ipaddress.ip_address(each.split("%", 1)[0]), networks) for each in found):
        raise LlmHostRefused(LLM_HOST_REFUSED.format(host=host, it="its name resolves to"))
    return found


# mem0's providers that take a base URL and call it with an openai.OpenAI client, which mem0_compat/extraction.py
# replaces by one connecting through llm_http (where a name's addresses are checked). The others (ollama's and
# anthropic's libraries) resolve the name themselves when connecting, past any check made before: a name server
# may answer a public address to the check and 127.0.0.1 to the connection.
_CHECKED_WHEN_CONNECTING = frozenset({"deepseek", "lmstudio", "minimax", "vllm", "xai"})


# --- where a model's calls go ----------------------------------------------------------------------------
# A space's llmModelName `provider/model` names one of mem0's providers. Some take a base URL; some default to
# a server of their own on localhost (ollama, vllm, lmstudio): named without one, their calls would reach the
# service's own loopback.

def split_provider(model: str) -> tuple[str | None, str]:
    """("anthropic", "claude-3-5-haiku") for "anthropic/claude-3-5-haiku"; (None, model) for plain names.

    Only mem0's known providers count as a prefix, so names such as "meta-llama/Llama-3-8B" served by an
    OpenAI-compatible endpoint stay whole. "openai/<model>" takes the OpenAI path.
    """
    from mem0.utils.factory import LlmFactory

    prefix, _, rest = model.partition("/")
    if not rest or prefix not in LlmFactory.provider_to_class:
        return None, model
    if prefix == "openai":
        return None, rest
    return prefix, rest


def base_url_option(provider: str) -> str | None:
    """The option of mem0's `provider` config that names its endpoint (`vllm_base_url`), None if it takes none
    (groq, gemini, sarvam, ...: their library calls the provider's own API)."""
    from mem0.utils.factory import LlmFactory

    option = f"{provider}_base_url"
    return option if option in inspect.signature(LlmFactory.provider_to_class[provider][1]).parameters else None


def llm_call_endpoint(model: str, base_url: str | None) -> str | None:
    """The URL a call for `model` named with `base_url` goes to: `base_url` if its provider takes one, else
    the provider's default when that is a server's (mem0's lmstudio and vllm configs name it; Ollama's
    client library has its own). None: the provider's library calls its public API."""
    provider, _ = split_provider(model)
    if provider is None:
        return base_url  # the OpenAI client: OPENAI_BASE_URL or api.openai.com without one
    option = base_url_option(provider)
    if option and base_url:
        return base_url
    if provider == "ollama":
        return _ollama_default()
    if option:
        from mem0.utils.factory import LlmFactory

        return getattr(LlmFactory.provider_to_class[provider][1](), option)
    return None


def _ollama_default() -> str:
    """Where the ollama client connects when mem0 names no host: OLLAMA_HOST, else 127.0.0.1:11434."""
    host = os.environ.get("OLLAMA_HOST", "").strip() or "127.0.0.1:11434"
    return host if "://" in host else f"http://{host}"


def llm_setting_refusal(model: str | None, base_url: str | None) -> str | None:
    """Why a space may not be set to `model` with `base_url` (create, PATCH, /configure, the admin): where its
    calls would go (`llm_model_refusal`), or a `base_url` that would never be used, with a mem0 provider that
    takes none (groq, gemini, sarvam, ...: its library calls the provider's own API), rather than stored and
    silently ignored. (Only when set: a space stored so before keeps working, its URL unused.)"""
    provider, _ = split_provider(model or "")
    if not (base_url and provider) or base_url_option(provider) is not None:
        return llm_model_refusal(model, base_url)
    return (f"{provider} takes no base URL: its library calls {provider}'s own API, so llmBaseUrl would never be "
            "used. Remove it, or name the model without the provider prefix to call an OpenAI-compatible "
            "endpoint at that URL")


def llm_model_refusal(model: str | None, base_url: str | None) -> str | None:
    """Why a space's calls for `model` may not go where they would with its `base_url` (else LLM_BASE_URL's):
    to that URL, or to the provider's default (`llm_call_endpoint`), as `llm_host_refusal` tells for the
    provider.
    None when the space names no model: LLM_MODEL is the operator's."""
    from django.conf import settings

    if not model:
        return None
    base_url = base_url or settings.LLM_BASE_URL
    endpoint = llm_call_endpoint(model, base_url)
    refusal = endpoint and llm_host_refusal(endpoint, provider=split_provider(model)[0])
    if refusal and endpoint != base_url:
        return (f"{model} without a base URL calls its provider's default endpoint {endpoint}; give it an "
                f"llmBaseUrl. {refusal}")
    return refusal or None
