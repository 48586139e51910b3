"""The HTTP client of LLM calls to endpoints a tenant chose: it connects only to addresses LLM_ALLOWED_HOSTS
allows, checked when connecting.

A check before the call is not enough: the client resolves the name again to connect, and a hostile name
server may answer a public address to the check and 127.0.0.1 to the client (DNS rebinding). So the name is
resolved once, in httpcore's `connect_tcp`, and the connection goes to the addresses checked; TLS still
verifies the certificate for the name, which httpcore passes on after connecting.

httpx takes no network backend (encode/httpx#3749), so the transport wraps httpcore's connection pool, which
does, through public API only.
"""

from __future__ import annotations

import functools
import ssl
from collections.abc import Iterator
from contextlib import contextmanager

import httpcore
import httpx

from memoryspaces.validators import LlmHostRefused, llm_connect_addresses


class _CheckedBackend(httpcore.SyncBackend):
    def connect_tcp(self, host, port, timeout=None, local_address=None, socket_options=None):
        try:
            addresses = llm_connect_addresses(host, port)
        except LlmHostRefused as refused:
            raise httpcore.ConnectError(str(refused)) from None
        except (OSError, UnicodeError) as exc:
            raise httpcore.ConnectError(f"{host} does not resolve: {exc}") from exc
        # each in turn, as socket.create_connection tries a name's addresses: past one that refuses and past
        # one that never answers (an IPv6 address without a route)
        for address in addresses[:-1]:
            try:
                return super().connect_tcp(address, port, timeout, local_address, socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout):
                continue
        return super().connect_tcp(addresses[-1], port, timeout, local_address, socket_options)


@contextmanager
def _httpx_errors() -> Iterator[None]:
    """httpcore's errors as httpx's of the same name: the OpenAI client retries and reports those (a timeout
    as such, the rest as a connection error)."""
    try:
        yield
    except (httpcore.TimeoutException, httpcore.NetworkError, httpcore.ProtocolError, httpcore.ProxyError,
            httpcore.UnsupportedProtocol) as exc:
        raise getattr(httpx, type(exc).__name__)(str(exc)) from exc


class _Body(httpx.SyncByteStream):
    def __init__(self, stream):
        self._stream = stream

    def __iter__(self) -> Iterator[bytes]:
        with _httpx_errors():
            yield from self._stream

    def close(self) -> None:
        self._stream.close()


@functools.cache
def _tls_context() -> ssl.SSLContext:
    """One for every tenant's call (it is safe to share): making one loads the CA bundle, ~20 ms that each add
    paid, as its client is its own."""
    return httpx.create_ssl_context()


class _CheckedTransport(httpx.BaseTransport):
    def __init__(self):
        self._pool = httpcore.ConnectionPool(ssl_context=_tls_context(), network_backend=_CheckedBackend())

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        with _httpx_errors():
            response = self._pool.handle_request(httpcore.Request(
                method=request.method,
                url=httpcore.URL(scheme=url.raw_scheme, host=url.raw_host, port=url.port, target=url.raw_path),
                headers=request.headers.raw, content=request.stream, extensions=request.extensions,
            ))
        return httpx.Response(response.status, headers=response.headers, stream=_Body(response.stream),
                              extensions=response.extensions)

    def close(self) -> None:
        self._pool.close()


def checked_client() -> httpx.Client:
    """A client for a tenant's endpoint: it connects only to allowed addresses, and follows no redirect (its
    server could send the call on to any host LLM_ALLOWED_HOSTS keeps it from)."""
    return httpx.Client(transport=_CheckedTransport(), follow_redirects=False)
