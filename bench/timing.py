"""Timed HTTP requests, from one client in sequence or from several at once, and their summary.

A request's latency is what the client sees: from sending it to having read the whole answer. A request that
answers anything but the expected status counts as a failure (its latency is still recorded).
"""

import asyncio
import statistics
import time
from dataclasses import dataclass, field

import httpx

from bench.server import Server


@dataclass
class Timings:
    latencies: list[float] = field(default_factory=list)  # seconds, one per request
    failures: list[str] = field(default_factory=list)  # "<status> <body>" of each unexpected answer
    elapsed: float = 0.0  # wall-clock seconds for all the requests
    answers: list[dict] = field(default_factory=list)  # JSON of the successful answers, when kept

    @property
    def succeeded(self) -> int:
        return len(self.latencies) - len(self.failures)

    def summary(self, events_per_request: int = 1) -> dict:
        cuts = statistics.quantiles(self.latencies, n=100, method="inclusive")
        return {
            "requests": len(self.latencies),
            "failures": len(self.failures),
            "p50_ms": round(cuts[49] * 1000, 2),
            "p95_ms": round(cuts[94] * 1000, 2),
            "p99_ms": round(cuts[98] * 1000, 2),
            "requests_per_s": round(self.succeeded / self.elapsed, 1),
            "events_per_s": round(self.succeeded * events_per_request / self.elapsed, 1),
            "seconds": round(self.elapsed, 2),
        }

    def record(self, started: float, response: httpx.Response, expect: int, keep: bool) -> None:
        self.latencies.append(time.perf_counter() - started)
        if response.status_code != expect:
            self.failures.append(f"{response.status_code} {response.text[:300]}")
        elif keep:
            self.answers.append(response.json())


def sequential(client: httpx.Client, method: str, url: str, *, count: int | None = None, expect: int,
               keep: bool = False, each: list[dict] | None = None, **request) -> Timings:
    """`count` times the same request, one after the other, on one keep-alive client. With `each` (keyword
    arguments per request, e.g. `[{"json": ...}, ...]`, over `request`'s): one request for each of them."""
    timings = Timings()
    start = time.perf_counter()
    for varied in _requests(count, each):
        started = time.perf_counter()
        timings.record(started, client.request(method, url, **(request | varied)), expect, keep)
    timings.elapsed = time.perf_counter() - start
    return timings


def concurrent(server: Server, method: str, url: str, *, count: int | None = None, clients: int, expect: int,
               keep: bool = False, each: list[dict] | None = None, **request) -> Timings:
    """`count` times the same request (or one for each of `each`, as in `sequential`), from `clients`
    concurrent clients (asyncio, one connection each)."""
    return asyncio.run(_concurrent(server, method, url, requests=_requests(count, each), clients=clients,
                                   expect=expect, keep=keep, request=request))


def _requests(count: int | None, each: list[dict] | None) -> list[dict]:
    if (count is None) == (each is None):
        raise TypeError("give either count or each")
    return each if each is not None else [{}] * count


async def _concurrent(server: Server, method: str, url: str, *, requests: list[dict], clients: int, expect: int,
                      keep: bool, request: dict) -> Timings:
    timings = Timings()
    remaining = iter(requests)  # shared by the clients: each takes the next request when it is free

    async def client_loop(client: httpx.AsyncClient) -> None:
        for varied in remaining:
            started = time.perf_counter()
            timings.record(started, await client.request(method, url, **(request | varied)), expect, keep)

    async with server.async_client(clients) as client:
        start = time.perf_counter()
        await asyncio.gather(*(client_loop(client) for _ in range(clients)))
        timings.elapsed = time.perf_counter() - start
    return timings
