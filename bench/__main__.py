"""`python -m bench [NAME ...]`: run the named benchmarks, or all of them when none is named.

One server (see `bench.server`) is started for the whole run and stopped at the end, Ctrl-C and SIGTERM
included. Each benchmark is a function `run(server) -> bool` that prints its report, writes its JSON under
`bench/results/` and answers whether its correctness checks passed. Exit status: 0 all passed, 1 a check
failed, 2 unknown name, 130 interrupted.
"""

import signal
import sys

from bench import chat_history, embedder, lifecycle, load, memory, retrieval
from bench.server import running_server

BENCHMARKS = {
    "chat_history": chat_history.run,
    "memory": memory.run,
    "embedder": embedder.run,
    "retrieval": retrieval.run,
    "lifecycle": lifecycle.run,
    "load": load.run,
}


def main(names: list[str]) -> int:
    names = names or list(BENCHMARKS)
    unknown = [name for name in names if name not in BENCHMARKS]
    if unknown:
        print(f"Unknown benchmark {', '.join(unknown)}; available: {', '.join(BENCHMARKS)}", file=sys.stderr)
        return 2
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # stop like Ctrl-C: the cleanup runs
    try:
        with running_server() as server:
            passed = [BENCHMARKS[name](server) for name in names]
    except KeyboardInterrupt:
        print("\nInterrupted; server and database stopped.", file=sys.stderr)
        return 130
    return 0 if all(passed) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
