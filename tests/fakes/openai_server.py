"""A fake OpenAI-compatible HTTP server on 127.0.0.1: scripted chat replies, deterministic embeddings.

    with FakeOpenAI() as fake:
        fake.script({"facts": ["Loves sushi"]})
        client = openai.OpenAI(base_url=fake.base_url, api_key="x")
        ...
        assert "sushi" in fake.requests[0]["messages"][1]["content"]

Chat replies are consumed in order; a chat request with nothing scripted answers HTTP 500 (the test forgot a
reply). Failures answer with `retry-after-ms: 1`, so the OpenAI client's own retry does not slow tests down.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import re
import struct
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

HOST = "127.0.0.1"
Reply = dict | list | str | Callable[[dict], Any]


@dataclass
class _Failure:
    status: int
    message: str | None = None


@dataclass
class _Redirect:
    location: str
    status: int


@dataclass
class _Hang:
    seconds: float


def embed(text: str, dimension: int) -> list[float]:
    """A unit vector from hashed words: the same text always maps to the same vector, and texts sharing words
    point in similar directions (good enough for similarity ordering in tests)."""
    vector = [0.0] * dimension
    for word in re.findall(r"\w+", text.lower()):
        digest = hashlib.sha256(word.encode()).digest()
        index = int.from_bytes(digest[:4], "big") % dimension
        vector[index] += 1.0 if digest[4] % 2 else -1.0
    norm = math.sqrt(sum(value * value for value in vector))
    if norm == 0:
        return [1.0] + [0.0] * (dimension - 1)
    return [value / norm for value in vector]


class FakeOpenAI:
    def __init__(self, *, embedding_dimension: int = 8):
        self.embedding_dimension = embedding_dimension
        self.requests: list[dict] = []  # chat completion request bodies, in arrival order
        self.request_headers: list[dict] = []  # their headers, lower-cased names
        self.embedding_requests: list[dict] = []
        self.response_headers: dict[str, str] = {}  # sent with every chat reply (a Set-Cookie, say)
        self._replies: deque = deque()
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ------------------------------------------------------------------------------------------

    def start(self) -> FakeOpenAI:
        handler = type("Handler", (_Handler,), {"fake": self})
        self._server = ThreadingHTTPServer((HOST, 0), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="FakeOpenAI", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is None:
            return
        self._stopping.set()  # releases hanging handlers
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
        self._server = None

    def __enter__(self) -> FakeOpenAI:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        return f"http://{HOST}:{self._server.server_address[1]}/v1"

    # -- scripting ------------------------------------------------------------------------------------------

    def script(self, *replies: Reply) -> None:
        """Queue chat replies. A dict or list is sent as its JSON text, a str verbatim (to send non-JSON or
        code-fenced text), a callable is called with the request body and its result sent the same way."""
        with self._lock:
            self._replies.extend(replies)

    def fail_next(self, status: int = 500, *, times: int = 1, message: str | None = None) -> None:
        """The next `times` chat requests answer HTTP `status` (the OpenAI client retries 5xx once), with
        `message` as the error's."""
        with self._lock:
            self._replies.extend(_Failure(status, message) for _ in range(times))

    def redirect_next(self, location: str, *, status: int = 307) -> None:
        """The next chat request is redirected to `location` (307 keeps the method and body)."""
        with self._lock:
            self._replies.append(_Redirect(location, status))

    def hang_next(self, *, times: int = 1, seconds: float = 30) -> None:
        """The next `times` chat requests get no answer for `seconds` (or until the server stops)."""
        with self._lock:
            self._replies.extend(_Hang(seconds) for _ in range(times))

    def _next_reply(self, body: dict, headers: dict) -> Reply | _Failure | _Redirect | _Hang | None:
        with self._lock:
            self.requests.append(body)
            self.request_headers.append(headers)
            return self._replies.popleft() if self._replies else None


class _Handler(BaseHTTPRequestHandler):
    fake: FakeOpenAI
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass  # keep test output quiet

    def do_POST(self):
        try:
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
        except ValueError:
            return self._send(400, _error("request body is not JSON"))
        path = self.path.split("?", 1)[0].rstrip("/")
        if path == "/v1/chat/completions":
            return self._chat(body)
        if path == "/v1/embeddings":
            return self._embeddings(body)
        return self._send(404, _error(f"no route {self.path}"))

    def _chat(self, body: dict):
        reply = self.fake._next_reply(body, {name.lower(): value for name, value in self.headers.items()})
        if reply is None:
            return self._send(500, _error("FakeOpenAI: no scripted reply left"))
        if isinstance(reply, _Hang):
            self.fake._stopping.wait(reply.seconds)
            self.close_connection = True
            return None
        if isinstance(reply, _Failure):
            return self._send(reply.status, _error(reply.message or f"FakeOpenAI: scripted HTTP {reply.status}"))
        if isinstance(reply, _Redirect):
            return self._send(reply.status, _error("moved"), {"Location": reply.location})
        if callable(reply):
            reply = reply(body)
        content = reply if isinstance(reply, str) else json.dumps(reply)
        return self._send(200, _chat_completion(body.get("model", "fake"), content), self.fake.response_headers)

    def _embeddings(self, body: dict):
        with self.fake._lock:
            self.fake.embedding_requests.append(body)
        inputs = body.get("input", [])
        inputs = [inputs] if isinstance(inputs, str) else list(inputs)
        dimension = int(body.get("dimensions") or self.fake.embedding_dimension)
        as_base64 = body.get("encoding_format") == "base64"
        data = [
            {
                "object": "embedding",
                "index": index,
                "embedding": _encode(embed(str(text), dimension), as_base64),
            }
            for index, text in enumerate(inputs)
        ]
        tokens = sum(len(str(text).split()) for text in inputs)
        usage = {"prompt_tokens": tokens, "total_tokens": tokens}
        return self._send(
            200, {"object": "list", "data": data, "model": body.get("model", "fake"), "usage": usage}
        )

    def _send(self, status: int, payload: dict, headers: dict | None = None):
        data = json.dumps(payload).encode()
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        if status >= 400:
            self.send_header("retry-after-ms", "1")
        self.end_headers()
        self.wfile.write(data)


def _encode(vector: list[float], as_base64: bool) -> list[float] | str:
    if not as_base64:
        return vector
    return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()


def _error(message: str) -> dict:
    return {"error": {"message": message, "type": "fake_error", "param": None, "code": None}}


def _chat_completion(model: str, content: str) -> dict:
    return {
        "id": f"chatcmpl-fake-{time.monotonic_ns()}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content, "refusal": None},
                "logprobs": None,
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0},
    }
