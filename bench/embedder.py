"""Embedder throughput, in-process (the server is not used): sentences per second for `minilm`, `minilm-int8`
and `static`.

BENCH_SENTENCES (2,000; 200 with BENCH_QUICK=1) short varied sentences (10-20 words, like the facts a memory
holds) are embedded in calls of 64 after one warm-up call; a rate is sentences divided by the wall-clock time
of all the calls, tokenising included. Check: every vector has the embedder's dimensions and unit length.
"""

import os
import random
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from bench.report import machine, write_results
from bench.server import DATA_DIR, Server, setup_django
from mem0_compat.embeddings import Embedder, MiniLMEmbedder, StaticEmbedder

RESULTS = Path(__file__).resolve().parent / "results" / "embedder.json"
SENTENCES = 2000
BATCH = 64
GOALS = {"minilm": 500}  # sentences/s on 2 cores (ARCHITECTURE.md)

SUBJECTS = ["I", "My sister", "The team", "Our biggest customer", "My manager", "We", "Alice from finance",
            "The on-call engineer", "My doctor", "Our landlord"]
ACTIONS = ["prefer to deploy", "usually have lunch", "want to schedule the review",
           "moved the budget meeting", "keep the backups", "booked a flight to Lisbon",
           "started learning Japanese", "asked for vegetarian food", "renewed the TLS certificates",
           "adopted a small grey cat"]
DETAILS = ["on Friday afternoons", "before the quarterly planning", "near the old train station",
           "with ArgoCD and Helm", "every second Tuesday", "because the staging cluster is slow",
           "after the kids are asleep", "in the shared Google Drive folder", "without telling the rest of us",
           "since the outage in March"]
ENDINGS = ["", "and it works well", "but nobody remembers why", "which saves about two hours a week",
           "so please keep that in mind", "according to the notes from yesterday"]


def short_sentences(count: int, seed: int = 0) -> list[str]:
    pick = random.Random(seed).choice
    return [" ".join(filter(None, [pick(SUBJECTS), pick(ACTIONS), pick(DETAILS), pick(ENDINGS)])) + "."
            for _ in range(count)]


def sentences_per_second(embedder: Embedder, sentences: list[str]) -> tuple[float, np.ndarray]:
    """The rate, and the vectors of the sentences."""
    embedder.embed(sentences[:BATCH])  # warm-up: onnxruntime's first run allocates its buffers
    vectors = []
    start = time.perf_counter()
    for offset in range(0, len(sentences), BATCH):
        vectors.append(embedder.embed(sentences[offset:offset + BATCH]))
    return len(sentences) / (time.perf_counter() - start), np.concatenate(vectors)


def measure(count: int = SENTENCES) -> tuple[dict, dict]:
    """Prints one line per embedder; returns ({name: {sentences_per_s, dimensions[, goal, passed]}},
    {name: check of its vectors})."""
    sentences = short_sentences(count)
    results, checks = {}, {}
    # the bench server's DATA_DIR: the ONNX graph cached there serves both this and the server
    for embedder in (MiniLMEmbedder(DATA_DIR / "models"), MiniLMEmbedder(DATA_DIR / "models", int8=True),
                     StaticEmbedder()):
        rate, vectors = sentences_per_second(embedder, sentences)
        results[embedder.name] = {"sentences_per_s": round(rate), "dimensions": embedder.dimensions}
        line = f"{embedder.name:<12} {rate:>9,.0f} sentences/s ({count:,} sentences, calls of {BATCH})"
        if goal := GOALS.get(embedder.name):
            results[embedder.name] |= {"goal": goal, "passed": rate >= goal}
            line += f"  goal >= {goal:,}: {'PASS' if rate >= goal else 'MISS'}"
        print(line, flush=True)
        norms = np.linalg.norm(vectors, axis=1)
        checks[embedder.name] = {
            "ok": bool(vectors.shape == (count, embedder.dimensions) and np.allclose(norms, 1, atol=1e-3)),
            "shape": list(vectors.shape), "min_norm": round(float(norms.min()), 4),
            "max_norm": round(float(norms.max()), 4)}
    return results, checks


def run(server: Server) -> bool:
    """`python -m bench embedder`: writes bench/results/embedder.json; false if a vector is wrong."""
    quick = os.environ.get("BENCH_QUICK") == "1"
    count = int(os.environ.get("BENCH_SENTENCES", SENTENCES // 10 if quick else SENTENCES))
    print(f"\n== embedder ({'quick' if quick else 'full'}): {count:,} sentences, calls of {BATCH}", flush=True)
    setup_django(server)  # the embedders read settings: the server's, not a development database of their own
    results, checks = measure(count)
    for name, check in checks.items():
        print(f"check {name} vectors ({check['shape'][1]} dims, unit length): {'OK' if check['ok'] else 'WRONG'}")
    report = {
        "benchmark": "embedder",
        "timestamp": datetime.now(UTC).isoformat(timespec="seconds"),
        "sizes": {"sentences": count, "batch": BATCH, "quick": quick},
        "machine": machine(),
        "results": results,
        "goals": [{"goal": f"{name} >= {goal:,} sentences/s", "measurement": name, "figure": "sentences_per_s",
                   "target": f">= {goal}", "value": results[name]["sentences_per_s"],
                   "status": "PASS" if results[name]["passed"] else "MISS"} for name, goal in GOALS.items()],
        "checks": checks,
    }
    write_results(RESULTS, report)
    return all(check["ok"] for check in checks.values())
