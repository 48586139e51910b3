"""Long-term memory: search latency and add throughput, ours and mem0's own engine on the same data.

Data: deterministic synthetic memories (short facts about users: templates x vocabulary, seeded) over 1,000
users "u0000".."u0999", in a memory space of BENCH_MEMORIES_SMALL (10,000) memories and another of
BENCH_MEMORIES_LARGE (100,000); four planted memories answer known questions. Each distinct text is embedded
once, in this process, with the server's embedder (`get_embedder()`); the vectors are cached under
`.data/bench/` so that later runs skip it.

Loading (timed, no goal): our rows by COPY; mem0's (`mem0.Memory` with its pgvector store on the same
PostgreSQL and the same embedder) by its vector store's `insert`, in batches of 1,000, with the payload its
`add(infer=False)` writes. Both tables get their HNSW index built once, after the rows (inserting into an
HNSW index row by row is ~10x slower), then VACUUM (ANALYZE): what autovacuum does to freshly loaded rows
within a minute or two anyway. Searches timed while it works through one engine's table measure the
vacuum: an earlier version, with ANALYZE only, timed mem0's searches at 8-9 ms while autovacuum processed
its table, against 2.5-3.5 ms once it had.

Search, for each size and each scope: per user (filters {"user_id": "u0123"}) and the whole space
(filters {"user_id": "*"}), top_k 10, BENCH_SEARCHES queries after a warm-up:
  http        end to end: POST v3/memories/search/ (per user) or v1/memories/search/ (whole space: v3 wants an
              entity id and takes no wildcard)
  embed       in process: our embedding of the query
  sql         in process: `selectors.memory_search` with that vector (filters compiled beforehand)
  total       embed + sql, query by query
  mem0        in process: `mem0.Memory.search` (threshold 0, as ours has none), its embedder answering the
              query's vector from a table
  mem0_embed  in process: `mem0.Memory.search`, embedding the query (the same embedder)
The in-process ones take turns query by query, in an order rotated from one query to the next, so that the
machine's noise, and the cache misses after an embedding, fall on all of them alike. Then, per user only:
  mem0_exact  in process: `mem0.Memory.search`, vector given, on its table without the HNSW index (what its
              `hnsw: False` makes): every hit, where the index answers about 0.1 of 10 for one user. Measured
              last, after the index is dropped; reported, not a goal (those compare with mem0's default).

Also `ping`: GET v1/ping/ over HTTP (API key and space lookup, no memory work), the floor of every request.

Adds with infer=false, into the small space, BENCH_ADDS each, new texts:
  add_http_c1 / add_http_c4   POST v3/memories/add/ from 1 and 4 clients
  add_ours / add_mem0         in process, single-threaded, taking turns on the same texts:
                              `services.memory_add(infer=False)` and `mem0.Memory.add(infer=False)`
  add_conversation_ours / _mem0   the same with CONVERSATION (8) messages a call, user and assistant taking
                              turns (BENCH_ADDS / 8 calls): what storing a chat verbatim costs. mem0 embeds and
                              inserts message by message; ours embeds the call's messages in one batch and
                              stores them in one statement.
In-process rates are calls (or searches) per second of the time spent in those calls.

Checks (a failure makes the run fail): every request and call answered; every add stored all its messages; each
space and mem0 table holds the rows loaded; each planted memory is in our top 10 over HTTP, for its user and
in the whole space, at both sizes (mem0's are reported, not checked).

Sizes (environment): BENCH_MEMORIES_SMALL (10000), BENCH_MEMORIES_LARGE (100000), BENCH_SEARCHES (200),
BENCH_ADDS (500); BENCH_QUICK=1 divides the defaults by 10.
"""

import hashlib
import json
import logging
import os
import random
import shutil
import statistics
import tempfile
import time
import uuid
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from urllib.parse import unquote, urlsplit

import httpx
import numpy as np

from bench import timing
from bench.report import machine, write_results
from bench.server import DATA_DIR, Server, setup_django

RESULTS = Path(__file__).resolve().parent / "results" / "memory.json"
DEFAULT_SIZES = {"memories_small": 10_000, "memories_large": 100_000, "searches": 200, "adds": 500}
TOP_K = 10
# mem0's default threshold (0.1) drops most of one user's memories for these questions (cosine < 0.1); with
# none it answers top_k, as ours does, and does the same work
MEM0_SEARCH = {"top_k": TOP_K, "threshold": 0.0}
ADD_CLIENTS = 4
CONVERSATION = 8  # messages of an add call in the conversation measurement (user and assistant turns)
WARM_UP = 10  # in-process calls of each kind before timing
LOAD_BATCH = 1000  # rows per mem0 vector-store insert
INDEX_MEMORY = "1GB"  # maintenance_work_mem for the HNSW builds: 110,000 x 384 dimensions fit in memory
SPACE_PREFIX = "bench memory"  # descriptions of this benchmark's spaces: removed at the start and the end
MEM0_TABLES = ("bench_mem0_small", "bench_mem0_large")
BASE = "/api/v2/memory/{space}"

USERS = 1000
SEED = 20251121
DATA_VERSION = 1  # bump when the generated texts change: the vector cache is checked against them anyway

NAMES = ["Amara", "Bruno", "Chen", "Dalia", "Emeka", "Farah", "Goran", "Hana", "Ines", "Jonas", "Kiri", "Luca",
         "Mei", "Nikolai", "Olu", "Priya", "Quentin", "Rosa", "Sven", "Tariq", "Uma", "Viktor", "Wen", "Ximena",
         "Yusuf", "Zofia"]
PEOPLE = ["sister", "brother", "manager", "neighbour", "best friend", "daughter", "son", "partner", "mother",
          "father", "colleague", "landlord", "cousin", "grandmother", "flatmate"]
FOODS = ["sushi", "ramen", "lasagne", "falafel", "tacos", "pho", "risotto", "dumplings", "paella", "green curry",
         "pancakes", "goulash", "ceviche", "bibimbap", "pierogi", "shakshuka", "moussaka", "kimchi stew",
         "fish and chips", "pad thai", "lentil soup", "margherita pizza"]
DRINKS = ["oat milk lattes", "green tea", "espresso", "sparkling water", "kombucha", "rooibos", "hot chocolate",
          "mango lassi", "cold brew", "chai", "flat whites", "mint tea"]
HOBBIES = ["bouldering", "watercolour painting", "trail running", "chess", "sourdough baking", "birdwatching",
           "salsa dancing", "woodworking", "sailing", "knitting", "film photography", "gardening",
           "playing the cello", "kayaking", "pottery", "board games", "astronomy", "road cycling", "yoga",
           "fly fishing", "rock climbing", "calligraphy"]
CITIES = ["Lisbon", "Osaka", "Montreal", "Nairobi", "Krakow", "Valparaiso", "Tallinn", "Hanoi", "Seville",
          "Dublin", "Cape Town", "Reykjavik", "Porto", "Melbourne", "Vienna", "Bogota", "Edinburgh", "Istanbul",
          "Kyoto", "Oslo", "Marrakesh", "Vancouver"]
JOBS = ["nurse", "data engineer", "primary school teacher", "architect", "electrician", "product manager", "chef",
        "lawyer", "pharmacist", "graphic designer", "accountant", "airline pilot", "physiotherapist",
        "journalist", "civil engineer", "veterinarian"]
LANGUAGES = ["Spanish", "Japanese", "Portuguese", "German", "Korean", "Italian", "Swahili", "Polish", "Arabic",
             "Dutch", "Mandarin", "Greek"]
PETS = ["a beagle", "two cats", "a parrot", "a rabbit", "a golden retriever", "an iguana", "a hamster",
        "three goldfish", "a border collie", "a tabby cat"]
ALLERGENS = ["peanuts", "shellfish", "cat hair", "pollen", "lactose", "gluten", "sesame", "kiwi", "dust mites"]
MUSIC = ["jazz", "synth-pop", "baroque music", "hip hop", "bossa nova", "heavy metal", "folk", "techno", "opera",
         "reggae", "indie rock", "lo-fi beats"]
TOOLS = ["Notion", "a paper notebook", "Google Calendar", "Obsidian", "Trello", "a whiteboard", "Todoist",
         "spreadsheets", "sticky notes", "Apple Reminders"]
DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
PARTS = ["morning", "afternoon", "evening"]
MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
          "November", "December"]

FACTS = [
    "Prefers {drink} in the {part}, before {hobby}.",
    "Loves {food}, especially on {day}s with their {person}.",
    "Found out about an allergy to {allergen} in {month} {year}.",
    "Works as a {job} in {city} since {year}.",
    "Moved to {city} in {month} {year}.",
    "Has {pet} called {name}, adopted in {year}.",
    "Spends {day} {part}s {hobby} with their {person}.",
    "Is learning {language} before a trip to {city} in {month}.",
    "Their {person} {name} lives in {city}.",
    "Keeps track of tasks in {tool} and reviews them on {day} {part}s.",
    "Listens to {music} while {hobby} on {day}s.",
    "Plans to visit {city} with {name} in {month}.",
    "Stopped eating {food} in {month} {year}.",
    "Has been into {hobby} for {n} years, since living in {city}.",
    "The birthday of their {person} {name} is on {day}, {month} {n}.",
    "Wants to cook {food} for {name}'s birthday in {month}.",
    "Started a new job as a {job} in {month} {year}.",
    "Drinks {drink} after {hobby} on {day}s.",
    "Speaks {language} with their {person} {name}.",
    "Is saving money for a {n}-week trip to {city}.",
    "Uses {tool} to plan meals such as {food} for {day}.",
    "Dislikes {music}, but their {person} {name} loves it.",
    "Reads about {hobby} on the train to {city}.",
    "Met {name} at a {hobby} class in {city}.",
    "Has a {part} meeting with their {person} every {day}.",
]
QUESTIONS = [
    "What does the user like to drink in the {part}?",
    "Which food does the user enjoy?",
    "Where does the user work and what is their job?",
    "Does the user have any allergies?",
    "What pets does the user have?",
    "Which languages is the user learning?",
    "Who in their family lives in {city}?",
    "What does the user do on {day}s?",
    "When is the trip to {city} planned?",
    "What kind of music does the user listen to?",
    "How does the user keep track of tasks?",
    "Is the user allergic to {allergen}?",
    "Does the user like {food}?",
    "What happened in {month} {year}?",
    "Which hobbies does the user have?",
    "Who is {name}?",
]
# (user, memory, question): memories the search must find, for their user and in the whole space. They are
# the first rows, so every size holds them; their key words appear nowhere else.
PLANTED = [
    ("u0042", "Keeps the spare passport in the blue folder behind the piano.", "Where is the spare passport?"),
    ("u0137", "Their tortoise Zebulon only eats dandelion leaves.", "What does the tortoise Zebulon eat?"),
    ("u0500", "The wifi password at the beach house is heron-lantern-42.", "wifi password of the beach house"),
    ("u0999", "Is allergic to penicillin and must never be given amoxicillin.",
     "Is the user allergic to penicillin?"),
]

# (measurement or ratio, figure, comparison, target, label)
GOALS = [
    ("large_user_sql", "p50_ms", "<=", 15, "per-user search p50 <= 15 ms server side (SQL) at large size"),
    ("large_space_sql", "p50_ms", "<=", 15, "whole-space search p50 <= 15 ms server side (SQL) at large size"),
    ("large_user_sql/mem0", "p50", "<=", 0.5, "per-user search p50 <= 1/2 of mem0's at large size"),
    ("large_space_sql/mem0", "p50", "<=", 0.5, "whole-space search p50 <= 1/2 of mem0's at large size"),
    ("add_ours/add_mem0", "rate", ">=", 2, "add(infer=false) >= 2x mem0's throughput, one message a call"),
    ("add_conversation_ours/add_conversation_mem0", "rate", ">=", 2,
     f"add(infer=false) >= 2x mem0's throughput, {CONVERSATION} messages a call"),
]
SEARCH_ROWS = [
    ("http", "HTTP end to end"),
    ("embed", "ours: query embedding"),
    ("sql", "ours: memory_search (SQL)"),
    ("total", "ours: embedding + SQL"),
    ("mem0", "mem0: Memory.search, vector given"),
    ("mem0_embed", "mem0: Memory.search, embedding"),
    ("mem0_exact", "mem0: vector given, no HNSW index"),  # per user only, see Bench.search_mem0_exact
]
# (measurement, label, memories each call stores)
ADD_ROWS = [
    ("add_http_c1", "HTTP, 1 client", 1),
    (f"add_http_c{ADD_CLIENTS}", f"HTTP, {ADD_CLIENTS} clients", 1),
    ("add_ours", "ours in process: memory_add", 1),
    ("add_mem0", "mem0 in process: Memory.add", 1),
    ("add_conversation_ours", f"ours, {CONVERSATION} messages a call", CONVERSATION),
    ("add_conversation_mem0", f"mem0, {CONVERSATION} messages a call", CONVERSATION),
]
# (ratio name, ours, mem0, figure): ours / mem0, p50 latencies or add rates
RATIOS = [
    *((f"{size}_{scope}_{ours}/{mem0}", f"{size}_{scope}_{ours}", f"{size}_{scope}_{mem0}", "p50")
      for size in ("small", "large") for scope in ("user", "space")
      for ours, mem0 in (("sql", "mem0"), ("total", "mem0_embed"), ("http", "mem0_embed"))),
    *((f"{name}/add_mem0", name, "add_mem0", "rate") for name in ("add_http_c1", f"add_http_c{ADD_CLIENTS}",
                                                                   "add_ours")),
    ("add_conversation_ours/add_conversation_mem0", "add_conversation_ours", "add_conversation_mem0", "rate"),
    *((f"{size}_user_sql/mem0_exact", f"{size}_user_sql", f"{size}_user_mem0_exact", "p50")
      for size in ("small", "large")),
]


def run(server: Server) -> bool:
    sizes = read_sizes()
    print(f"\n== memory ({'quick' if sizes['quick'] else 'full'}): {sizes}", flush=True)
    scratch = Path(tempfile.mkdtemp(prefix="bench-mem0-"))
    setup_django_with_mem0(server, scratch)
    from django.conf import settings

    from mem0_compat.embeddings import get_embedder

    embedder = get_embedder()
    database = Database(server.database_url)
    bench = Bench(server, sizes, embedder, database, scratch)
    try:
        bench.remove_leftovers()
        bench.measure()
    finally:
        bench.remove_leftovers()
        bench.close()
        database.close()
        shutil.rmtree(scratch, ignore_errors=True)

    report = {
        "benchmark": "memory",
        "timestamp": datetime.now(UTC).isoformat(timespec="seconds"),
        "sizes": sizes,
        "server": {"workers": server.workers, "database": server.database},
        "machine": machine(),
        "embedder": {"name": embedder.name, "dimensions": embedder.dimensions,
                     "hnsw_ef_search": settings.HNSW_EF_SEARCH, "search_text_weight": settings.SEARCH_TEXT_WEIGHT},
        "vectors": bench.vector_info,
        "loads": bench.loads,
        "results": bench.results,
        "ratios": ratios(bench.results),
        "checks": bench.checks,
        "failed_requests": bench.failures,
    }
    report["goals"] = [goal_result(report, *goal) for goal in GOALS]
    print_report(report)
    write_results(RESULTS, report)
    return not bench.failures and all(check["ok"] for check in bench.checks.values())


def read_sizes() -> dict:
    quick = os.environ.get("BENCH_QUICK") == "1"
    sizes = {name: int(os.environ.get(f"BENCH_{name.upper()}", default // 10 if quick else default))
             for name, default in DEFAULT_SIZES.items()}
    return {**sizes, "quick": quick}


def setup_django_with_mem0(server: Server, scratch: Path) -> None:
    """The server's settings; mem0 is told, before its first import, to stay offline and keep its files in
    `scratch`."""
    setup_django(server, MEM0_TELEMETRY="False", MEM0_DIR=str(scratch))
    logging.getLogger("mem0").setLevel(logging.WARNING)  # a line per insert batch


# -- data ----------------------------------------------------------------------------------------------------


def fill(template: str, rng: random.Random) -> str:
    return template.format(
        name=rng.choice(NAMES), person=rng.choice(PEOPLE), food=rng.choice(FOODS), drink=rng.choice(DRINKS),
        hobby=rng.choice(HOBBIES), city=rng.choice(CITIES), job=rng.choice(JOBS), language=rng.choice(LANGUAGES),
        pet=rng.choice(PETS), allergen=rng.choice(ALLERGENS), music=rng.choice(MUSIC), tool=rng.choice(TOOLS),
        day=rng.choice(DAYS), part=rng.choice(PARTS), month=rng.choice(MONTHS), year=rng.randint(2009, 2025),
        n=rng.randint(2, 15))


def memories(count: int) -> list[tuple[str, str]]:
    """(user_id, text) rows; those of a smaller count are the first rows of a larger one."""
    rng = random.Random(SEED)
    rows = [(user, text) for user, text, _ in PLANTED]
    for index in range(len(rows), count):
        rows.append((f"u{index % USERS:04d}", fill(rng.choice(FACTS), rng)))
    return rows[:count]


def user_questions(count: int) -> list[tuple[str, str]]:
    rng = random.Random(SEED + 1)
    return [(f"u{rng.randrange(USERS):04d}", fill(rng.choice(QUESTIONS), rng)) for _ in range(count)]


def space_questions(count: int) -> list[tuple[str, str]]:
    rng = random.Random(SEED + 2)
    return [("*", fill(rng.choice(QUESTIONS), rng)) for _ in range(count)]


def new_facts(count: int, taken: set[str]) -> list[tuple[str, str]]:
    """`count` (user_id, text) rows with texts found neither in `taken` nor twice: adds that all store."""
    rng = random.Random(SEED + 3)
    rows, seen = [], set(taken)
    while len(rows) < count:
        text = fill(rng.choice(FACTS), rng)
        if text not in seen:
            seen.add(text)
            rows.append((f"u{rng.randrange(USERS):04d}", text))
    return rows


def cached_vectors(embedder, texts: list[str]) -> tuple[np.ndarray, dict]:
    """The vectors of the distinct `texts`, in order: from `.data/bench/memory-<embedder>-<seed>.npy` when it
    holds them (it is checked against the texts), the missing ones embedded now and added to it."""
    stem = DATA_DIR / f"memory-{embedder.name}-{embedder.dimensions}-seed{SEED}-v{DATA_VERSION}"
    vectors_file, texts_file = stem.with_suffix(".npy"), stem.with_suffix(".json")
    cached = np.zeros((0, embedder.dimensions), np.float32)
    if vectors_file.exists() and texts_file.exists():
        known = json.loads(texts_file.read_text())
        cached = np.load(vectors_file)
        if len(known) != len(cached) or texts[:len(known)] != known[:len(texts)]:
            cached = cached[:0]  # other texts: start again
    start = time.perf_counter()
    missing = texts[len(cached):]
    parts, done, chunk = [cached[:len(texts)]], 0, 8192
    for offset in range(0, len(missing), chunk):
        parts.append(embedder.embed(missing[offset:offset + chunk]))
        done += len(parts[-1])
        rate = done / (time.perf_counter() - start)
        print(f"  embedded {done:,} of {len(missing):,} new texts ({rate:,.0f}/s)", flush=True)
        if done == len(missing) or done % (chunk * 2) == 0:  # keep what is done if interrupted
            save = np.concatenate(parts)
            np.save(vectors_file, save)
            texts_file.write_text(json.dumps(texts[:len(save)]))
    vectors = np.concatenate(parts)
    seconds = time.perf_counter() - start
    info = {"distinct_texts": len(texts), "from_cache": len(texts) - len(missing), "embedded": len(missing),
            "embed_seconds": round(seconds, 1),
            "embed_per_s": round(len(missing) / seconds) if missing else None, "cache": str(vectors_file.name)}
    return vectors, info


# -- the database ---------------------------------------------------------------------------------------------


class Database:
    """A psycopg connection of our own (autocommit) for COPY, index builds and clean-up."""

    def __init__(self, url: str):
        import psycopg
        from pgvector.psycopg import register_vector

        self.url = url
        self.conn = psycopg.connect(url, autocommit=True)
        register_vector(self.conn)

    def close(self) -> None:
        self.conn.close()

    def count(self, sql: str, params=()) -> int:
        return self.conn.execute(sql, params).fetchone()[0]

    def build_index(self, create) -> float:
        """Seconds to build an HNSW index by calling `create`, with room to build it in memory."""
        from psycopg import sql

        start = time.perf_counter()
        self.conn.execute(sql.SQL("SET maintenance_work_mem = {}").format(sql.Literal(INDEX_MEMORY)))
        create()
        self.conn.execute("RESET maintenance_work_mem")
        return time.perf_counter() - start


# -- the benchmark -------------------------------------------------------------------------------------------


class Bench:
    def __init__(self, server: Server, sizes: dict, embedder, database: Database, scratch: Path):
        self.server, self.sizes, self.embedder, self.db, self.scratch = server, sizes, embedder, database, scratch
        self.results: dict = {}
        self.loads: dict = {}
        self.checks: dict = {}
        self.failures: list[str] = []
        self.vector_info: dict = {}
        self.mem0_instances: list = []

    # -- the run
    def measure(self) -> None:
        small, large = self.sizes["memories_small"], self.sizes["memories_large"]
        rows = memories(max(small, large))
        distinct = list(dict.fromkeys(text for _, text in rows))
        position = {text: index for index, text in enumerate(distinct)}
        vectors, self.vector_info = cached_vectors(self.embedder, distinct)
        row_vectors = [vectors[position[text]] for _, text in rows]
        queries = {"user": user_questions(self.sizes["searches"]),
                   "space": space_questions(self.sizes["searches"])}
        with self.server.client() as client:
            for size, count in (("small", small), ("large", large)):
                print(f"  -- {size}: {count:,} memories", flush=True)
                space = self.new_space(client, f"{SPACE_PREFIX} {size} {count}")
                mem0, mem0_embedder = self.mem0(MEM0_TABLES[size == "large"])
                self.load_ours(size, space, rows[:count], row_vectors[:count])
                self.load_mem0(size, mem0, rows[:count], row_vectors[:count])
                if size == "small":
                    self.warm_up(space)
                    ping = f"{BASE.format(space=space.pk)}/v1/ping/"
                    self.measured("ping", timing.sequential(client, "GET", ping, count=self.sizes["searches"],
                                                            expect=200), [])
                for scope in ("user", "space"):
                    self.search_http(client, size, scope, space, queries[scope])
                    self.search_in_process(size, scope, space, mem0, mem0_embedder, queries[scope])
                self.check_planted(client, size, space, mem0)
                if size == "small":
                    taken = {text for _, text in rows[:count]}
                    self.adds(space, mem0, taken, count)
                self.search_mem0_exact(size, mem0, mem0_embedder, queries["user"])

    def new_space(self, client: httpx.Client, description: str):
        from memoryspaces.models import MemorySpace

        answer = client.post("/api/v2/memory/new/", json={"description": description}).raise_for_status()
        return MemorySpace.objects.get(pk=answer.json()["memorySpaceId"])

    def mem0(self, table: str):
        memory = mem0_engine(self.db.url, table, self.scratch, self.embedder)
        self.mem0_instances.append(memory)
        return memory, memory.embedding_model

    def close(self) -> None:
        for memory in self.mem0_instances:
            memory.close()
            memory.vector_store.connection_pool.close()

    # -- loading
    def load_ours(self, size: str, space, rows: list, vectors: list) -> None:
        from django.conf import settings

        from mem0_compat.services import text_hash
        from mem0_compat.vector_column import HNSW_INDEX, TABLE, set_dimensions

        start = time.perf_counter()
        self.db.conn.execute(f"DROP INDEX IF EXISTS {HNSW_INDEX}")
        stamp = datetime.now(UTC)
        columns = "id, space_id, memory, hash, embedding, user_id, categories, immutable, created_at, updated_at"
        with self.db.conn.cursor() as cursor, cursor.copy(
                f"COPY {TABLE} ({columns}) FROM STDIN (FORMAT BINARY)") as copy:
            copy.set_types(["uuid", "uuid", "text", "varchar", "vector", "varchar", "varchar[]", "bool",
                            "timestamptz", "timestamptz"])
            for (user, text), vector in zip(rows, vectors, strict=True):
                copy.write_row((uuid.uuid4(), space.pk, text, text_hash(text), vector, user, [], False, stamp,
                                stamp))
        inserted = time.perf_counter() - start
        index = self.db.build_index(lambda: set_dimensions(settings.EMBEDDING_DIMENSIONS, self.db.conn))
        self.db.conn.execute(f"VACUUM (ANALYZE) {TABLE}")
        table_rows = self.db.count(f"SELECT count(*) FROM {TABLE}")
        self.record_load(f"ours_{size}", len(rows), inserted, index, time.perf_counter() - start, table_rows)
        stored = self.db.count(f"SELECT count(*) FROM {TABLE} WHERE space_id = %s", [space.pk])
        self.check(f"{size}_ours_loaded", stored == len(rows), expected=len(rows), stored=stored)

    def load_mem0(self, size: str, memory, rows: list, vectors: list) -> None:
        """Its table and indexes made by mem0 itself; the rows through its store's `insert`, with the payload
        `Memory.add(infer=False)` writes; its HNSW index dropped meanwhile and rebuilt with mem0's own DDL."""
        from mem0.utils.lemmatization import lemmatize_for_bm25
        from psycopg import sql

        store = memory.vector_store
        start = time.perf_counter()
        store.create_col()
        index_name = sql.Identifier(f"{store.collection_name}_hnsw_idx")
        self.db.conn.execute(sql.SQL("DROP INDEX IF EXISTS {}").format(index_name))
        stamp = datetime.now(UTC).isoformat()
        for offset in range(0, len(rows), LOAD_BATCH):
            batch = rows[offset:offset + LOAD_BATCH]
            payloads = [{"user_id": user, "role": "user", "data": text, "hash": hashlib.md5(text.encode()).hexdigest(),
                         "created_at": stamp, "updated_at": stamp, "text_lemmatized": lemmatize_for_bm25(text)}
                        for user, text in batch]
            store.insert(vectors=[vector.tolist() for vector in vectors[offset:offset + len(batch)]],
                         payloads=payloads, ids=[str(uuid.uuid4()) for _ in batch])
        inserted = time.perf_counter() - start
        create = sql.SQL("CREATE INDEX IF NOT EXISTS {} ON {} USING hnsw (vector vector_cosine_ops)").format(
            index_name, sql.Identifier(store.collection_name))  # as PGVector.create_col makes it
        index = self.db.build_index(lambda: self.db.conn.execute(create))
        self.db.conn.execute(sql.SQL("VACUUM (ANALYZE) {}").format(sql.Identifier(store.collection_name)))
        table_rows = self.db.count(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(store.collection_name)))
        self.record_load(f"mem0_{size}", len(rows), inserted, index, time.perf_counter() - start, table_rows)
        self.check(f"{size}_mem0_loaded", table_rows == len(rows), expected=len(rows), stored=table_rows)

    def record_load(self, name: str, rows: int, inserted: float, index: float, total: float, table: int) -> None:
        self.loads[name] = {"rows": rows, "insert_seconds": round(inserted, 1), "index_seconds": round(index, 1),
                            "seconds": round(total, 1), "rows_per_s": round(rows / total), "table_rows": table}
        print(f"  load {name}: {self.loads[name]}", flush=True)

    # -- search
    def warm_up(self, space) -> None:
        """Every worker loads its embedder and connects on its first requests: not what we measure."""
        base = BASE.format(space=space.pk)
        body = {"query": "warm-up", "filters": {"user_id": "u0001"}, "top_k": TOP_K}
        for url in (f"{base}/v3/memories/search/", f"{base}/v1/memories/search/"):
            timing.concurrent(self.server, "POST", url, count=5 * self.server.workers, clients=self.server.workers,
                              expect=200, json=body)

    def search_http(self, client: httpx.Client, size: str, scope: str, space, queries: list) -> None:
        route = "v3" if scope == "user" else "v1"
        url = f"{BASE.format(space=space.pk)}/{route}/memories/search/"
        each = [{"json": {"query": query, "filters": {"user_id": user}, "top_k": TOP_K}} for user, query in queries]
        timing.sequential(client, "POST", url, each=each[:WARM_UP], expect=200)
        timings = timing.sequential(client, "POST", url, each=each, expect=200, keep=True)
        self.measured(f"{size}_{scope}_http", timings, [len(answer["results"]) for answer in timings.answers])

    def search_in_process(self, size: str, scope: str, space, mem0, mem0_embedder, queries: list) -> None:
        from mem0_compat.filters import compile_filters

        names = ("embed", "sql", "total", "mem0", "mem0_embed")
        timings = {name: timing.Timings() for name in names}
        found = {name: [] for name in names}
        for number, (user, query) in enumerate(queries[:WARM_UP] + queries):
            filters = compile_filters({"user_id": user}, loc=["body", "filters"])
            seconds, counts = {}, {}
            try:
                query_vector = self.embedder.embed([query])[0]  # the one mem0 is given
                steps = [partial(self.search_ours, space, query, filters),
                         partial(self.search_mem0, "mem0", mem0, mem0_embedder, user, query, query_vector),
                         partial(self.search_mem0, "mem0_embed", mem0, mem0_embedder, user, query, None)]
                # Each goes first, second and last in turn: what ran just before (an embedding leaves the CPU
                # caches full of its weights) weighs on all three alike.
                for step in steps[number % 3:] + steps[:number % 3]:
                    step(seconds, counts)
            except Exception as error:  # noqa: BLE001 - recorded as a failure of the measurement
                self.failures.append(f"{size}_{scope} in process: {error!r}"[:300])
                continue
            if number < WARM_UP:
                continue
            for name in names:
                timings[name].latencies.append(seconds[name])
                if name in counts:
                    found[name].append(counts[name])
        for name in names:
            timings[name].elapsed = sum(timings[name].latencies)
            self.measured(f"{size}_{scope}_{name}", timings[name], found[name])

    def search_ours(self, space, query: str, filters, seconds: dict, counts: dict) -> None:
        from mem0_compat.selectors import memory_search

        start = time.perf_counter()
        vector = self.embedder.embed([query])[0]
        embedded = time.perf_counter()
        hits = memory_search(space=space, query_vector=vector, query=query, filters=filters, top_k=TOP_K)
        searched = time.perf_counter()
        seconds.update(embed=embedded - start, sql=searched - embedded, total=searched - start)
        counts.update(sql=len(hits), total=len(hits))

    @staticmethod
    def search_mem0(name: str, mem0, mem0_embedder, user: str, query: str, vector, seconds: dict,
                    counts: dict) -> None:
        """`mem0.Memory.search`, given the query's `vector` or (None) embedding it."""
        mem0_embedder.precomputed = None if vector is None else {query: vector}
        try:
            start = time.perf_counter()
            counts[name] = len(mem0.search(query, filters={"user_id": user}, **MEM0_SEARCH)["results"])
            seconds[name] = time.perf_counter() - start
        finally:
            mem0_embedder.precomputed = None

    def search_mem0_exact(self, size: str, mem0, mem0_embedder, queries: list) -> None:
        """`{size}_user_mem0_exact`: mem0's per-user search as its `hnsw: False` configures it, its table without
        the HNSW index. PostgreSQL then filters every row by user and returns every hit, where the index
        answers about 0.1 of 10. Its index is dropped for this, the size's last measurement (after the adds,
        which it would make cheaper). Reported beside the goals, which are judged against mem0's default."""
        from psycopg import sql

        index = sql.Identifier(f"{mem0.vector_store.collection_name}_hnsw_idx")
        self.db.conn.execute(sql.SQL("DROP INDEX {}").format(index))
        timings, found = timing.Timings(), []
        for number, (user, query) in enumerate(queries[:WARM_UP] + queries):
            seconds, counts = {}, {}
            try:
                self.search_mem0("mem0_exact", mem0, mem0_embedder, user, query, self.embedder.embed([query])[0],
                                 seconds, counts)
            except Exception as error:  # noqa: BLE001 - recorded as a failure of the measurement
                self.failures.append(f"{size}_user_mem0_exact: {error!r}"[:300])
                continue
            if number >= WARM_UP:
                timings.latencies.append(seconds["mem0_exact"])
                found.append(counts["mem0_exact"])
        timings.elapsed = sum(timings.latencies)
        self.measured(f"{size}_user_mem0_exact", timings, found)

    def check_planted(self, client: httpx.Client, size: str, space, mem0) -> None:
        base = BASE.format(space=space.pk)
        for user, text, question in PLANTED:
            for scope, route, who in (("user", "v3", user), ("space", "v1", "*")):
                body = {"query": question, "filters": {"user_id": who}, "top_k": TOP_K}
                answer = client.post(f"{base}/{route}/memories/search/", json=body)
                ours = [hit["memory"] for hit in answer.json()["results"]] if answer.status_code == 200 else []
                theirs = [hit["memory"] for hit in mem0.search(question, filters={"user_id": who}, **MEM0_SEARCH)
                          ["results"]]
                self.check(f"{size}_planted_{scope}_{user}", text in ours, question=question,
                           rank=ours.index(text) + 1 if text in ours else None,
                           mem0_rank=theirs.index(text) + 1 if text in theirs else None)

    # -- adds
    def adds(self, space, mem0, taken: set[str], loaded: int) -> None:
        """New texts (none loaded, none twice) for each measurement and each warm-up, so that every add stores."""
        count, workers = self.sizes["adds"], self.server.workers
        singles = 3 * count + 2 * workers + WARM_UP
        facts = new_facts(singles + (count // CONVERSATION + WARM_UP) * CONVERSATION, taken)
        facts, more = facts[:singles], facts[singles:]  # one message a call; CONVERSATION messages a call
        url = f"{BASE.format(space=space.pk)}/v3/memories/add/"
        bodies = [{"json": {"messages": [{"role": "user", "content": text}], "user_id": user, "infer": False}}
                  for user, text in facts]
        c1, c4, in_process = bodies[:count], bodies[count:2 * count], facts[2 * count:3 * count]
        warm, warm_in_process = bodies[3 * count:3 * count + 2 * workers], facts[3 * count + 2 * workers:]
        timing.concurrent(self.server, "POST", url, each=warm, clients=workers, expect=200)
        for name, each, clients in (("add_http_c1", c1, 1), (f"add_http_c{ADD_CLIENTS}", c4, ADD_CLIENTS)):
            timings = timing.concurrent(self.server, "POST", url, each=each, clients=clients, expect=200, keep=True)
            self.measured(name, timings, [len(answer["results"]) for answer in timings.answers])
        single = [[{"role": "user", "content": text}] for _, text in warm_in_process + in_process]
        self.adds_in_process("add", space, mem0, [user for user, _ in warm_in_process + in_process], single)
        conversations = [[{"role": ("user", "assistant")[index % 2], "content": text}
                          for index, (_, text) in enumerate(more[start:start + CONVERSATION])]
                         for start in range(0, len(more), CONVERSATION)]
        self.adds_in_process("add_conversation", space, mem0, [more[start][0] for start in
                                                               range(0, len(more), CONVERSATION)], conversations)
        for name, _, per_call in ADD_ROWS:
            counts = self.results.get(name, {}).get("results", {})
            self.check(f"{name}_stored_all", counts.get("min") == counts.get("max") == per_call, results=counts)
        # the warm-up adds landed in the space too; the in-process warm-up was written to both engines
        expected = loaded + len(warm) + len(c1) + len(c4) + WARM_UP + len(in_process) + len(more)
        stored_rows = self.db.count("SELECT count(*) FROM mem0_compat_memory WHERE space_id = %s", [space.pk])
        self.check("small_space_after_adds", stored_rows == expected, expected=expected, stored=stored_rows)

    def adds_in_process(self, name: str, space, mem0, users: list[str], calls: list[list[dict]]) -> None:
        """`services.memory_add(infer=False)` and `mem0.Memory.add(infer=False)` taking turns on the same
        messages (the first WARM_UP calls not timed): `{name}_ours` and `{name}_mem0`."""
        from mem0_compat.services import memory_add

        ours_name, mem0_name = f"{name}_ours", f"{name}_mem0"
        timings = {ours_name: timing.Timings(), mem0_name: timing.Timings()}
        stored = {ours_name: [], mem0_name: []}
        for number, (user, messages) in enumerate(zip(users, calls, strict=True)):
            try:
                start = time.perf_counter()
                ours = memory_add(space=space, messages=messages, scope={"user_id": user}, infer=False)
                added = time.perf_counter()
                theirs = mem0.add(messages, user_id=user, infer=False)["results"]
                mem0_added = time.perf_counter()
            except Exception as error:  # noqa: BLE001 - recorded as a failure of the measurement
                self.failures.append(f"{name} in process: {error!r}"[:300])
                continue
            if number < WARM_UP:
                continue
            for measured, seconds, results in ((ours_name, added - start, ours), (mem0_name, mem0_added - added,
                                                                                   theirs)):
                timings[measured].latencies.append(seconds)
                stored[measured].append(len(results))
        for measured, each in timings.items():
            each.elapsed = sum(each.latencies)
            self.measured(measured, each, stored[measured])

    # -- bookkeeping
    def measured(self, name: str, timings: timing.Timings, results: list[int]) -> None:
        if not timings.latencies:
            self.failures.append(f"{name}: nothing measured")
            return
        summary = timings.summary()
        summary["results"] = {"mean": round(statistics.fmean(results), 2) if results else None,
                              "min": min(results, default=None), "max": max(results, default=None)}
        self.results[name] = summary
        self.failures.extend(f"{name}: {failure}" for failure in timings.failures[:5])
        print(f"  {name}: {summary}", flush=True)

    def check(self, name: str, ok: bool, **details) -> None:
        self.checks[name] = {"ok": bool(ok), **details}
        if not ok:
            print(f"  check {name}: WRONG {details}", flush=True)

    def remove_leftovers(self) -> None:
        """This benchmark's spaces (with their memories) and mem0 tables, from this run or an interrupted
        one. The memory table, when that leaves it empty, is truncated: its HNSW index starts afresh."""
        from django.conf import settings
        from django.db import connection, transaction
        from psycopg import sql

        from mem0_compat.vector_column import HNSW_INDEX, TABLE, set_dimensions
        from memoryspaces.models import MemorySpace

        MemorySpace.objects.filter(description__startswith=SPACE_PREFIX, owner__username="bench-user").delete()
        for table in MEM0_TABLES:
            for name in (table, f"{table}_entities"):
                self.db.conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(sql.Identifier(name)))
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(f"LOCK TABLE {TABLE} IN ACCESS EXCLUSIVE MODE")
            cursor.execute(f"SELECT NOT EXISTS (SELECT 1 FROM {TABLE})")
            if cursor.fetchone()[0]:
                cursor.execute(f"TRUNCATE {TABLE}")
        if not self.db.count("SELECT count(*) FROM pg_indexes WHERE indexname = %s", [HNSW_INDEX]):
            self.db.build_index(lambda: set_dimensions(settings.EMBEDDING_DIMENSIONS, self.db.conn))  # interrupted


def mem0_engine(database_url: str, table: str, scratch: Path, embedder):
    """mem0's own engine: `mem0.Memory` with its pgvector store (collection `table`) on our PostgreSQL, and our
    embedder in place of the one its config names (a placeholder: nothing reaches OpenAI; the LLM is unused,
    infer=False). The caller closes it."""
    from django.conf import settings
    from mem0 import Memory

    url = urlsplit(database_url)
    store = {"dbname": url.path.lstrip("/"), "user": unquote(url.username), "password": unquote(url.password),
             "host": url.hostname, "port": url.port, "collection_name": table,
             "embedding_model_dims": settings.EMBEDDING_DIMENSIONS, "hnsw": True}
    memory = Memory.from_config({
        "vector_store": {"provider": "pgvector", "config": store},
        "embedder": {"provider": "openai",
                     "config": {"api_key": "unused", "embedding_dims": settings.EMBEDDING_DIMENSIONS}},
        "llm": {"provider": "openai", "config": {"api_key": "unused"}},
        "history_db_path": str(scratch / f"{table}-history.db"),
    })
    memory.embedding_model = SameEmbedder(embedder)
    return memory


class SameEmbedder:
    """mem0's embedder interface (`embed`, `embed_batch`) over our embedder: both engines pay the same
    embedding. While `precomputed` is set, a text found in it gets its vector from there, so that a search can
    be timed without embedding its query."""

    def __init__(self, embedder):
        self._embedder = embedder
        self.precomputed: dict | None = None

    def embed(self, text, memory_action=None) -> list[float]:
        if self.precomputed is not None and text in self.precomputed:
            return self.precomputed[text].tolist()
        return self._embedder.embed([text])[0].tolist()

    def embed_batch(self, texts, memory_action="add") -> list[list[float]]:
        return self._embedder.embed(list(texts)).tolist()


# -- the report ---------------------------------------------------------------------------------------------


def ratios(results: dict) -> dict:
    """ours / mem0: of p50 latencies (below 1 is faster) or of rates (above 1 is faster)."""
    found = {}
    for name, ours, mem0, figure in RATIOS:
        if ours in results and mem0 in results:
            key = "p50_ms" if figure == "p50" else "requests_per_s"
            found[name] = {"figure": figure, "ours": results[ours][key], "mem0": results[mem0][key],
                           "ratio": round(results[ours][key] / results[mem0][key], 3),
                           "ours_hits": results[ours]["results"]["mean"],
                           "mem0_hits": results[mem0]["results"]["mean"]}
    return found


def goal_result(report: dict, name: str, figure: str, comparison: str, target: float, label: str) -> dict:
    if "/" in name:
        value = report["ratios"].get(name, {}).get("ratio")
    else:
        value = report["results"].get(name, {}).get(figure)
    met = value is not None and (value <= target if comparison == "<=" else value >= target)
    return {"goal": label, "measurement": name, "figure": figure, "target": f"{comparison} {target}",
            "value": value, "status": "PASS" if met else "MISS"}


def print_report(report: dict) -> None:
    results, sizes, machine = report["results"], report["sizes"], report["machine"]
    embedder = report["embedder"]
    print(f"\nmemory  ·  {machine['cpu_count']} CPUs, {machine['platform']}, Python {machine['python']}"
          f"  ·  gunicorn {report['server']['workers']} workers  ·  database: {report['server']['database']}"
          f"  ·  embedder {embedder['name']} ({embedder['dimensions']} dims)  ·  top_k {TOP_K}")
    header = f"{'':<36} {'n':>5} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'per s':>7} {'hits':>5}"
    print(f"\nthe HTTP floor (API key, space, no memory work)\n{header}")
    print_row("HTTP GET v1/ping/", results.get("ping"))
    for size in ("small", "large"):
        count = sizes[f"memories_{size}"]
        for scope, label in (("user", "one user's memories"), ("space", "the whole space")):
            print(f"\nsearch {count:,} memories, {label}\n{header}")
            for what, row_label in SEARCH_ROWS:
                if what != "mem0_exact" or scope == "user":
                    print_row(row_label, results.get(f"{size}_{scope}_{what}"))
    print(f"\nadd, infer=false (into the {sizes['memories_small']:,}-memory space)\n{header}")
    for name, label, _ in ADD_ROWS:
        print_row(label, results.get(name))
    print(f"\n{'ours / mem0':<36} {'ours':>9} {'mem0':>9} {'ratio':>7}  unit    hits ours/mem0")
    for name, ratio in report["ratios"].items():
        unit = "ms p50" if ratio["figure"] == "p50" else "calls/s"
        hits = f"{ratio['ours_hits']}/{ratio['mem0_hits']}" if ratio["figure"] == "p50" else ""
        print(f"{name:<36} {ratio['ours']:>9,.2f} {ratio['mem0']:>9,.2f} {ratio['ratio']:>7.2f}  {unit:<7} {hits}")
    vectors = report["vectors"]
    print(f"\nvectors: {vectors['distinct_texts']:,} distinct texts, {vectors['from_cache']:,} from the cache, "
          f"{vectors['embedded']:,} embedded in {vectors['embed_seconds']} s")
    for name, load in report["loads"].items():
        print(f"load {name:<12} {load['rows']:>8,} rows in {load['seconds']:>6.1f} s ({load['rows_per_s']:,}/s; "
              f"insert {load['insert_seconds']} s, HNSW index {load['index_seconds']} s, "
              f"table {load['table_rows']:,} rows)")
    print()
    for goal in report["goals"]:
        value = "n/a" if goal["value"] is None else f"{goal['value']:,.2f}"
        print(f"{goal['status']}  {goal['goal']}: {value} (target {goal['target']})")
    wrong = {name: check for name, check in report["checks"].items() if not check["ok"]}
    print(f"checks: {len(report['checks']) - len(wrong)} of {len(report['checks'])} OK"
          + "".join(f"\n  WRONG {name}: {check}" for name, check in wrong.items()))
    planted = [check for name, check in report["checks"].items() if "_planted_" in name]
    print(f"planted memories in mem0's top {TOP_K}: {sum(check['mem0_rank'] is not None for check in planted)} "
          f"of {len(planted)} (ours: {sum(check['rank'] is not None for check in planted)})")
    if report["failed_requests"]:
        print("failed requests (first 5 per measurement):", *report["failed_requests"], sep="\n  ")


def print_row(label: str, row: dict | None) -> None:
    if row is None:
        print(f"{label:<36} {'not measured':>20}")
        return
    hits = row["results"]["mean"]
    print(f"{label:<36} {row['requests']:>5} {row['p50_ms']:>8.2f} {row['p95_ms']:>8.2f} {row['p99_ms']:>8.2f}"
          f" {row['requests_per_s']:>7,.0f} {hits if hits is not None else '':>5}")


