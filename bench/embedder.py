"""Embedder throughput, in-process (no server): sentences per second for `minilm` and `static`.

2,000 short varied sentences (10-20 words, like the facts a memory holds) are embedded in calls of 64 after
one warm-up call; a rate is sentences divided by the wall-clock time of all the calls, tokenising included.
"""

import random
import time

from bench.server import DATA_DIR
from mem0_compat.embeddings import Embedder, MiniLMEmbedder, StaticEmbedder

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


def sentences_per_second(embedder: Embedder, sentences: list[str]) -> float:
    embedder.embed(sentences[:BATCH])  # warm-up: onnxruntime's first run allocates its buffers
    start = time.perf_counter()
    for offset in range(0, len(sentences), BATCH):
        embedder.embed(sentences[offset:offset + BATCH])
    return len(sentences) / (time.perf_counter() - start)


def run() -> dict:
    """Prints one line per embedder and returns {name: {sentences_per_s, dimensions[, goal, passed]}}."""
    sentences = short_sentences(SENTENCES)
    results = {}
    # the bench server's DATA_DIR: the ONNX graph cached there serves both this and the server
    for embedder in (MiniLMEmbedder(DATA_DIR / "models"), StaticEmbedder()):
        rate = sentences_per_second(embedder, sentences)
        results[embedder.name] = {"sentences_per_s": round(rate), "dimensions": embedder.dimensions}
        line = f"{embedder.name:<8} {rate:>9,.0f} sentences/s ({SENTENCES:,} sentences, calls of {BATCH})"
        if goal := GOALS.get(embedder.name):
            results[embedder.name] |= {"goal": goal, "passed": rate >= goal}
            line += f"  goal >= {goal:,}: {'PASS' if rate >= goal else 'MISS'}"
        print(line)
    return results
