"""The benchmarks' results: each one's JSON under `bench/results/` (`write_results`), and a picture of the
latest ones, `bench/results/summary.png`, drawn from whichever JSON files exist. Latency percentiles on the left,
retrieval recall per method on the right."""

import json
import os
import platform
import sys
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"

LATENCIES = [  # (file, result key, label)
    ("chat_history.json", "append_c1", "append 1 event"),
    ("chat_history.json", "append_c8", "append, 8 clients"),
    ("chat_history.json", "batch_200", "batch of 200"),
    ("chat_history.json", "lastn_big", "lastN=20 of 100k"),
    ("memory.json", "large_user_sql", "search {large}, per user (SQL)"),
    ("memory.json", "large_space_sql", "search {large}, whole space (SQL)"),
    ("memory.json", "large_user_http", "search {large}, per user (HTTP)"),
    ("memory.json", "add_http_c1", "memory add (HTTP)"),
]


def machine() -> dict:
    """The machine a benchmark ran on, for its report."""
    return {"cpu_count": os.cpu_count(), "platform": platform.platform(), "python": sys.version.split()[0]}


def write_results(path: Path, report: dict) -> None:
    """`report` as JSON at `path` (under bench/results/), written whole or not at all."""
    path.parent.mkdir(exist_ok=True)
    partial = path.with_suffix(".json.tmp")
    partial.write_text(json.dumps(report, indent=2, default=str) + "\n")
    partial.replace(path)
    print(f"Results written to {path.relative_to(path.parents[2])}", flush=True)


def _load(name: str) -> dict:
    path = RESULTS / name
    return json.loads(path.read_text()) if path.exists() else {}


def write_chart(path: Path = RESULTS / "summary.png") -> Path:
    import matplotlib

    matplotlib.use("Agg")  # no screen
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(15, 6.5), gridspec_kw={"width_ratios": [1.25, 1]})
    _latencies(left)
    _recall(right)
    machine = next((data["machine"] for data in map(_load, ("memory.json", "chat_history.json")) if data), {})
    fig.suptitle(f"Agentic memory service: latest benchmark results ({machine.get('cpu_count', '?')} cores, "
                 f"{machine.get('platform', '')[:40]})", fontsize=12)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _latencies(axis) -> None:
    rows = []
    large = f"{_load('memory.json').get('sizes', {}).get('memories_large', 0):,} memories"
    for file, key, label in LATENCIES:
        figures = _load(file).get("results", {}).get(key)
        if figures and figures.get("p50_ms") is not None:
            rows.append((label.format(large=large), figures["p50_ms"], figures["p95_ms"], figures.get("p99_ms")))
    if not rows:
        axis.text(0.5, 0.5, "no latency results yet", ha="center")
        return
    labels = [row[0] for row in rows]
    positions = range(len(rows))
    axis.barh([p + 0.27 for p in positions], [row[3] or 0 for row in rows], height=0.27, label="p99",
              color="#f4a582")
    axis.barh(list(positions), [row[2] for row in rows], height=0.27, label="p95", color="#92c5de")
    axis.barh([p - 0.27 for p in positions], [row[1] for row in rows], height=0.27, label="p50", color="#0571b0")
    for position, row in zip(positions, rows, strict=True):
        axis.text(row[1], position - 0.27, f" {row[1]:.1f}", va="center", fontsize=8)
    axis.set_yticks(list(positions), labels)
    axis.invert_yaxis()
    axis.set_xlabel("milliseconds")
    axis.set_title("Latency percentiles")
    axis.legend(loc="lower right")


def _recall(axis) -> None:
    retrieval = _load("retrieval.json")
    methods = retrieval.get("methods", {})
    if not methods:
        axis.text(0.5, 0.5, "no retrieval results yet", ha="center")
        return
    categories = ["overall", "1", "2", "3", "4"]
    names = list(methods)
    width = 0.8 / len(names)
    for index, name in enumerate(names):
        values = [100 * methods[name].get(category, {}).get("recall@10", 0) for category in categories]
        axis.bar([c + (index - (len(names) - 1) / 2) * width for c in range(len(categories))], values, width,
                 label=name)
    axis.set_xticks(range(len(categories)),
                    ["overall", "1\nmulti-hop", "2\ntemporal", "3\nopen-domain", "4\nsingle-hop"])
    axis.set_ylabel("evidence recall@10 (%)")
    axis.set_ylim(0, 100)
    conversations = retrieval.get("sizes", {}).get("conversations", "?")
    axis.set_title(f"Retrieval quality on LoCoMo ({conversations} conversations, categories 1-4)")
    axis.legend()


if __name__ == "__main__":
    print(write_chart())
