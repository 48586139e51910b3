"""Chat history: appending events and reading the last ones, over HTTP.

Measurements (each in a session of its own, in one memory space, after a warm-up of every worker):
  append_c1    single-event appends, one client, one after the other
  append_c8    single-event appends, 8 clients at once, all to ONE session (they queue on its row lock)
  batch_200    batches of 200 events, one client
  fill         filling the big session with batches of 200, 4 clients at once (no goal; for context)
  lastn_big    GET events/?lastN=20 on a session of BENCH_BIG_SESSION events (default 100,000)
  lastn_small  the same on a session of 100 events: lastN should not depend on the session's size
Then the append_c8 session is read back whole: its sequence ids must be exactly 0..N-1, N the number of
acknowledged appends; and the big session must hold exactly what was appended to it. A failed request or a
failed check makes the run fail.

Sizes (environment): BENCH_SINGLE (appends per concurrency level, 2000), BENCH_BATCHES (100),
BENCH_LASTN (reads per session, 500), BENCH_BIG_SESSION (100000); BENCH_QUICK=1 divides the defaults by 10.
"""

import os
from datetime import UTC, datetime
from pathlib import Path

import httpx

from bench import timing
from bench.report import machine, write_results
from bench.server import Server

RESULTS = Path(__file__).resolve().parent / "results" / "chat_history.json"
DEFAULT_SIZES = {"single": 2000, "batches": 100, "lastn": 500, "big_session": 100_000}
SMALL_SESSION = 100
BATCH = 200
LAST_N = 20
CONCURRENT_CLIENTS = 8
FILL_CLIENTS = 4
PAGE = 100
CONTENT = ("Can you summarise what we decided about the quarterly report, and remind me which figures "
           "still need checking before Friday? Also list the open questions from the last meeting.")
EVENT = {"body": {"content": CONTENT}, "emitter": {"type": "user", "id": "u1"}}

# (measurement, figure, comparison, target, label)
GOALS = [
    ("append_c1", "p50_ms", "<=", 10, "single append p50 <= 10 ms"),
    ("batch_200", "events_per_s", ">=", 5000, "batch append >= 5,000 events/s"),
    ("lastn_big", "p50_ms", "<=", 10, "lastN p50 <= 10 ms at big session"),
]
ROWS = [
    ("append_c1", "append 1 event, 1 client"),
    ("append_c8", f"append 1 event, {CONCURRENT_CLIENTS} clients, 1 session"),
    ("batch_200", f"append batch of {BATCH}, 1 client"),
    ("fill", f"fill big session, {FILL_CLIENTS} clients x {BATCH}"),
    ("lastn_big", f"lastN={LAST_N}, big session"),
    ("lastn_small", f"lastN={LAST_N}, {SMALL_SESSION} events"),
]


def run(server: Server) -> bool:
    sizes = read_sizes()
    print(f"\n== chat_history ({'quick' if sizes['quick'] else 'full'}): {sizes}", flush=True)
    with server.client() as client:
        space = client.post("/api/v2/memory/new/", json={"description": "bench"}).raise_for_status()
        base = f"/api/v2/memory/{space.json()['memorySpaceId']}/sessions"
        results, failures, checks = {}, [], {}

        def measure(name: str, timings: timing.Timings, events_per_request: int = 1) -> None:
            results[name] = timings.summary(events_per_request)
            failures.extend(f"{name}: {failure}" for failure in timings.failures[:5])
            print(f"  {name}: {results[name]}", flush=True)

        # A worker loads tiktoken and connects to the database on its first requests: not what we measure.
        warm_up = f"{base}/{new_session(client, base, 'warm_up')}/events/"
        timing.concurrent(server, "POST", warm_up, count=20 * server.workers, clients=server.workers,
                          expect=201, json=EVENT)

        single = {"count": sizes["single"], "expect": 201, "json": EVENT}
        events = f"{base}/{new_session(client, base, 'append_c1')}/events/"
        measure("append_c1", timing.sequential(client, "POST", events, **single))
        c8_events = f"{base}/{new_session(client, base, 'append_c8')}/events/"
        c8 = timing.concurrent(server, "POST", c8_events, clients=CONCURRENT_CLIENTS, keep=True, **single)
        measure("append_c8", c8)

        batch = {"expect": 201, "json": {"events": [EVENT] * BATCH}}
        url = f"{base}/{new_session(client, base, 'batch_200')}/events/batch/"
        measure("batch_200", timing.sequential(client, "POST", url, count=sizes["batches"], **batch), BATCH)
        big_events = f"{base}/{new_session(client, base, 'big')}/events/"
        fill_count = sizes["big_session"] // BATCH
        measure("fill", timing.concurrent(server, "POST", f"{big_events}batch/", count=fill_count,
                                          clients=FILL_CLIENTS, **batch), BATCH)
        small_events = f"{base}/{new_session(client, base, 'small')}/events/"
        client.post(f"{small_events}batch/", json={"events": [EVENT] * SMALL_SESSION}).raise_for_status()

        last_n = {"count": sizes["lastn"], "expect": 200, "params": {"lastN": LAST_N}}
        measure("lastn_big", timing.sequential(client, "GET", big_events, **last_n), LAST_N)
        measure("lastn_small", timing.sequential(client, "GET", small_events, **last_n), LAST_N)

        checks["append_c8_sequence"] = check_sequence(client, c8_events, c8)
        checks["big_session_total"] = check_total(client, big_events, fill_count * BATCH)

    report = {
        "benchmark": "chat_history",
        "timestamp": datetime.now(UTC).isoformat(timespec="seconds"),
        "sizes": sizes,
        "server": {"workers": server.workers, "database": server.database},
        "machine": machine(),
        "results": results,
        "goals": [goal_result(results, *goal) for goal in GOALS],
        "checks": checks,
        "failed_requests": failures,
    }
    print_report(report)
    write_results(RESULTS, report)
    return not failures and all(check["ok"] for check in checks.values())


def read_sizes() -> dict:
    quick = os.environ.get("BENCH_QUICK") == "1"
    sizes = {name: int(os.environ.get(f"BENCH_{name.upper()}", default // 10 if quick else default))
             for name, default in DEFAULT_SIZES.items()}
    return {**sizes, "quick": quick}


def new_session(client: httpx.Client, base: str, description: str) -> str:
    answer = client.post(f"{base}/", json={"participants": ["u1"], "description": description})
    return answer.raise_for_status().json()["id"]


def check_sequence(client: httpx.Client, events: str, appends: timing.Timings) -> dict:
    """The session holds exactly the acknowledged appends, numbered 0..N-1, as their answers said."""
    read, total = [], None
    while total is None or len(read) < total:
        page = client.get(events, params={"offset": len(read), "limit": PAGE}).raise_for_status().json()
        if not page["items"]:
            break
        read.extend(item["sequenceId"] for item in page["items"])
        total = page["total"]
    acknowledged = sorted(answer["sequenceId"] for answer in appends.answers)
    expected = list(range(appends.succeeded))
    ok = read == expected and acknowledged == expected and total == appends.succeeded
    result = {"ok": ok, "acknowledged": appends.succeeded, "read": len(read), "total": total,
              "distinct": len(set(read)), "first": read[:1], "last": read[-1:]}
    print(f"  check append_c8 sequence ids 0..N-1: {'OK' if ok else 'WRONG'} {result}", flush=True)
    return result


def check_total(client: httpx.Client, events: str, expected: int) -> dict:
    page = client.get(events, params={"lastN": 1}).raise_for_status().json()
    last = page["items"][-1]["sequenceId"] if page["items"] else None
    ok = page["total"] == expected and last == expected - 1
    result = {"ok": ok, "expected": expected, "total": page["total"], "last_sequence_id": last}
    print(f"  check big session size: {'OK' if ok else 'WRONG'} {result}", flush=True)
    return result


def goal_result(results: dict, name: str, figure: str, comparison: str, target: float, label: str) -> dict:
    value = results[name][figure]
    met = value <= target if comparison == "<=" else value >= target
    return {"goal": label, "measurement": name, "figure": figure, "target": f"{comparison} {target}",
            "value": value, "status": "PASS" if met else "MISS"}


def print_report(report: dict) -> None:
    results, sizes = report["results"], report["sizes"]
    goals = {goal["measurement"]: goal for goal in report["goals"]}
    machine = report["machine"]
    print(f"\nchat_history  ·  {machine['cpu_count']} CPUs, {machine['platform']}, Python {machine['python']}"
          f"  ·  gunicorn {report['server']['workers']} workers  ·  big session {sizes['big_session']:,}"
          f" events  ·  database: {report['server']['database']}")
    print(f"{'measurement':<40} {'requests':>8} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'req/s':>7}"
          f" {'events/s':>9}  goal")
    for name, label in ROWS:
        row = results[name]
        goal = goals.get(name)
        verdict = f"{goal['status']} ({goal['goal']})" if goal else ""
        figures = f"{row['p50_ms']:>8.2f} {row['p95_ms']:>8.2f} {row['p99_ms']:>8.2f}"
        rates = f"{row['requests_per_s']:>7,.0f} {row['events_per_s']:>9,.0f}"
        print(f"{label:<40} {row['requests']:>8} {figures} {rates}  {verdict}")
    for name, check in report["checks"].items():
        print(f"check {name}: {'OK' if check['ok'] else 'WRONG'}")
    if report["failed_requests"]:
        print("failed requests (first 5 per measurement):", *report["failed_requests"], sep="\n  ")


