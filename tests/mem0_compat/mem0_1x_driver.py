"""mem0ai 1.x's `MemoryClient` and `AsyncMemoryClient`, run for test_client_1x.py in a process of its own: the
tests import mem0ai 2.x, and one interpreter cannot hold both. Started with the 1.x package first on PYTHONPATH.

Each line on standard input is one JSON request, answered by one JSON line on standard output:
    {"client": NAME, "host": URL, "api_key": KEY, "async": BOOL}   makes a client (its constructor pings)
    {"client": NAME, "method": M, "args": [...], "kwargs": {...}}   calls one of its methods
The answer is {"result": ...} or, when the client raised, {"error": "<its class name>", "message": "..."}.
"""

import asyncio
import json
import sys
from importlib.metadata import version


def main() -> None:
    replies, sys.stdout = sys.stdout, sys.stderr  # whatever the package prints stays out of the replies
    from mem0 import AsyncMemoryClient, MemoryClient

    loop = asyncio.new_event_loop()  # one loop for the whole run: an async client's connections belong to it
    clients = {}
    for line in sys.stdin:
        request = json.loads(line)
        try:
            if "host" in request:
                kind = AsyncMemoryClient if request["async"] else MemoryClient
                client = clients[request["client"]] = kind(host=request["host"], api_key=request["api_key"])
                reply = {"result": {"version": version("mem0ai"), "org_id": client.org_id,
                                    "project_id": client.project_id}}
            else:
                answer = getattr(clients[request["client"]], request["method"])(*request["args"],
                                                                                 **request["kwargs"])
                reply = {"result": loop.run_until_complete(answer) if asyncio.iscoroutine(answer) else answer}
        except Exception as error:  # noqa: BLE001 - every failure is the test's to judge
            reply = {"error": type(error).__name__, "message": str(error)}
        replies.write(json.dumps(reply, default=str) + "\n")
        replies.flush()


if __name__ == "__main__":
    main()
