"""Retrieval quality on LoCoMo: evidence recall of our search methods and of mem0's own engine, same data.

Data: `../shared/data/locomo_dev.json` (five LoCoMo conversations; `BENCH_LOCOMO` names another file), read in
place. Each conversation goes into a fresh memory space of its own, every turn one memory, through
`services.memory_add(infer=False)`: user_id the speaker, run_id the session ("session_3"), the session's date
as timestamp, metadata {"dia_id": "D3:5"}. A turn's text is its `text`, followed by " and shared <caption>"
when the turn shared an image (LoCoMo's own way of writing such turns for retrieval: the answer is often in
the picture). The same texts go into mem0's engine, one pgvector collection per conversation, through
`mem0.Memory.add(messages, user_id=speaker, run_id=session, metadata={"dia_id": ...}, infer=False)`.

Questions: every qa item of category 1-4 (5, adversarial, has no evidence to find). The query is the question;
the scope the whole conversation (its evidence may come from either speaker). Methods, top 20 each:
  vector    `selectors.memory_search(..., text_weight=0)`
  fulltext  PostgreSQL full text alone: `selectors.text_query(question)` (an OR of its words) over
            `search_vector`, ranked by `SearchRank` (ts_rank) as the hybrid ranks its text leg
  hybrid    `selectors.memory_search(...)` with the settings' defaults (SEARCH_TEXT_WEIGHT)
  mem0      `mem0.Memory.search(question, filters={"user_id": "*"}, top_k=20, threshold=0)`: mem0 2.2.1's
            own ranking (semantic + its BM25 boost + entity boost, whichever its installation can do)
plus the hybrid at each text weight of SWEEP_WEIGHTS. The question is embedded once and the vector given to
every method (mem0 through its embedder adapter), so all of them search with the same vector.

Evidence recall@k of a question: the fraction of its evidence turns among the first k hits; `hit@k`: whether
any of them is. Averaged over the questions, overall and per category. Evidence ids are normalised
("D:11:26" -> "D11:26", "D8:6; D9:17" split); ids naming no turn of the conversation are dropped (counted),
and a question left with no evidence is not asked (counted).

Goal (issue 5): hybrid recall@10 >= mem0's + 10 points overall, and >= mem0's in every category.

Sizes: BENCH_CONVERSATIONS (all 5; BENCH_QUICK=1: 1).
Options: BENCH_SPEAKER_IN_TEXT=1 stores "<speaker>: <text>" instead of the text alone (both engines).
"""

import hashlib
import inspect
import json
import os
import re
import shutil
import statistics
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from bench.memory import Database, mem0_engine, setup_django_with_mem0
from bench.report import machine, write_results
from bench.server import BASE_DIR, Server

RESULTS = Path(__file__).resolve().parent / "results" / "retrieval.json"
DATA_FILE = Path(os.environ.get("BENCH_LOCOMO") or BASE_DIR.parent / "shared" / "data" / "locomo_dev.json")
TOP_K = 20
KS = (5, 10, 20)
CATEGORIES = {1: "multi-hop", 2: "temporal", 3: "open-domain", 4: "single-hop"}
METHODS = ("vector", "fulltext", "hybrid", "mem0")
SWEEP_WEIGHTS = (0.1, 0.25, 0.4, 0.55, 0.7, 0.85)  # the last two: past the range asked for, to see the peak
GOAL_MARGIN = 0.10  # hybrid recall@10 at least 10 points above mem0's, overall
SPACE_PREFIX = "bench retrieval"  # descriptions of this benchmark's spaces: removed at the start and the end
MEM0_TABLE = "bench_retrieval_{index}"
DATE_FORMAT = "%I:%M %p on %d %B, %Y"  # "1:56 pm on 8 May, 2023"
EVIDENCE = re.compile(r"^D:?(\d+):(\d+)$", re.IGNORECASE)


@dataclass
class Turn:
    dia_id: str
    speaker: str
    session: str  # run_id: "session_3"
    stamp: datetime
    text: str


@dataclass
class Question:
    conversation: str
    category: int
    question: str
    evidence: list[str]


@dataclass
class Conversation:
    sample_id: str
    turns: list[Turn]
    questions: list[Question]
    captions: int = 0  # turns that shared an image: their caption is part of the text
    evidence_dropped: list[dict] = field(default_factory=list)  # ids naming no turn: malformed or missing
    questions_without_evidence: list[str] = field(default_factory=list)


def run(server: Server) -> bool:
    sizes = read_sizes()
    print(f"\n== retrieval ({'quick' if sizes['quick'] else 'full'}): {sizes}", flush=True)
    conversations = load_conversations(DATA_FILE, sizes["conversations"], sizes["speaker_in_text"])
    scratch = Path(tempfile.mkdtemp(prefix="bench-retrieval-"))
    setup_django_with_mem0(server, scratch)
    from django.conf import settings

    from mem0_compat.embeddings import get_embedder

    embedder = get_embedder()
    database = Database(server.database_url)
    bench = Bench(server, embedder, database, scratch)
    started = time.perf_counter()
    try:
        bench.remove_leftovers()
        for index, conversation in enumerate(conversations):
            bench.conversation(index, conversation)
    finally:
        bench.remove_leftovers()
        bench.close()
        database.close()
        shutil.rmtree(scratch, ignore_errors=True)

    report = {
        "benchmark": "retrieval",
        "timestamp": datetime.now(UTC).isoformat(timespec="seconds"),
        "sizes": sizes,
        "server": {"workers": server.workers, "database": server.database},
        "machine": machine(),
        "settings": {"embedder": embedder.name, "dimensions": embedder.dimensions,
                     "search_text_weight": settings.SEARCH_TEXT_WEIGHT,
                     "search_text_scan_limit": settings.SEARCH_TEXT_SCAN_LIMIT,
                     "hnsw_ef_search": settings.HNSW_EF_SEARCH, "top_k": TOP_K,
                     "memory_search_sha1": source_digest()},
        "mem0": bench.mem0_info(),
        "data": data_summary(conversations, bench, sizes["speaker_in_text"]),
        "timings": {**bench.timings_summary(), "wall_s": round(time.perf_counter() - started, 1)},
        "methods": {method: recall_table(bench.questions, bench.ranked[method]) for method in METHODS},
        "sweep": {str(weight): recall_table(bench.questions, bench.ranked[f"hybrid_w{weight}"])
                  for weight in SWEEP_WEIGHTS},
        "hits": {name: hits_summary(found) for name, found in bench.ranked.items()},
        "hybrid_vs_vector_at_10": compare(bench.questions, bench.ranked["hybrid"], bench.ranked["vector"], 10),
        "hybrid_vs_mem0_at_10": compare(bench.questions, bench.ranked["hybrid"], bench.ranked["mem0"], 10),
        "failures": bench.failures[:50],
    }
    report["goals"] = goals(report)
    print_report(report)
    write_results(RESULTS, report)
    # only a broken run fails: missed goals are reported, not asserted
    return bool(bench.questions) and not bench.failures


def source_digest() -> str:
    """Of `selectors.memory_search`'s source: which version of the search these figures are for."""
    from mem0_compat import selectors

    return hashlib.sha1(inspect.getsource(selectors.memory_search).encode()).hexdigest()[:12]


def read_sizes() -> dict:
    quick = os.environ.get("BENCH_QUICK") == "1"
    conversations = int(os.environ.get("BENCH_CONVERSATIONS", 1 if quick else 5))
    return {"conversations": conversations, "quick": quick,
            "speaker_in_text": os.environ.get("BENCH_SPEAKER_IN_TEXT") == "1"}


# -- data ----------------------------------------------------------------------------------------------------


def load_conversations(path: Path, count: int, speaker_in_text: bool) -> list[Conversation]:
    data = json.loads(path.read_text())
    return [conversation(item, speaker_in_text) for item in data[:count]]


def turn_text(turn: dict, speaker_in_text: bool) -> str:
    text = turn["text"]
    if turn.get("blip_caption"):
        text = f"{text} and shared {turn['blip_caption']}"
    return f"{turn['speaker']}: {text}" if speaker_in_text else text


def conversation(item: dict, speaker_in_text: bool) -> Conversation:
    sessions = item["conversation"]
    numbers = sorted(int(key.split("_")[1]) for key in sessions if re.fullmatch(r"session_\d+", key))
    turns = []
    for number in numbers:
        stamp = datetime.strptime(sessions[f"session_{number}_date_time"], DATE_FORMAT).replace(tzinfo=UTC)
        turns.extend(Turn(turn["dia_id"], turn["speaker"], f"session_{number}", stamp,
                          turn_text(turn, speaker_in_text)) for turn in sessions[f"session_{number}"])
    known = {turn.dia_id for turn in turns}
    found = Conversation(item["sample_id"], turns, [], captions=sum(
        bool(turn.get("blip_caption")) for number in numbers for turn in sessions[f"session_{number}"]))
    for qa in item["qa"]:
        if qa["category"] not in CATEGORIES:
            continue
        evidence = []
        for raw in qa["evidence"]:
            for part in re.split(r"[;,\s]+", raw.strip()):
                match = EVIDENCE.match(part)
                dia_id = f"D{int(match[1])}:{int(match[2])}" if match else None
                if dia_id in known:
                    if dia_id not in evidence:
                        evidence.append(dia_id)
                elif part:
                    found.evidence_dropped.append({"question": qa["question"], "id": part,
                                                   "why": "missing turn" if match else "malformed"})
        if evidence:
            found.questions.append(Question(item["sample_id"], qa["category"], qa["question"], evidence))
        else:
            found.questions_without_evidence.append(qa["question"])
    return found


# -- the benchmark -------------------------------------------------------------------------------------------


class Bench:
    def __init__(self, server: Server, embedder, database: Database, scratch: Path):
        self.server, self.embedder, self.db, self.scratch = server, embedder, database, scratch
        self.questions: list[Question] = []
        self.ranked: dict[str, list[list[str]]] = {name: [] for name in
                                                   (*METHODS, *(f"hybrid_w{w}" for w in SWEEP_WEIGHTS))}
        self.seconds: dict[str, list[float]] = {}  # per call, by what was timed
        self.ingest: list[dict] = []
        self.failures: list[str] = []
        self.mem0_instances: list = []

    def timed(self, name: str, seconds: float) -> None:
        self.seconds.setdefault(name, []).append(seconds)

    def conversation(self, index: int, conversation: Conversation) -> None:
        from django.contrib.auth import get_user_model

        from memoryspaces.services import space_create

        owner = get_user_model().objects.get(username="bench-user")
        space = space_create(owner=owner, fields={"description": f"{SPACE_PREFIX} {conversation.sample_id}"})
        mem0, mem0_embedder = self.mem0(MEM0_TABLE.format(index=index))
        ours = self.ingest_ours(space, conversation)
        theirs = self.ingest_mem0(mem0, conversation)
        self.ingest.append({"conversation": conversation.sample_id, "turns": len(conversation.turns),
                            "questions": len(conversation.questions), **ours, **theirs})
        print(f"  {conversation.sample_id}: {self.ingest[-1]}", flush=True)
        start = time.perf_counter()
        for question in conversation.questions:
            self.ask(space, mem0, mem0_embedder, question)
        print(f"  {conversation.sample_id}: {len(conversation.questions)} questions asked in "
              f"{time.perf_counter() - start:.1f} s", flush=True)

    # -- ingest
    def ingest_ours(self, space, conversation: Conversation) -> dict:
        from mem0_compat.models import Memory
        from mem0_compat.services import memory_add

        start, skipped = time.perf_counter(), []
        for turn in conversation.turns:
            added = memory_add(space=space, messages=[{"role": "user", "content": turn.text}],
                               scope={"user_id": turn.speaker, "run_id": turn.session}, infer=False,
                               timestamp=turn.stamp, metadata={"dia_id": turn.dia_id})
            if not added:
                skipped.append(turn.dia_id)
        seconds = time.perf_counter() - start
        stored = Memory.objects.alive().filter(space=space).count()
        if stored != len(conversation.turns) - len(skipped):
            self.failures.append(f"{conversation.sample_id}: {stored} memories stored, expected "
                                 f"{len(conversation.turns) - len(skipped)}")
        return {"ours_seconds": round(seconds, 1), "ours_stored": stored, "ours_duplicates_skipped": skipped}

    def ingest_mem0(self, mem0, conversation: Conversation) -> dict:
        start = time.perf_counter()
        for turn in conversation.turns:
            mem0.add([{"role": "user", "content": turn.text}], user_id=turn.speaker, run_id=turn.session,
                     metadata={"dia_id": turn.dia_id}, infer=False)
        seconds = time.perf_counter() - start
        from psycopg import sql

        stored = self.db.count(sql.SQL("SELECT count(*) FROM {}").format(
            sql.Identifier(mem0.vector_store.collection_name)))
        if stored != len(conversation.turns):
            self.failures.append(f"{conversation.sample_id}: mem0 stored {stored}, expected "
                                 f"{len(conversation.turns)}")
        return {"mem0_seconds": round(seconds, 1), "mem0_stored": stored}

    # -- search
    def ask(self, space, mem0, mem0_embedder, question: Question) -> None:
        from mem0_compat.models import Memory
        from mem0_compat.selectors import memory_search

        query = question.question
        try:
            start = time.perf_counter()
            vector = self.embedder.embed([query])[0]
            self.timed("embed", time.perf_counter() - start)
            found = {}
            for name, call in (
                ("vector", lambda: memory_search(space=space, query_vector=vector, query=query, top_k=TOP_K,
                                                 text_weight=0)),
                ("fulltext", lambda: fulltext_search(space, query, TOP_K)),
                ("hybrid", lambda: memory_search(space=space, query_vector=vector, query=query, top_k=TOP_K)),
                *((f"hybrid_w{weight}", lambda weight=weight: memory_search(
                    space=space, query_vector=vector, query=query, top_k=TOP_K, text_weight=weight))
                  for weight in SWEEP_WEIGHTS),
            ):
                start = time.perf_counter()
                hits = call()
                self.timed(name, time.perf_counter() - start)
                found[name] = [(hit if isinstance(hit, Memory) else hit.memory).metadata["dia_id"] for hit in hits]
            mem0_embedder.precomputed = {query: vector, query.strip(): vector}
            start = time.perf_counter()
            answer = mem0.search(query, filters={"user_id": "*"}, top_k=TOP_K, threshold=0.0)["results"]
            self.timed("mem0", time.perf_counter() - start)
            mem0_embedder.precomputed = None
            found["mem0"] = [hit["metadata"]["dia_id"] for hit in answer]
        except Exception as error:  # noqa: BLE001 - recorded: a broken run fails
            self.failures.append(f"{question.conversation} {query!r}: {error!r}"[:300])
            return
        self.questions.append(question)
        for name, dia_ids in found.items():
            self.ranked[name].append(dia_ids)

    # -- mem0's engine
    def mem0(self, table: str):
        """`mem0.Memory` with its pgvector store on our PostgreSQL (a collection per conversation, HNSW as
        mem0 makes it) and our embedder in place of the one its config names (a placeholder: nothing reaches
        OpenAI; the LLM is never called, infer=False). As bench/memory.py configures it."""
        memory = mem0_engine(self.db.url, table, self.scratch, self.embedder)
        self.mem0_instances.append(memory)
        return memory, memory.embedding_model

    def mem0_info(self) -> dict:
        """What mem0's ranking could use here: its BM25 leg lemmatizes with spaCy and its entity boost
        extracts entities with spaCy; without spaCy both fall back (raw text; no entities)."""
        import importlib.metadata
        import importlib.util

        from mem0.utils.spacy_models import get_nlp_full, get_nlp_lemma

        spacy = importlib.util.find_spec("spacy") is not None
        return {"version": importlib.metadata.version("mem0ai"), "spacy_installed": spacy,
                "lemmatizer": spacy and get_nlp_lemma() is not None,
                "entity_extraction": spacy and get_nlp_full() is not None,
                "search": {"filters": {"user_id": "*"}, "top_k": TOP_K, "threshold": 0.0},
                "collections": "one per conversation", "hnsw": True}

    def close(self) -> None:
        for memory in self.mem0_instances:
            memory.close()
            memory.vector_store.connection_pool.close()
        self.mem0_instances.clear()

    def remove_leftovers(self) -> None:
        """This benchmark's spaces (with their memories) and mem0 collections, from this run or an interrupted
        one."""
        from psycopg import sql

        from memoryspaces.models import MemorySpace

        MemorySpace.objects.filter(description__startswith=SPACE_PREFIX, owner__username="bench-user").delete()
        tables = [row[0] for row in self.db.conn.execute(
            "SELECT tablename FROM pg_tables WHERE tablename LIKE 'bench\\_retrieval\\_%'").fetchall()]
        for table in tables:
            self.db.conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(sql.Identifier(table)))

    def timings_summary(self) -> dict:
        found = {name: {"calls": len(seconds), "mean_ms": round(statistics.fmean(seconds) * 1000, 2),
                        "p50_ms": round(statistics.median(seconds) * 1000, 2),
                        "total_s": round(sum(seconds), 1)}
                 for name, seconds in self.seconds.items() if seconds}
        found["ingest"] = self.ingest
        found["ingest_ours_s"] = round(sum(item["ours_seconds"] for item in self.ingest), 1)
        found["ingest_mem0_s"] = round(sum(item["mem0_seconds"] for item in self.ingest), 1)
        return found


def fulltext_search(space, query: str, top_k: int) -> list:
    """PostgreSQL full text alone, ranked as the hybrid ranks its text leg (`SearchRank`, i.e. ts_rank, over
    the OR of the question's words); ties by id."""
    from django.contrib.postgres.search import SearchRank
    from django.db.models import F

    from mem0_compat.selectors import memories_of, text_query

    tsquery = text_query(query)
    if tsquery is None:
        return []
    return list(memories_of(space=space).filter(search_vector=tsquery)
                .annotate(rank=SearchRank(F("search_vector"), tsquery))
                .defer("embedding", "search_vector").order_by("-rank", "pk")[:top_k])


# -- figures -------------------------------------------------------------------------------------------------


def recall(evidence: list[str], ranked: list[str], k: int) -> float:
    return len(set(evidence) & set(ranked[:k])) / len(evidence)


def recall_table(questions: list[Question], ranked: list[list[str]]) -> dict:
    """{"overall": {...}, "1": {...}, ...}: n, recall@k and hit@k (fractions, 4 decimals)."""
    groups = {"overall": list(range(len(questions)))}
    for category in CATEGORIES:
        groups[str(category)] = [i for i, question in enumerate(questions) if question.category == category]
    table = {}
    for name, members in groups.items():
        row = {"n": len(members)}
        for k in KS:
            recalls = [recall(questions[i].evidence, ranked[i], k) for i in members]
            row[f"recall@{k}"] = round(statistics.fmean(recalls), 4) if recalls else None
            row[f"hit@{k}"] = round(statistics.fmean(r > 0 for r in recalls), 4) if recalls else None
        table[name] = row
    return table


def hits_summary(found: list[list[str]]) -> dict:
    counts = [len(ranked) for ranked in found]
    return {"mean": round(statistics.fmean(counts), 2) if counts else None, "min": min(counts, default=None),
            "short_answers": sum(count < TOP_K for count in counts)}


def compare(questions: list[Question], ours: list[list[str]], other: list[list[str]], k: int) -> dict:
    """Questions whose recall@k is higher (better), lower (worse) or equal with `ours` than with `other`."""
    better = worse = 0
    for question, mine, theirs in zip(questions, ours, other, strict=True):
        delta = recall(question.evidence, mine, k) - recall(question.evidence, theirs, k)
        better += delta > 1e-9
        worse += delta < -1e-9
    return {"better": better, "worse": worse, "same": len(questions) - better - worse}


def data_summary(conversations: list[Conversation], bench: Bench, speaker_in_text: bool) -> dict:
    return {
        "file": str(DATA_FILE),
        "conversations": [conversation.sample_id for conversation in conversations],
        "turns": sum(len(conversation.turns) for conversation in conversations),
        "turns_with_caption": sum(conversation.captions for conversation in conversations),
        "questions_asked": len(bench.questions),
        "questions_per_category": {str(c): sum(q.category == c for q in bench.questions) for c in CATEGORIES},
        "questions_without_evidence": [q for conversation in conversations
                                       for q in conversation.questions_without_evidence],
        "evidence_ids": sum(len(q.evidence) for q in bench.questions),
        "evidence_dropped": [{"conversation": conversation.sample_id, **dropped} for conversation in conversations
                             for dropped in conversation.evidence_dropped],
        "duplicates_skipped": sum(len(item["ours_duplicates_skipped"]) for item in bench.ingest),
        "text": ("'<speaker>: ' + " if speaker_in_text else "")
        + "the turn's text + ' and shared <blip_caption>' when the turn shared an image",
    }


def goals(report: dict) -> list[dict]:
    hybrid, mem0 = report["methods"]["hybrid"], report["methods"]["mem0"]
    found = []

    def add(label: str, value, target) -> None:
        met = value is not None and target is not None and value >= target - 1e-9
        found.append({"goal": label, "value": value, "target": target, "status": "PASS" if met else "MISS"})

    overall, theirs = hybrid["overall"]["recall@10"], mem0["overall"]["recall@10"]
    add("hybrid recall@10 >= mem0's + 10 points, overall", overall,
        None if theirs is None else round(theirs + GOAL_MARGIN, 4))
    for category, name in CATEGORIES.items():
        row, other = hybrid[str(category)], mem0[str(category)]
        if row["n"]:
            add(f"hybrid recall@10 >= mem0's, category {category} ({name})", row["recall@10"], other["recall@10"])
    return found


# -- the report ---------------------------------------------------------------------------------------------


def percent(value) -> str:
    return "-" if value is None else f"{100 * value:5.1f}"


def print_table(title: str, table: dict) -> None:
    print(f"\n{title}")
    print(f"{'':<16} {'n':>4} {'R@5':>6} {'R@10':>6} {'R@20':>6}   {'hit@5':>6} {'hit@10':>6} {'hit@20':>6}")
    for key, row in table.items():
        label = "overall" if key == "overall" else f"{key} {CATEGORIES[int(key)]}"
        print(f"{label:<16} {row['n']:>4} " + " ".join(percent(row[f"recall@{k}"]).rjust(6) for k in KS) + "   "
              + " ".join(percent(row[f"hit@{k}"]).rjust(6) for k in KS))


def print_report(report: dict) -> None:
    machine, setting, data = report["machine"], report["settings"], report["data"]
    print(f"\nretrieval  ·  {machine['cpu_count']} CPUs, {machine['platform']}, Python {machine['python']}  ·  "
          f"embedder {setting['embedder']} ({setting['dimensions']} dims)  ·  SEARCH_TEXT_WEIGHT "
          f"{setting['search_text_weight']}  ·  top_k {setting['top_k']}  ·  mem0 {report['mem0']['version']}"
          f" (spaCy: {'yes' if report['mem0']['spacy_installed'] else 'no'})")
    print(f"data: {', '.join(data['conversations'])}: {data['turns']:,} turns, {data['questions_asked']} questions "
          f"asked ({data['evidence_ids']} evidence turns); {len(data['evidence_dropped'])} evidence ids dropped, "
          f"{len(data['questions_without_evidence'])} questions without evidence, "
          f"{data['duplicates_skipped']} duplicate turns skipped by memory_add")
    for method in METHODS:
        print_table(f"{method}: evidence recall / any-evidence hit rate, %", report["methods"][method])
    print(f"\nrecall@10 by method, %\n{'':<16} " + " ".join(f"{m:>9}" for m in METHODS))
    for key in report["methods"]["hybrid"]:
        label = "overall" if key == "overall" else f"{key} {CATEGORIES[int(key)]}"
        print(f"{label:<16} " + " ".join(percent(report["methods"][m][key]["recall@10"]).rjust(9) for m in METHODS))
    print(f"\nhybrid text-weight sweep: recall@10, % (default {setting['search_text_weight']})")
    print(f"{'weight':<8} {'overall':>8} " + " ".join(f"{CATEGORIES[c]:>12}" for c in CATEGORIES))
    for weight, table in report["sweep"].items():
        print(f"{weight:<8} {percent(table['overall']['recall@10']):>8} "
              + " ".join(percent(table[str(c)]["recall@10"]).rjust(12) for c in CATEGORIES))
    print(f"\nhybrid vs vector at 10 (questions): {report['hybrid_vs_vector_at_10']}; "
          f"hybrid vs mem0: {report['hybrid_vs_mem0_at_10']}")
    print("mean hits: " + ", ".join(f"{name} {hits['mean']}" for name, hits in report["hits"].items()))
    timings = report["timings"]
    print(f"ingest: ours (memory_add) {timings['ingest_ours_s']} s, mem0 (Memory.add) {timings['ingest_mem0_s']} s"
          f" for {data['turns']:,} turns; whole benchmark {timings['wall_s']} s")
    print("search per question, p50 ms: " + ", ".join(
        f"{name} {row['p50_ms']}" for name, row in timings.items() if isinstance(row, dict) and "p50_ms" in row))
    print()
    for goal in report["goals"]:
        print(f"{goal['status']}  {goal['goal']}: {percent(goal['value']).strip()} "
              f"(target {percent(goal['target']).strip()})")
    if report["failures"]:
        print("failures:", *report["failures"], sep="\n  ")



