"""Load: mixed traffic from many concurrent clients for a bounded time, then every acknowledged write checked.

BENCH_LOAD_CLIENTS (32) asyncio clients (httpx.AsyncClient, one connection each) send, for BENCH_LOAD_SECONDS
(60) after BENCH_LOAD_WARMUP (5) seconds of the same traffic unmeasured, a mix of
  append        40%  POST events/ of one event
  batch         10%  POST events/batch/ of 10..50 events
  read          25%  GET events/ ?lastN=1..100, or ?offset=..&limit=1..100 (half each)
  memory_add    15%  POST v3/memories/add/, infer=false, a text never sent before
  search        10%  POST v3/memories/search/ with {"user_id": ...}, top_k 10
over BENCH_LOAD_SPACES (3) memory spaces, BENCH_LOAD_SESSIONS (20) sessions spread over them and 10 users per
space. Every event content and memory text is unique, so each write can be found again.

Answers: the expected status (201 for appends, 200 otherwise) acknowledges a write; 429 and 503 are counted
apart (a 503 write is "uncertain": it may have happened); any other 5xx is a failure, as is any other 4xx; a
timeout or a broken connection is reported and its write is uncertain too. Reads are checked as they come:
their sequence ids contiguous, an offset page starting at its offset, a lastN page reaching the session's
total.

Then, with the traffic stopped: each session read back whole (offset/limit pages of 100, and its lastN=100
tail) must hold sequence ids exactly 0..N-1, N the acknowledged events plus the uncertain ones found; each
acknowledged (sequenceId, content) exactly once, at its id; nothing else (an event refused with a 4xx found is
an error). Each acknowledged memory id exists once in its space with its text and user (in the database, and
a sample of BENCH_LOAD_MEMORY_SAMPLE over HTTP: v1 GET memories/{id}/), each text once in the space; nothing
else is in the spaces. A failed check, or a 5xx other than 503, makes the run fail.

Spaces are removed at the start (an earlier run's) and, when everything checked out, at the end.
"""

import asyncio
import json
import os
import random
import statistics
import time
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import httpx

from bench.report import machine, write_results
from bench.server import Server

RESULTS = Path(__file__).resolve().parent / "results" / "load.json"
DEFAULT_SIZES = {"seconds": 60, "warmup": 5, "clients": 32, "sessions": 20, "spaces": 3, "memory_sample": 200}
QUICK_SIZES = {"seconds": 10, "warmup": 3, "clients": 32, "sessions": 20, "spaces": 3, "memory_sample": 50}
MIX = {"append": 40, "batch": 10, "read": 25, "memory_add": 15, "search": 10}
EXPECT = {"append": 201, "batch": 201, "read": 200, "memory_add": 200, "search": 200}
WRITES = ("append", "batch", "memory_add")
BATCH_SIZES = (10, 50)
USERS_PER_SPACE = 10
PAGE = 100
REQUEST_TIMEOUT = 30.0  # seconds; a request still unanswered then is reported as a timeout
SPACE_PREFIX = "bench load"
SEED = 20251122
FILLER = ("I'd like to move the review to Thursday afternoon; can you check whether the design team is free, "
          "and draft a short note explaining why the numbers changed since last week?")
TOPICS = ["hiking boots", "espresso", "jazz records", "tomato plants", "chess openings", "sourdough", "sailing",
          "watercolours", "trail maps", "vinyl", "ramen", "pottery", "cycling", "birdsong", "tea", "poetry"]
QUESTIONS = ["what does the user like to drink", "which hobbies does the user have", "favourite food",
             "what music do they listen to", "plans for the weekend", "what are they learning"]


@dataclass
class Ack:
    """What the clients saw: acknowledged writes, and writes whose outcome is unknown or refused."""

    events: dict = field(default_factory=lambda: defaultdict(dict))  # session -> {content: sequenceId}
    uncertain_events: dict = field(default_factory=lambda: defaultdict(set))  # session -> contents
    refused_events: dict = field(default_factory=lambda: defaultdict(set))  # session -> contents (4xx)
    memories: dict = field(default_factory=dict)  # id -> (space, text, user)
    uncertain_memories: dict = field(default_factory=lambda: defaultdict(set))  # space -> texts
    refused_memories: dict = field(default_factory=lambda: defaultdict(set))  # space -> texts
    anomalies: list = field(default_factory=list)  # wrong answers to requests that succeeded


@dataclass
class Stats:
    latencies: dict = field(default_factory=lambda: defaultdict(list))  # op -> seconds of successful requests
    statuses: dict = field(default_factory=lambda: defaultdict(Counter))  # op -> Counter(status or error)
    events: int = 0  # events in acknowledged appends
    elapsed: float = 0.0


class Load:
    def __init__(self, server: Server, sizes: dict):
        self.server, self.sizes = server, sizes
        self.ack = Ack()
        self.spaces: list[str] = []
        self.sessions: list[tuple[str, str]] = []  # (space, session)
        self.users: dict[str, list[str]] = {}
        self.tag = uuid.uuid4().hex[:8]  # makes this run's texts unique across runs
        self.counter = 0

    def next_text(self) -> int:
        self.counter += 1
        return self.counter

    # -- setup --------------------------------------------------------------------------------------------
    def setup(self, client: httpx.Client) -> None:
        for number in range(self.sizes["spaces"]):
            answer = client.post("/api/v2/memory/new/", json={"description": f"{SPACE_PREFIX} {number}"})
            space = answer.raise_for_status().json()["memorySpaceId"]
            self.spaces.append(space)
            self.users[space] = [f"load-user-{number}-{user}" for user in range(USERS_PER_SPACE)]
        for number in range(self.sizes["sessions"]):
            space = self.spaces[number % len(self.spaces)]
            answer = client.post(f"/api/v2/memory/{space}/sessions/",
                                 json={"participants": [f"load-user-{number}"], "description": f"load {number}"})
            self.sessions.append((space, answer.raise_for_status().json()["id"]))

    # -- traffic ------------------------------------------------------------------------------------------
    async def traffic(self, seconds: float, stats: Stats) -> None:
        limits = httpx.Limits(max_connections=self.sizes["clients"], max_keepalive_connections=self.sizes["clients"])
        async with httpx.AsyncClient(base_url=self.server.url, headers=self.server.headers, limits=limits,
                                     timeout=REQUEST_TIMEOUT) as client:
            deadline = time.monotonic() + seconds
            start = time.perf_counter()
            await asyncio.gather(*(self.client_loop(client, number, deadline, stats)
                                   for number in range(self.sizes["clients"])))
            stats.elapsed = time.perf_counter() - start

    async def client_loop(self, client: httpx.AsyncClient, number: int, deadline: float, stats: Stats) -> None:
        rng = random.Random(f"{SEED}-{self.tag}-{number}-{deadline}")
        ops, weights = list(MIX), list(MIX.values())
        while time.monotonic() < deadline:
            op = rng.choices(ops, weights)[0]
            await getattr(self, op)(client, rng, stats)

    async def send(self, client: httpx.AsyncClient, op: str, stats: Stats, method: str, url: str,
                   **request) -> tuple[httpx.Response | None, str]:
        """The answer and its outcome: "ok", "refused" (a 4xx: nothing was written), "uncertain" (a 5xx or
        no answer: a write may have happened)."""
        start = time.perf_counter()
        try:
            answer = await client.request(method, url, **request)
        except httpx.TimeoutException:
            stats.statuses[op]["timeout"] += 1
            return None, "uncertain"
        except httpx.TransportError as error:
            stats.statuses[op][f"transport {type(error).__name__}"] += 1
            return None, "uncertain"
        stats.statuses[op][answer.status_code] += 1
        if answer.status_code == EXPECT[op]:
            stats.latencies[op].append(time.perf_counter() - start)
            return answer, "ok"
        if answer.status_code >= 500:
            return answer, "uncertain"
        return answer, "refused"

    def event(self, op: str) -> dict:
        return {"body": {"content": f"[{self.tag} {op} {self.next_text()}] {FILLER}"},
                "emitter": {"type": "user", "id": "load"}}

    async def append(self, client: httpx.AsyncClient, rng: random.Random, stats: Stats) -> None:
        space, session = rng.choice(self.sessions)
        event = self.event("append")
        content = event["body"]["content"]
        answer, outcome = await self.send(client, "append", stats, "POST",
                                          f"/api/v2/memory/{space}/sessions/{session}/events/", json=event)
        if outcome == "ok":
            body = answer.json()
            if body.get("body", {}).get("content") != content:
                self.ack.anomalies.append(f"append answered another content: {body}"[:300])
            self.ack.events[session][content] = body["sequenceId"]
            stats.events += 1
        else:
            self.unacknowledged_events(session, [content], outcome)

    async def batch(self, client: httpx.AsyncClient, rng: random.Random, stats: Stats) -> None:
        space, session = rng.choice(self.sessions)
        events = [self.event("batch") for _ in range(rng.randint(*BATCH_SIZES))]
        contents = [event["body"]["content"] for event in events]
        answer, outcome = await self.send(client, "batch", stats, "POST",
                                          f"/api/v2/memory/{space}/sessions/{session}/events/batch/",
                                          json={"events": events})
        if outcome == "ok":
            items = answer.json()["items"]
            ids = [item["sequenceId"] for item in items]
            if ([item["body"]["content"] for item in items] != contents
                    or ids != list(range(ids[0], ids[0] + len(contents)))):
                self.ack.anomalies.append(f"batch answer: {len(items)} items for {len(contents)}, ids {ids[:3]}..")
            for item in items:
                self.ack.events[session][item["body"]["content"]] = item["sequenceId"]
            stats.events += len(items)
        else:
            self.unacknowledged_events(session, contents, outcome)

    def unacknowledged_events(self, session: str, contents: list[str], outcome: str) -> None:
        target = self.ack.uncertain_events if outcome == "uncertain" else self.ack.refused_events
        target[session].update(contents)

    async def read(self, client: httpx.AsyncClient, rng: random.Random, stats: Stats) -> None:
        space, session = rng.choice(self.sessions)
        known = len(self.ack.events[session])
        if rng.random() < 0.5:
            params = {"lastN": rng.randint(1, PAGE)}
        else:
            params = {"offset": rng.randint(0, max(known - 1, 0)), "limit": rng.randint(1, PAGE)}
        answer, outcome = await self.send(client, "read", stats, "GET",
                                          f"/api/v2/memory/{space}/sessions/{session}/events/", params=params)
        if outcome != "ok":
            return
        page = answer.json()
        ids = [item["sequenceId"] for item in page["items"]]
        wrong = ids != list(range(ids[0], ids[0] + len(ids))) if ids else page["total"] > params.get("offset", 0)
        if "offset" in params and ids and ids[0] != params["offset"]:
            wrong = True
        if "lastN" in params and ids and (ids[-1] + 1 < page["total"] or len(ids) != min(params["lastN"],
                                                                                         ids[-1] + 1)):
            wrong = True
        if wrong:
            self.ack.anomalies.append(f"read {params}: ids {ids[:3]}..{ids[-3:]} total {page['total']}")

    async def memory_add(self, client: httpx.AsyncClient, rng: random.Random, stats: Stats) -> None:
        space = rng.choice(self.spaces)
        user = rng.choice(self.users[space])
        text = (f"{user} said their favourite {rng.choice(TOPICS)} story is number {self.next_text()} "
                f"of run {self.tag}")
        body = {"messages": [{"role": "user", "content": text}], "user_id": user, "infer": False}
        answer, outcome = await self.send(client, "memory_add", stats, "POST",
                                          f"/api/v2/memory/{space}/v3/memories/add/", json=body)
        if outcome == "ok":
            results = answer.json()["results"]
            if len(results) != 1 or results[0]["event"] != "ADD" or results[0]["memory"] != text:
                self.ack.anomalies.append(f"add answered {results}"[:300])
            for result in results:
                self.ack.memories[result["id"]] = (space, result["memory"], user)
        elif outcome == "uncertain":
            self.ack.uncertain_memories[space].add(text)
        else:
            self.ack.refused_memories[space].add(text)

    async def search(self, client: httpx.AsyncClient, rng: random.Random, stats: Stats) -> None:
        space = rng.choice(self.spaces)
        body = {"query": rng.choice(QUESTIONS), "filters": {"user_id": rng.choice(self.users[space])}, "top_k": 10}
        answer, outcome = await self.send(client, "search", stats, "POST",
                                          f"/api/v2/memory/{space}/v3/memories/search/", json=body)
        if outcome == "ok" and not isinstance(answer.json().get("results"), list):
            self.ack.anomalies.append(f"search answered {answer.text[:200]}")

    # -- verification -------------------------------------------------------------------------------------
    def verify_events(self, client: httpx.Client) -> dict:
        problems, totals = [], Counter()
        for space, session in self.sessions:
            url = f"/api/v2/memory/{space}/sessions/{session}/events/"
            items, total = [], None
            while total is None or len(items) < total:
                page = client.get(url, params={"offset": len(items), "limit": PAGE}).raise_for_status().json()
                if not page["items"]:
                    break
                items.extend(page["items"])
                total = page["total"]
            tail = client.get(url, params={"lastN": PAGE}).raise_for_status().json()["items"]
            ids = [item["sequenceId"] for item in items]
            contents = Counter(item["body"]["content"] for item in items)
            at = {item["sequenceId"]: item["body"]["content"] for item in items}
            acked, uncertain = self.ack.events[session], self.ack.uncertain_events[session]
            refused = self.ack.refused_events[session]
            found_uncertain = sum(1 for content in uncertain if contents[content])
            expected_n = len(acked) + found_uncertain
            lost = [content for content in acked if contents[content] == 0]
            duplicated = [content for content, count in contents.items() if count > 1]
            misplaced = [content for content, seq in acked.items() if contents[content] and at.get(seq) != content]
            stray = [content for content in contents
                     if content not in acked and content not in uncertain]
            refused_found = [content for content in stray if content in refused]
            session_problems = {
                "ids_not_0_to_n_minus_1": ids != list(range(len(ids))),
                "count_not_acknowledged": len(ids) != expected_n or total not in (None, len(ids)),
                "lost": len(lost), "duplicated": len(duplicated), "misplaced": len(misplaced),
                "unexpected": len(stray) - len(refused_found), "refused_but_present": len(refused_found),
                "tail_differs": [item["sequenceId"] for item in tail] != ids[-PAGE:],
            }
            wrong = {name: value for name, value in session_problems.items() if value}
            if wrong:
                problems.append({"session": session, "read": len(ids), "acknowledged": len(acked),
                                 "uncertain_found": found_uncertain, **wrong,
                                 "examples": (lost + duplicated + misplaced + stray)[:3]})
            totals.update({"sessions": 1, "events_read": len(ids), "acknowledged": len(acked),
                           "uncertain_sent": len(uncertain), "uncertain_found": found_uncertain})
        return {"ok": not problems, **totals, "problems": problems[:20]}

    def verify_memories(self, client: httpx.Client, db) -> dict:
        rows = db.execute("""SELECT id::text, space_id::text, memory, user_id, deleted_at IS NOT NULL
                               FROM mem0_compat_memory WHERE space_id = ANY(%s::uuid[])""",
                          [self.spaces]).fetchall()
        by_id = {row[0]: row for row in rows}
        texts = Counter((space, text) for _, space, text, _, _ in rows)
        acked_texts = {(space, text) for space, text, _ in self.ack.memories.values()}
        problems = []
        for memory_id, (space, text, user) in self.ack.memories.items():
            row = by_id.get(memory_id)
            if row is None:
                problems.append(f"lost {memory_id}")
            elif row[1:] != (space, text, user, False):
                problems.append(f"changed {memory_id}: {row[1:]}")
            elif texts[(space, text)] != 1:
                problems.append(f"{texts[(space, text)]} copies of {text!r}")
        uncertain_found = 0
        for space, text in texts:
            if (space, text) in acked_texts:
                continue
            if text in self.ack.uncertain_memories[space]:
                uncertain_found += 1
                if texts[(space, text)] > 1:
                    problems.append(f"{texts[(space, text)]} copies of uncertain {text!r}")
            elif text in self.ack.refused_memories[space]:
                problems.append(f"refused add present: {text!r}")
            else:
                problems.append(f"unexpected memory {text!r}")
        sample = random.Random(SEED).sample(sorted(self.ack.memories),
                                            min(self.sizes["memory_sample"], len(self.ack.memories)))
        for memory_id in sample:
            space, text, user = self.ack.memories[memory_id]
            answer = client.get(f"/api/v2/memory/{space}/v1/memories/{memory_id}/")
            got = answer.json() if answer.status_code == 200 else None
            if not got or got.get("memory") != text or got.get("user_id") != user:
                problems.append(f"HTTP GET {memory_id}: {answer.status_code} {answer.text[:200]}")
        return {"ok": not problems, "acknowledged": len(self.ack.memories), "rows_in_spaces": len(rows),
                "uncertain_sent": sum(len(texts) for texts in self.ack.uncertain_memories.values()),
                "uncertain_found": uncertain_found, "checked_over_http": len(sample), "problems": problems[:20]}


def run(server: Server) -> bool:
    sizes = read_sizes()
    print(f"\n== load ({'quick' if sizes['quick'] else 'full'}): {sizes}, mix {MIX}", flush=True)
    from bench.server import setup_django

    setup_django(server)
    import psycopg

    remove_spaces()
    load = Load(server, sizes)
    with server.client() as client:
        load.setup(client)
        print(f"  {len(load.spaces)} spaces, {len(load.sessions)} sessions; warm-up {sizes['warmup']} s", flush=True)
        warm = Stats()
        asyncio.run(load.traffic(sizes["warmup"], warm))
        stats = Stats()
        print(f"  load: {sizes['clients']} clients for {sizes['seconds']} s", flush=True)
        cpu = CpuMeter(server)
        cpu.start()
        asyncio.run(load.traffic(sizes["seconds"], stats))
        cpu.stop()
        print(f"  verifying {sum(len(events) for events in load.ack.events.values()):,} events and "
              f"{len(load.ack.memories):,} memories", flush=True)
        with psycopg.connect(server.database_url, autocommit=True) as db:
            checks = {"events": load.verify_events(client), "memories": load.verify_memories(client, db)}
    checks["answers"] = {"ok": not load.ack.anomalies, "anomalies": len(load.ack.anomalies),
                         "examples": load.ack.anomalies[:10]}
    statuses = {op: warm.statuses[op] + stats.statuses[op] for op in MIX}  # the warm-up counts here too
    server_errors = {op: {str(status): count for status, count in counter.items()
                          if isinstance(status, int) and status >= 500 and status != 503}
                     for op, counter in statuses.items()}
    other_client_errors = {op: {str(status): count for status, count in counter.items()
                                if isinstance(status, int) and 400 <= status < 500 and status != 429}
                           for op, counter in statuses.items()}
    checks["no_5xx_but_503"] = {"ok": not any(server_errors.values()),
                                "errors": {op: codes for op, codes in server_errors.items() if codes}}
    checks["no_4xx_but_429"] = {"ok": not any(other_client_errors.values()),
                                "errors": {op: codes for op, codes in other_client_errors.items() if codes}}
    report = {
        "benchmark": "load",
        "timestamp": datetime.now(UTC).isoformat(timespec="seconds"),
        "sizes": sizes,
        "mix_percent": MIX,
        "server": {"workers": server.workers, "threads": int(os.environ.get("WEB_THREADS", 4)),
                   "database": server.database},
        "machine": machine(),
        "results": summarize(stats),
        "warmup": summarize(warm),
        "cpu": cpu.result,
        "checks": checks,
    }
    print_report(report)
    write_results(RESULTS, report)
    passed = all(check["ok"] for check in checks.values())
    if passed:
        remove_spaces()
    else:
        print(f"The spaces are kept for inspection: {load.spaces}")
    return passed


class CpuMeter:
    """CPU seconds (user + system, from /proc; Linux only) spent by the server's gunicorn processes, the
    database's PostgreSQL processes, this client and the rest of the machine between `start` and `stop`."""

    def __init__(self, server: Server):
        from urllib.parse import urlsplit

        self.web_port = f":{urlsplit(server.url).port}"
        self.db_port = str(urlsplit(server.database_url).port or 5432)
        self.tick = os.sysconf("SC_CLK_TCK")
        self.before: dict | None = None
        self.result: dict = {}

    def snapshot(self) -> dict | None:
        proc = Path("/proc")
        if not (proc / "stat").exists():
            return None
        processes = {}
        for entry in proc.iterdir():
            if not entry.name.isdigit():
                continue
            try:
                stat = (entry / "stat").read_text()
                cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            fields = stat[stat.rindex(")") + 2:].split()
            processes[int(entry.name)] = (int(fields[1]), (int(fields[11]) + int(fields[12])) / self.tick, cmdline)
        postmasters = {pid for pid, (_, _, cmdline) in processes.items()
                       if "postgres" in cmdline and " -D " in cmdline and f"-p {self.db_port} " in f"{cmdline} "}
        spent = Counter()
        for pid, (parent, seconds, cmdline) in processes.items():
            if pid == os.getpid():
                spent["client"] += seconds
            elif "gunicorn" in cmdline and self.web_port in cmdline:
                spent["gunicorn"] += seconds
            elif pid in postmasters or parent in postmasters:
                spent["postgres"] += seconds
        first = (proc / "stat").read_text().splitlines()[0].split()[1:]
        ticks = [int(value) for value in first]
        spent["machine_busy"] = (sum(ticks[:8]) - ticks[3] - ticks[4]) / self.tick  # all but idle and iowait
        spent["wall"] = time.monotonic()
        return spent

    def start(self) -> None:
        self.before = self.snapshot()

    def stop(self) -> None:
        after = self.snapshot()
        if self.before is None or after is None:
            return
        delta = {name: after[name] - self.before.get(name, 0.0) for name in after}
        wall = delta.pop("wall")
        delta["other"] = delta["machine_busy"] - delta["gunicorn"] - delta["postgres"] - delta["client"]
        self.result = {"wall_seconds": round(wall, 1), "cpus": os.cpu_count(),
                       **{f"{name}_cpu_seconds": round(value, 1) for name, value in delta.items()}}


def read_sizes() -> dict:
    quick = os.environ.get("BENCH_QUICK") == "1"
    defaults = QUICK_SIZES if quick else DEFAULT_SIZES
    sizes = {name: int(os.environ.get(f"BENCH_LOAD_{name.upper()}", default)) for name, default in defaults.items()}
    return {**sizes, "quick": quick}


def remove_spaces() -> None:
    """This benchmark's spaces, with everything in them (an earlier run's, or this one's)."""
    from memoryspaces.models import MemorySpace

    MemorySpace.objects.filter(description__startswith=SPACE_PREFIX, owner__username="bench-user").delete()


def summarize(stats: Stats) -> dict:
    per_op = {}
    for op in MIX:
        latencies, statuses = stats.latencies[op], stats.statuses[op]
        row = {"requests": sum(statuses.values()), "ok": len(latencies),
               "per_s": round(len(latencies) / stats.elapsed, 1) if stats.elapsed else 0.0,
               "throttled_429": statuses.get(429, 0), "unavailable_503": statuses.get(503, 0),
               "timeouts": statuses.get("timeout", 0),
               "other_errors": {str(status): count for status, count in statuses.items()
                                if status not in (EXPECT[op], 429, 503, "timeout")}}
        if len(latencies) > 1:
            cuts = statistics.quantiles(latencies, n=100, method="inclusive")
            row.update(p50_ms=round(cuts[49] * 1000, 1), p95_ms=round(cuts[94] * 1000, 1),
                       p99_ms=round(cuts[98] * 1000, 1), max_ms=round(max(latencies) * 1000, 1))
        per_op[op] = row
    ok = sum(row["ok"] for row in per_op.values())
    total = {"requests": sum(row["requests"] for row in per_op.values()), "ok": ok,
             "per_s": round(ok / stats.elapsed, 1) if stats.elapsed else 0.0,
             "events_appended": stats.events,
             "events_per_s": round(stats.events / stats.elapsed, 1) if stats.elapsed else 0.0,
             "seconds": round(stats.elapsed, 1)}
    return {"operations": per_op, "total": total}


def print_report(report: dict) -> None:
    machine, sizes, results = report["machine"], report["sizes"], report["results"]
    print(f"\nload  ·  {machine['cpu_count']} CPUs, {machine['platform']}, Python {machine['python']}"
          f"  ·  gunicorn {report['server']['workers']} workers x {report['server']['threads']} threads"
          f"  ·  {sizes['clients']} clients for {results['total']['seconds']} s  ·  {sizes['spaces']} spaces,"
          f" {sizes['sessions']} sessions  ·  database: {report['server']['database']}")
    print(f"{'operation':<12} {'mix':>4} {'requests':>8} {'ok':>8} {'ok/s':>7} {'p50 ms':>8} {'p95 ms':>8}"
          f" {'p99 ms':>8} {'max ms':>8} {'429':>5} {'503':>5} {'timeout':>7}  other")
    for op, row in results["operations"].items():
        figures = "".join(f" {row.get(name, float('nan')):>8.1f}" for name in ("p50_ms", "p95_ms", "p99_ms",
                                                                                "max_ms"))
        print(f"{op:<12} {MIX[op]:>3}% {row['requests']:>8,} {row['ok']:>8,} {row['per_s']:>7,.1f}{figures}"
              f" {row['throttled_429']:>5} {row['unavailable_503']:>5} {row['timeouts']:>7}  "
              f"{row['other_errors'] or ''}")
    total = results["total"]
    print(f"{'total':<12} {'':>4} {total['requests']:>8,} {total['ok']:>8,} {total['per_s']:>7,.1f}"
          f"   events appended {total['events_appended']:,} ({total['events_per_s']:,.0f}/s)")
    cpu = report["cpu"]
    if cpu:
        print(f"CPU seconds during the {cpu['wall_seconds']} s ({cpu['cpus']} CPUs: "
              f"{cpu['cpus'] * cpu['wall_seconds']:.0f} available): gunicorn {cpu['gunicorn_cpu_seconds']},"
              f" PostgreSQL {cpu['postgres_cpu_seconds']}, this client {cpu['client_cpu_seconds']}, the rest of"
              f" the machine {cpu['other_cpu_seconds']} (busy in all {cpu['machine_busy_cpu_seconds']})")
    checks = report["checks"]
    events, memories = checks["events"], checks["memories"]
    print(f"\ncheck events:   {'OK' if events['ok'] else 'WRONG'}  {events.get('sessions', 0)} sessions,"
          f" {events.get('events_read', 0):,} events read back, {events.get('acknowledged', 0):,} acknowledged,"
          f" uncertain found {events.get('uncertain_found', 0)} of {events.get('uncertain_sent', 0)}")
    print(f"check memories: {'OK' if memories['ok'] else 'WRONG'}  {memories['acknowledged']:,} acknowledged,"
          f" {memories['rows_in_spaces']:,} rows in the spaces, {memories['checked_over_http']} checked over HTTP,"
          f" uncertain found {memories['uncertain_found']} of {memories['uncertain_sent']}")
    for name in ("answers", "no_5xx_but_503", "no_4xx_but_429"):
        check = checks[name]
        print(f"check {name}: {'OK' if check['ok'] else 'WRONG'}"
              + ("" if check["ok"] else f" {json.dumps({k: v for k, v in check.items() if k != 'ok'})[:600]}"))
    for name in ("events", "memories"):
        for problem in checks[name]["problems"][:10]:
            print(f"  {name}: {problem}")
    passed = all(check["ok"] for check in checks.values())
    print(f"{'PASS' if passed else 'FAIL'}  every acknowledged write present exactly once, contiguous sequence"
          " ids, no 5xx other than 503")


