"""Session lifecycle: the sweep over many sessions, and how soon an eventCount strategy runs after its append.

Sweep (in process: `lifecycle.services.sweep()` with Django on the server's database, the settings' batch
bounds). BENCH_LIFECYCLE_SESSIONS (1,000,000) sessions are built in one memory space by set-based SQL
(INSERT ... SELECT FROM generate_series), each with a soft_delete ttl strategy of 86,400 s:
  - 1% of them were created two days ago, so their ttl is due (due_at a day ago);
  - the others were created in the last 12 hours (due_at in the next 12-24 hours);
  - 10% also have an idle strategy (7 days, not due), 10% an eventCount strategy (threshold 100, the
    session's next_event_trigger set, its event_count below it), so that every index the sweep reads is
    populated. No event rows: the sweep reads only the sessions' counters.
then ANALYZE. Measured: the first sweep (it must fire exactly the due strategies; sweeps are repeated until
one fires nothing), then BENCH_LIFECYCLE_STEADY sweeps with nothing due; each statement of a sweep is timed
(`connection.execute_wrapper`). Afterwards the due state is restored once and the sweep's statements are
run under EXPLAIN (ANALYZE, BUFFERS) in a rolled-back transaction, in both states, for the report. Then
executions, strategies and sessions are deleted by bulk SQL and the tables vacuumed.

Trigger to execution (over HTTP, with the Procfile's worker line running: `bench.server.running_worker`).
Every web worker serves 20 appends first, and 4 triggers go through the Celery worker unmeasured. Then
BENCH_LIFECYCLE_TRIGGERS (50) sessions are created with
`{"participants": ["p"], "lifecycleStrategies": [{"type": "soft_delete", "trigger": {"eventCount": 3}}]}`
and given two events; then, session after session, the third append is sent and the StrategyExecution's
`started_at` / `finished_at` are read from the database (polled): latency = started_at - the moment the
append's answer was read ("sequential"). "burst": as many other sessions get their third append at once from
8 clients. Checks: no execution before the third append; exactly one per session, succeeded, session soft
deleted.

Sizes (environment): BENCH_LIFECYCLE_SESSIONS (1000000), BENCH_LIFECYCLE_TRIGGERS (50),
BENCH_LIFECYCLE_STEADY (5); BENCH_QUICK=1: 100000 sessions, 10 triggers, 3 steady sweeps.
"""

import asyncio
import os
import re
import statistics
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import httpx

from bench import timing
from bench.report import machine, write_results
from bench.server import Server, running_worker, setup_django

RESULTS = Path(__file__).resolve().parent / "results" / "lifecycle.json"
DEFAULT_SIZES = {"sessions": 1_000_000, "triggers": 50, "steady": 5}
QUICK_SIZES = {"sessions": 100_000, "triggers": 10, "steady": 3}
DUE_EVERY = 100  # 1% of the sessions are due
TTL_SECONDS = 86_400
IDLE_SECONDS = 7 * 86_400
EVENT_THRESHOLD = 100  # the eventCount strategies of the big space: never reached (event_count < 50)
SPACE_PREFIX = "bench lifecycle"  # this benchmark's spaces: removed at the start and the end
TRIGGER_BODY = {"participants": ["p"], "lifecycleStrategies": [{"type": "soft_delete", "trigger": {"eventCount": 3}}]}
EVENT = {"body": {"content": "Please remind me to call the dentist tomorrow morning."},
         "emitter": {"type": "user", "id": "p"}}
WARM_UP_TRIGGERS = 4  # unmeasured runs through the worker first (its processes connect, import, ...)
BURST_CLIENTS = 8
EXECUTION_TIMEOUT = 60  # seconds to wait for an execution to finish
POLL_SECONDS = 0.01
START_GOAL_SECONDS = 2.0
SWEEP_GOAL_SECONDS = 5.0
# the tables (Session, LifecycleStrategy, Event, StrategyExecution): named here, the models need Django set up
SESSIONS, STRATEGIES, EVENTS = "sessions_app_session", "sessions_app_lifecyclestrategy", "sessions_app_event"
EXECUTIONS = "lifecycle_strategyexecution"

# per-g attributes of a generated session, shared by the two INSERTs (the session id is md5(salt || g))
_BASE = f"""
    base AS (
        SELECT md5(%(salt)s || g)::uuid AS id, g, g %% 50 AS events,
               CASE WHEN g %% {DUE_EVERY} = 0 THEN %(now)s - interval '2 days'
                    ELSE %(now)s - (g %% 43200) * interval '1 second' END AS created
          FROM generate_series(1, %(n)s) AS g)
"""


class Db:
    """A psycopg connection of our own (autocommit) for the bulk SQL; its statements are timed."""

    def __init__(self, url: str):
        import psycopg

        self.conn = psycopg.connect(url, autocommit=True)

    def run(self, sql: str, params=None) -> tuple[int, float]:
        start = time.perf_counter()
        cursor = self.conn.execute(sql, params)
        return cursor.rowcount, time.perf_counter() - start

    def value(self, sql: str, params=None):
        return self.conn.execute(sql, params).fetchone()[0]

    def close(self) -> None:
        self.conn.close()


def run(server: Server) -> bool:
    sizes = read_sizes()
    print(f"\n== lifecycle ({'quick' if sizes['quick'] else 'full'}): {sizes}", flush=True)
    setup_django(server)
    from django.conf import settings

    db = Db(server.database_url)
    bench = Bench(server, sizes, db)
    try:
        bench.remove_leftovers()
        bench.sweep_benchmark()
        bench.trigger_benchmark()
    finally:
        bench.remove_leftovers()
        db.close()

    report = {
        "benchmark": "lifecycle",
        "timestamp": datetime.now(UTC).isoformat(timespec="seconds"),
        "sizes": sizes,
        "settings": {"LIFECYCLE_SWEEP_BATCH": settings.LIFECYCLE_SWEEP_BATCH,
                     "LIFECYCLE_SWEEP_MAX_BATCHES": settings.LIFECYCLE_SWEEP_MAX_BATCHES,
                     "CELERY_CONCURRENCY": int(os.environ.get("CELERY_CONCURRENCY", 2))},
        "server": {"workers": server.workers, "database": server.database},
        "machine": machine(),
        "build": bench.build,
        "sweeps": bench.sweeps,
        "explain": bench.explain,
        "triggers": bench.triggers,
        "cleanup": bench.cleanup,
        "checks": bench.checks,
        "failures": bench.failures,
    }
    report["goals"] = goals(report)
    print_report(report)
    write_results(RESULTS, report)
    return not bench.failures and all(check["ok"] for check in bench.checks.values())


def read_sizes() -> dict:
    quick = os.environ.get("BENCH_QUICK") == "1"
    defaults = QUICK_SIZES if quick else DEFAULT_SIZES
    sizes = {name: int(os.environ.get(f"BENCH_LIFECYCLE_{name.upper()}", default))
             for name, default in defaults.items()}
    return {**sizes, "quick": quick}


def percentiles(values: list[float]) -> dict:
    """p50/p95/max (and min, mean) of seconds, in ms."""
    if not values:
        return {"n": 0}
    cuts = statistics.quantiles(values, n=100, method="inclusive") if len(values) > 1 else [values[0]] * 99
    return {"n": len(values), "min_ms": round(min(values) * 1000, 1), "p50_ms": round(cuts[49] * 1000, 1),
            "p95_ms": round(cuts[94] * 1000, 1), "max_ms": round(max(values) * 1000, 1),
            "mean_ms": round(statistics.fmean(values) * 1000, 1)}


# -- statement timing -------------------------------------------------------------------------------------

STATEMENT_KINDS = [  # (kind, a fragment only its SQL has), the first match wins
    ("time_pass", "classified AS MATERIALIZED"),
    ("fire_by_count", "next_event_trigger IS NOT NULL"),
    ("count_refresh", "next_event_trigger = (SELECT min"),
    ("republish", "lifecycle_strategyexecution"),
]


def statement_kind(sql: str) -> str:
    return next((kind for kind, fragment in STATEMENT_KINDS if fragment in sql), "other")


class StatementTimer:
    """A Django execute_wrapper: seconds and calls per kind of statement."""

    def __init__(self):
        self.seconds: dict[str, float] = {}
        self.calls: dict[str, int] = {}

    def __call__(self, execute, sql, params, many, context):
        start = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            kind = statement_kind(sql)
            self.seconds[kind] = self.seconds.get(kind, 0.0) + time.perf_counter() - start
            self.calls[kind] = self.calls.get(kind, 0) + 1

    def summary(self) -> dict:
        return {kind: {"calls": self.calls[kind], "ms": round(seconds * 1000, 1)}
                for kind, seconds in sorted(self.seconds.items(), key=lambda item: -item[1])}


class Bench:
    def __init__(self, server: Server, sizes: dict, db: Db):
        self.server, self.sizes, self.db = server, sizes, db
        self.build: dict = {}
        self.sweeps: dict = {}
        self.explain: dict = {}
        self.triggers: dict = {}
        self.cleanup: dict = {}
        self.checks: dict = {}
        self.failures: list[str] = []

    # -- the sweep ----------------------------------------------------------------------------------------
    def sweep_benchmark(self) -> None:
        from django.db import connection

        n = self.sizes["sessions"]
        due = n // DUE_EVERY
        backlog = self.sweep_until_idle()  # whatever was due in the database before: not ours to count
        self.sweeps["backlog_fired_before"] = backlog
        with self.server.client() as client:
            space = self.new_space(client, f"{SPACE_PREFIX} sweep {n}")
        self.build_sessions(space, n)

        rounds, total = [], 0.0
        while True:
            timer = StatementTimer()
            with connection.execute_wrapper(timer):
                start = time.perf_counter()
                report = self.sweep()
                seconds = time.perf_counter() - start
            total += seconds
            rounds.append({"seconds": round(seconds, 3), **report.summary(), "statements": timer.summary()})
            print(f"  sweep {len(rounds)}: {seconds:.3f} s, {report.summary()}, statements {timer.summary()}",
                  flush=True)
            if not report.fired or len(rounds) >= 50:
                break
        fired = sum(round_["fired"] for round_ in rounds)
        self.sweeps.update({
            "due": due, "fired": fired, "sweeps_until_none_fired": len(rounds),
            "sweeps_that_fired": sum(1 for round_ in rounds if round_["fired"]),
            "first_seconds": rounds[0]["seconds"], "first_fired": rounds[0]["fired"],
            "total_seconds": round(total, 3), "rounds": rounds,
        })
        ours = self.db.value(f"""SELECT count(*) FROM {EXECUTIONS} e JOIN {SESSIONS} s ON s.id = e.session_id
                                 WHERE s.space_id = %s""", [space])
        early = self.db.value(f"""SELECT count(*) FROM {STRATEGIES} st JOIN {SESSIONS} s ON s.id = st.session_id
                                  WHERE s.space_id = %s AND st.fired_at IS NOT NULL
                                    AND (st.trigger <> 'ttl' OR st.due_at > st.fired_at)""", [space])
        self.check("sweep_fired_exactly_the_due", fired == due and ours == due and early == 0,
                   due=due, fired=fired, executions_in_space=ours, fired_not_due=early)
        # not a check: one sweep fires at most LIFECYCLE_SWEEP_BATCH x LIFECYCLE_SWEEP_MAX_BATCHES by time
        self.sweeps["first_fired_all_due"] = rounds[0]["fired"] == due

        steady = []
        for _ in range(self.sizes["steady"]):
            timer = StatementTimer()
            with connection.execute_wrapper(timer):
                start = time.perf_counter()
                report = self.sweep()
                seconds = time.perf_counter() - start
            steady.append({"seconds": round(seconds, 3), **report.summary(), "statements": timer.summary()})
            if report.fired:
                self.failures.append(f"steady-state sweep fired {len(report.fired)}")
        times = [round_["seconds"] for round_ in steady]
        self.sweeps["steady"] = {"sweeps": len(steady), "p50_seconds": round(statistics.median(times), 3),
                                 "max_seconds": max(times), "rounds": steady}
        print(f"  steady state: {self.sweeps['steady']['p50_seconds']} s p50 over {len(steady)} sweeps; "
              f"statements of the last {steady[-1]['statements']}", flush=True)

        self.explain_sweep(space)
        self.remove_space_sessions([space])

    def sweep(self):
        from lifecycle.services import sweep

        return sweep()

    def sweep_until_idle(self) -> int:
        fired = 0
        for _ in range(100):
            report = self.sweep()
            fired += len(report.fired)
            if not report.fired:
                break
        return fired

    def new_space(self, client: httpx.Client, description: str) -> str:
        answer = client.post("/api/v2/memory/new/", json={"description": description}).raise_for_status()
        return answer.json()["memorySpaceId"]

    def build_sessions(self, space: str, n: int) -> None:
        """n sessions, their strategies (see the module's docstring), in two INSERT ... SELECT; ANALYZE."""
        params = {"salt": f"{uuid.uuid4()}-", "now": datetime.now(UTC), "n": n, "space": space}
        sessions, session_seconds = self.db.run(f"""
            WITH {_BASE}
            INSERT INTO {SESSIONS} (id, space_id, participants, description, metadata, version, deduplication_key,
                                    next_sequence_id, event_count, token_count, last_event_at, next_event_trigger,
                                    next_token_trigger, created_at, updated_at, deleted_at)
            SELECT id, %(space)s, ARRAY['user-' || (g %% 1000)]::varchar[], NULL, NULL, 1, NULL,
                   events, events, events * 25,
                   CASE WHEN events > 0 THEN created + events * interval '10 seconds' END,
                   CASE WHEN g %% 10 = 7 THEN {EVENT_THRESHOLD} END, NULL,
                   created, created, NULL
              FROM base""", params)
        print(f"  built {sessions:,} sessions in {session_seconds:.1f} s", flush=True)
        strategies, strategy_seconds = self.db.run(f"""
            WITH {_BASE}
            INSERT INTO {STRATEGIES} (session_id, position, type, trigger, threshold, opts, due_at, fired_at)
            SELECT id, 0, 'soft_delete', 'ttl', {TTL_SECONDS}, NULL::jsonb,
                   created + {TTL_SECONDS} * interval '1 second', NULL::timestamptz FROM base
             UNION ALL
            SELECT id, 1, 'extract_memories', 'idle', {IDLE_SECONDS}, NULL,
                   CASE WHEN events > 0 THEN created + events * interval '10 seconds' ELSE created END
                   + {IDLE_SECONDS} * interval '1 second', NULL FROM base WHERE g %% 10 = 3
             UNION ALL
            SELECT id, 1, 'extract_memories', 'eventCount', {EVENT_THRESHOLD}, NULL, NULL, NULL
              FROM base WHERE g %% 10 = 7""", params)
        print(f"  built {strategies:,} strategies in {strategy_seconds:.1f} s", flush=True)
        _, analyze_seconds = self.db.run(f"ANALYZE {SESSIONS}, {STRATEGIES}, {EXECUTIONS}")
        sizes = {table: self.db.value("SELECT pg_total_relation_size(%s::regclass)", [table])
                 for table in (SESSIONS, STRATEGIES)}
        rows = {table: self.db.value(f"SELECT count(*) FROM {table}") for table in (SESSIONS, STRATEGIES)}
        self.build = {
            "sessions": sessions, "strategies": strategies,
            "due": self.db.value(f"""SELECT count(*) FROM {STRATEGIES}
                                     WHERE fired_at IS NULL AND due_at IS NOT NULL AND due_at <= now()"""),
            "sessions_seconds": round(session_seconds, 1), "strategies_seconds": round(strategy_seconds, 1),
            "analyze_seconds": round(analyze_seconds, 1),
            "total_seconds": round(session_seconds + strategy_seconds + analyze_seconds, 1),
            "table_rows": rows, "table_mb": {table: round(size / 2**20) for table, size in sizes.items()},
        }
        print(f"  analyzed in {analyze_seconds:.1f} s; {self.build}", flush=True)

    def explain_sweep(self, space: str) -> None:
        """EXPLAIN (ANALYZE, BUFFERS) of the sweep's statements with nothing due (now), then with the due
        strategies of `space` waiting again (their executions deleted, fired_at cleared), each in a
        transaction rolled back."""
        self.explain["steady"] = self.explain_statements()
        restored, _ = self.db.run(f"DELETE FROM {EXECUTIONS} e USING {SESSIONS} s "
                                  f"WHERE s.id = e.session_id AND s.space_id = %s", [space])
        self.db.run(f"UPDATE {STRATEGIES} st SET fired_at = NULL FROM {SESSIONS} s "
                    f"WHERE s.id = st.session_id AND s.space_id = %s AND st.fired_at IS NOT NULL", [space])
        self.db.run(f"VACUUM ANALYZE {STRATEGIES}, {EXECUTIONS}")
        self.explain["due"] = self.explain_statements()
        self.explain["due"]["restored"] = restored
        for state in ("due", "steady"):
            line = ", ".join(f"{kind} {plan['execution_ms']} ms" for kind, plan in self.explain[state].items()
                             if isinstance(plan, dict))
            print(f"  EXPLAIN ANALYZE, {state}: {line}", flush=True)

    def explain_statements(self) -> dict:
        from django.conf import settings
        from django.db import connection, transaction
        from django.utils import timezone

        from lifecycle import services

        params = {"now": timezone.now(), "batch": settings.LIFECYCLE_SWEEP_BATCH}
        statements = {
            "time_pass": services._TIME_PASS,
            "fire_by_count": services._FIRE.format(
                due=services._DUE_BY_COUNT.format(sessions=services._SESSIONS_OVER_COUNT)),
        }
        plans = {}
        for kind, sql in statements.items():
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute(f"EXPLAIN (ANALYZE, BUFFERS) {sql}", params)
                lines = [row[0] for row in cursor.fetchall()]
                transaction.set_rollback(True)
            plans[kind] = {"execution_ms": explain_ms(lines, "Execution Time"),
                           "planning_ms": explain_ms(lines, "Planning Time"), "seq_scans": seq_scans(lines),
                           "plan": lines}
        return plans

    # -- trigger to execution -----------------------------------------------------------------------------
    def trigger_benchmark(self) -> None:
        count = self.sizes["triggers"]
        with self.server.client() as client:
            space = self.new_space(client, f"{SPACE_PREFIX} triggers")
            base = f"/api/v2/memory/{space}/sessions"
            # every web worker serves a few appends first (tiktoken, database connection: not what we measure)
            warm_url = f"{base}/{client.post(f'{base}/', json={'participants': ['p']}).raise_for_status().json()['id']}"
            timing.concurrent(self.server, "POST", f"{warm_url}/events/", count=20 * self.server.workers,
                              clients=self.server.workers, expect=201, json=EVENT)
            prepared = [self.prepare(client, base) for _ in range(WARM_UP_TRIGGERS + 2 * count)]
            early = self.db.value(f"SELECT count(*) FROM {EXECUTIONS} WHERE session_id = ANY(%s)",
                                  [[uuid.UUID(sid) for sid in prepared]])
            self.check("no_execution_before_third_event", early == 0, executions=early)
            warm, sequential, burst = (prepared[:WARM_UP_TRIGGERS], prepared[WARM_UP_TRIGGERS:-count],
                                       prepared[-count:])
            with running_worker(self.server):
                for sid in warm:
                    self.third_append(client, base, sid)
                self.wait_executions(warm)
                timings = {}
                for sid in sequential:
                    timings[sid] = self.third_append(client, base, sid)
                    self.wait_executions([sid])
                self.triggers["sequential"] = self.latencies(timings)
                timings = asyncio.run(self.burst(base, burst))
                self.wait_executions(burst)
                self.triggers["burst"] = self.latencies(timings)
        for name in ("sequential", "burst"):
            print(f"  {name}: {self.triggers[name]['summary']}", flush=True)
        rows = self.db.conn.execute(
            f"""SELECT s.id, count(e.id), bool_and(e.status = 'succeeded'), bool_and(s.deleted_at IS NOT NULL)
                  FROM {SESSIONS} s LEFT JOIN {EXECUTIONS} e ON e.session_id = s.id
                 WHERE s.id = ANY(%s) GROUP BY s.id""", [[uuid.UUID(sid) for sid in prepared]]).fetchall()
        wrong = [str(sid) for sid, executions, succeeded, deleted in rows
                 if executions != 1 or not succeeded or not deleted]
        self.check("one_succeeded_execution_per_session_and_soft_deleted", len(rows) == len(prepared) and not wrong,
                   sessions=len(prepared), found=len(rows), wrong=wrong[:10])
        self.remove_space_sessions([space])

    def prepare(self, client: httpx.Client, base: str) -> str:
        """A session with the eventCount 3 strategy and two events."""
        sid = client.post(f"{base}/", json=TRIGGER_BODY).raise_for_status().json()["id"]
        for _ in range(2):
            client.post(f"{base}/{sid}/events/", json=EVENT).raise_for_status()
        return sid

    def third_append(self, client: httpx.Client, base: str, sid: str) -> tuple[float, float]:
        sent = time.time()
        answer = client.post(f"{base}/{sid}/events/", json=EVENT)
        received = time.time()
        if answer.status_code != 201 or answer.json().get("sequenceId") != 2:
            self.failures.append(f"third append {answer.status_code} {answer.text[:200]}")
        return sent, received

    async def burst(self, base: str, sessions: list[str]) -> dict:
        timings, remaining = {}, iter(sessions)

        async def client_loop(client: httpx.AsyncClient) -> None:
            for sid in remaining:
                sent = time.time()
                answer = await client.post(f"{base}/{sid}/events/", json=EVENT)
                timings[sid] = (sent, time.time())
                if answer.status_code != 201:
                    self.failures.append(f"burst third append {answer.status_code} {answer.text[:200]}")

        async with self.server.async_client(BURST_CLIENTS) as client:
            await asyncio.gather(*(client_loop(client) for _ in range(BURST_CLIENTS)))
        return timings

    def wait_executions(self, sessions: list[str]) -> None:
        ids = [uuid.UUID(sid) for sid in sessions]
        deadline = time.monotonic() + EXECUTION_TIMEOUT
        while time.monotonic() < deadline:
            done = self.db.value(f"SELECT count(*) FROM {EXECUTIONS} WHERE session_id = ANY(%s) "
                                 f"AND finished_at IS NOT NULL", [ids])
            if done >= len(ids):
                return
            time.sleep(POLL_SECONDS)
        self.failures.append(f"executions not finished within {EXECUTION_TIMEOUT} s for {len(ids)} sessions")

    def latencies(self, timings: dict) -> dict:
        rows = self.db.conn.execute(
            f"""SELECT session_id, extract(epoch FROM started_at), extract(epoch FROM finished_at),
                       extract(epoch FROM created_at)
                  FROM {EXECUTIONS} WHERE session_id = ANY(%s)""",
            [[uuid.UUID(sid) for sid in timings]]).fetchall()
        found = {str(sid): (started, finished, created) for sid, started, finished, created in rows}
        start, finish, fired, answer, from_sent = [], [], [], [], []
        for sid, (sent, received) in timings.items():
            started, finished, created = found.get(sid, (None, None, None))
            answer.append(received - sent)
            if started is None or finished is None:
                self.failures.append(f"session {sid}: no finished execution")
                continue
            start.append(float(started) - received)
            from_sent.append(float(started) - sent)
            finish.append(float(finished) - received)
            fired.append(float(created) - received)
        summary = {"start": percentiles(start), "finish": percentiles(finish), "fired": percentiles(fired),
                   "start_from_request": percentiles(from_sent), "append_answer": percentiles(answer)}
        return {"summary": summary, "sessions": len(timings)}

    # -- clean-up -----------------------------------------------------------------------------------------
    def remove_leftovers(self) -> None:
        """This benchmark's spaces (this run's or an interrupted one's): sessions by bulk SQL, then the
        spaces themselves."""
        from memoryspaces.models import MemorySpace

        spaces = [str(pk) for pk in MemorySpace.objects.filter(
            description__startswith=SPACE_PREFIX, owner__username="bench-user").values_list("pk", flat=True)]
        if spaces:
            self.remove_space_sessions(spaces)
            MemorySpace.objects.filter(pk__in=spaces).delete()

    def remove_space_sessions(self, spaces: list[str]) -> None:
        """Executions, strategies, events and sessions of the spaces, by bulk SQL; then VACUUM ANALYZE."""
        timings = {}
        owned = f"SELECT id FROM {SESSIONS} WHERE space_id = ANY(%s::uuid[])"
        for table in (EXECUTIONS, STRATEGIES, EVENTS):
            rows, seconds = self.db.run(f"DELETE FROM {table} WHERE session_id IN ({owned})", [spaces])
            timings[table] = {"rows": rows, "seconds": round(seconds, 1)}
        rows, seconds = self.db.run(f"DELETE FROM {SESSIONS} WHERE space_id = ANY(%s::uuid[])", [spaces])
        timings[SESSIONS] = {"rows": rows, "seconds": round(seconds, 1)}
        if rows > 1000:  # the big space: leave the tables as a fresh database would have them
            _, vacuum = self.db.run(f"VACUUM ANALYZE {SESSIONS}, {STRATEGIES}, {EXECUTIONS}")
            timings["vacuum_analyze_seconds"] = round(vacuum, 1)
        if rows:
            self.cleanup[f"{len(self.cleanup) + 1}"] = timings
            print(f"  removed: {timings}", flush=True)

    def check(self, name: str, ok: bool, **details) -> None:
        self.checks[name] = {"ok": bool(ok), **details}
        print(f"  check {name}: {'OK' if ok else 'WRONG'} {details}", flush=True)


def seq_scans(lines: list[str]) -> list[str]:
    """The sequential scans of a plan: "<table> <rows read> rows <ms>": what grows with the number of sessions."""
    found = []
    for number, line in enumerate(lines):
        scan = re.search(r"Seq Scan on (\w+).*actual time=[0-9.]+\.\.([0-9.]+) rows=([0-9.]+)", line)
        if scan:
            table, ms, rows = scan.group(1), float(scan.group(2)), float(scan.group(3))
            removed = next((int(m.group(1)) for follow in lines[number + 1:number + 4]
                            if (m := re.search(r"Rows Removed by Filter: (\d+)", follow))), 0)
            found.append(f"{table} {int(rows) + removed:,} rows {ms:.0f} ms")
    return found


def explain_ms(lines: list[str], label: str) -> float | None:
    for line in lines:
        found = re.match(rf"\s*{label}: ([0-9.]+) ms", line)
        if found:
            return round(float(found.group(1)), 1)
    return None


# -- the report ---------------------------------------------------------------------------------------------


def goals(report: dict) -> list[dict]:
    sweeps, triggers = report["sweeps"], report["triggers"]
    found = []

    def goal(label: str, value, target: float, unit: str) -> None:
        met = value is not None and value <= target
        found.append({"goal": label, "value": value, "target": f"<= {target} {unit}",
                      "status": "PASS" if met else "MISS"})

    goal(f"first sweep over {report['build'].get('sessions', 0):,} sessions <= {SWEEP_GOAL_SECONDS:g} s",
         sweeps.get("first_seconds"), SWEEP_GOAL_SECONDS, "s")
    goal(f"all sweeps until nothing fires <= {SWEEP_GOAL_SECONDS:g} s", sweeps.get("total_seconds"),
         SWEEP_GOAL_SECONDS, "s")
    goal(f"steady-state sweep (nothing due) p50 <= {SWEEP_GOAL_SECONDS:g} s",
         sweeps.get("steady", {}).get("p50_seconds"), SWEEP_GOAL_SECONDS, "s")
    for name in ("sequential", "burst"):
        start = triggers.get(name, {}).get("summary", {}).get("start", {})
        value = start.get("max_ms")
        goal(f"eventCount execution starts <= {START_GOAL_SECONDS:g} s after the append's answer, {name}, max",
             None if value is None else round(value / 1000, 3), START_GOAL_SECONDS, "s")
    return found


def print_report(report: dict) -> None:
    build, sweeps, triggers, machine = report["build"], report["sweeps"], report["triggers"], report["machine"]
    settings = report["settings"]
    print(f"\nlifecycle  ·  {machine['cpu_count']} CPUs, {machine['platform']}, Python {machine['python']}"
          f"  ·  database: {report['server']['database']}  ·  sweep batch {settings['LIFECYCLE_SWEEP_BATCH']}"
          f" x {settings['LIFECYCLE_SWEEP_MAX_BATCHES']}  ·  Celery concurrency {settings['CELERY_CONCURRENCY']}")
    if build:
        print(f"\nbuild (INSERT ... SELECT generate_series)  {build['sessions']:>10,} sessions "
              f"{build['sessions_seconds']:>6.1f} s   {build['strategies']:>10,} strategies "
              f"{build['strategies_seconds']:>6.1f} s   ANALYZE {build['analyze_seconds']:.1f} s   "
              f"total {build['total_seconds']:.1f} s   ({build['due']:,} due; tables {build['table_mb']} MB)")
    if sweeps.get("rounds"):
        print(f"\n{'sweep':<46} {'seconds':>8} {'fired':>7}  slowest statements (ms, calls)")
        for number, round_ in enumerate(sweeps["rounds"], 1):
            label = f"sweep {number}" + (f" ({sweeps['due']:,} due)" if number == 1 else "")
            print(f"{label:<46} {round_['seconds']:>8.3f} {round_['fired']:>7,}  {statements_line(round_)}")
        print(f"{'all sweeps until one fires nothing':<46} {sweeps['total_seconds']:>8.3f} {sweeps['fired']:>7,}"
              f"  ({sweeps['sweeps_until_none_fired']} sweeps, {sweeps['sweeps_that_fired']} fired)")
        if not sweeps["first_fired_all_due"]:
            print(f"NOTE: the first sweep fired {sweeps['first_fired']:,} of {sweeps['due']:,} due strategies: "
                  f"one sweep fires at most LIFECYCLE_SWEEP_BATCH x LIFECYCLE_SWEEP_MAX_BATCHES by time")
        steady = sweeps["steady"]
        print(f"{'steady state, nothing due: p50 / max':<46} {steady['p50_seconds']:>8.3f} {0:>7}  "
              f"max {steady['max_seconds']:.3f} s; {statements_line(steady['rounds'][-1])}")
    if sweeps.get("backlog_fired_before"):
        print(f"(before the build, {sweeps['backlog_fired_before']:,} strategies already due were fired)")
    for state, plans in report["explain"].items():
        waiting = "due strategies waiting" if state == "due" else "nothing due"
        print(f"EXPLAIN ANALYZE of the sweep's statements, {waiting}:")
        for kind, plan in plans.items():
            if isinstance(plan, dict):
                scans = "; ".join(plan["seq_scans"]) or "none"
                print(f"  {kind:<14} {plan['execution_ms']:>9} ms   sequential scans: {scans}")
    if triggers:
        print(f"\n{'trigger -> execution (eventCount 3)':<46} {'n':>4} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8}")
        for name in ("sequential", "burst"):
            summary = triggers.get(name, {}).get("summary", {})
            for figure, label in (("append_answer", "third append, its answer"),
                                  ("fired", "execution row created"),
                                  ("start", "execution started"), ("finish", "execution finished")):
                row = summary.get(figure, {})
                if row.get("n"):
                    print(f"{name + ': ' + label:<46} {row['n']:>4} {row['p50_ms']:>8.1f} {row['p95_ms']:>8.1f}"
                          f" {row['max_ms']:>8.1f}")
        print("(fired / started / finished: from the moment the append's answer was read)")
    for number, cleanup in report["cleanup"].items():
        parts = ", ".join(f"{table} {value['rows']:,} rows {value['seconds']} s" for table, value in cleanup.items()
                          if isinstance(value, dict))
        vacuum = cleanup.get("vacuum_analyze_seconds")
        print(f"clean-up {number}: {parts}" + (f"; VACUUM ANALYZE {vacuum} s" if vacuum is not None else ""))
    print()
    for goal in report["goals"]:
        print(f"{goal['status']}  {goal['goal']}: {goal['value']} (target {goal['target']})")
    wrong = {name: check for name, check in report["checks"].items() if not check["ok"]}
    print(f"checks: {len(report['checks']) - len(wrong)} of {len(report['checks'])} OK"
          + "".join(f"\n  WRONG {name}: {check}" for name, check in wrong.items()))
    if report["failures"]:
        print("failures:", *report["failures"][:20], sep="\n  ")


def statements_line(round_: dict) -> str:
    return ", ".join(f"{kind} {value['ms']:.0f} ({value['calls']})"
                     for kind, value in list(round_["statements"].items())[:4])


