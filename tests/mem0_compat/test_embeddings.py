"""Embedders: MiniLM gives sentence-transformers' vectors, the static model works offline, and the provider
paths (an OpenAI-compatible server faked on 127.0.0.1, a mem0 provider faked in-process) are checked and
wrapped in EmbedderUnavailable when they fail."""

import json
import threading
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
from django.conf import settings as django_settings
from django.core.exceptions import ImproperlyConfigured

from mem0_compat.embeddings import (
    EmbedderUnavailable,
    MiniLMEmbedder,
    StaticEmbedder,
    get_embedder,
)
from mem0_compat.minilm import files as minilm_files

# Made with sentence-transformers 6.2.0 (torch 2.13.0 CPU) from the same wheel's files:
# SentenceTransformer(dir).encode(sentences). The last sentence has 602 tokens: truncation is checked too.
REFERENCE = json.loads((Path(__file__).parent / "data" / "minilm_reference.json").read_text())


@pytest.fixture(scope="module")
def minilm():
    return MiniLMEmbedder(Path(django_settings.DATA_DIR) / "models")


@pytest.fixture(scope="module")
def minilm_int8():
    return MiniLMEmbedder(Path(django_settings.DATA_DIR) / "models", int8=True)


@pytest.fixture(scope="module")
def static():
    return StaticEmbedder()


@pytest.fixture(params=["minilm", "minilm_int8", "static"])
def embedder(request):
    return request.getfixturevalue(request.param)


class FakeGraph:
    def SerializeToString(self):  # noqa: N802 (onnx's name)
        return b"graph"


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def test_minilm_matches_sentence_transformers(minilm):
    ours = minilm.embed(REFERENCE["sentences"])
    theirs = np.array(REFERENCE["embeddings"])
    for sentence, mine, reference in zip(REFERENCE["sentences"], ours, theirs, strict=True):
        assert cosine(mine, reference) > 0.9999, sentence[:60]


def test_minilm_vectors_do_not_depend_on_the_batch(minilm):
    sentences = REFERENCE["sentences"]
    one_by_one = np.vstack([minilm.embed([sentence]) for sentence in sentences])
    assert len(sentences) * 3 > minilm.batch_size  # several batches, each padded differently
    np.testing.assert_allclose(minilm.embed(sentences * 3), np.tile(one_by_one, (3, 1)), atol=1e-5)


def test_minilm_int8_stays_close_to_sentence_transformers(minilm_int8):
    ours = minilm_int8.embed(REFERENCE["sentences"])
    for sentence, mine, reference in zip(REFERENCE["sentences"], ours, REFERENCE["embeddings"], strict=True):
        assert cosine(mine, np.array(reference)) > 0.9, sentence[:60]
    assert minilm_int8.name == "minilm-int8"


def test_minilm_int8_graph_is_made_once_beside_the_float_one(tmp_path, monkeypatch):
    made = []
    monkeypatch.setattr(minilm_files, "_build", lambda archive: made.append("graph") or FakeGraph())
    monkeypatch.setattr(minilm_files, "_quantize", lambda graph: made.append(graph) or b"int8 graph")
    path = minilm_files.onnx_graph(tmp_path, int8=True)
    assert minilm_files.onnx_graph(tmp_path, int8=True) == path
    assert path.name.endswith("-int8.onnx") and path.read_bytes() == b"int8 graph"
    assert made == ["graph", minilm_files.onnx_graph(tmp_path)]  # the float graph, then its quantization


def test_minilm_truncates_long_texts(minilm):
    long_text = " ".join(f"fact {n} about the deployment pipeline" for n in range(400))
    vectors = minilm.embed([long_text, long_text + " and one more thing at the very end"])
    assert vectors.shape == (2, 384)
    np.testing.assert_allclose(vectors[0], vectors[1], atol=1e-6)


def test_vectors_are_unit_float32_rows(embedder):
    vectors = embedder.embed(["hello", "I prefer tea over coffee in the morning", "Zürich ☕ 日本"])
    assert vectors.shape == (3, embedder.dimensions)
    assert vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1, atol=1e-5)
    assert embedder.embed([]).shape == (0, embedder.dimensions)


def test_related_sentences_are_closer(embedder):
    deploy, question, cat = embedder.embed(["I deploy on Fridays using ArgoCD", "when do we deploy",
                                            "my cat likes tuna"])
    assert deploy @ question > deploy @ cat + 0.2


def test_graph_is_built_once_per_weights_file(tmp_path, monkeypatch):
    builds = []
    monkeypatch.setattr(minilm_files, "_build", lambda archive: builds.append(archive) or FakeGraph())
    path = minilm_files.onnx_graph(tmp_path)
    assert minilm_files.onnx_graph(tmp_path) == path
    assert len(builds) == 1
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no partial file left behind
    assert path.read_bytes() == b"graph"

    monkeypatch.setattr(minilm_files, "GRAPH_VERSION", minilm_files.GRAPH_VERSION + 1)
    assert minilm_files.onnx_graph(tmp_path) != path
    assert len(builds) == 2


@pytest.mark.parametrize(("name", "dimensions"), [("minilm", 384), ("minilm-int8", 384), ("static", 64)])
def test_get_embedder_follows_settings(settings, name, dimensions):
    settings.EMBEDDER, settings.EMBEDDING_DIMENSIONS = name, dimensions
    assert get_embedder() is get_embedder()
    assert get_embedder().name == name
    (vector,) = get_embedder().embed(["I live in Berlin"])
    assert vector.shape == (dimensions,) and np.isfinite(vector).all()


def test_dimension_mismatch_is_a_configuration_error(settings):
    settings.EMBEDDER, settings.EMBEDDING_DIMENSIONS = "static", 384
    with pytest.raises(ImproperlyConfigured, match="EMBEDDING_DIMENSIONS=64"):
        get_embedder()


def test_unknown_embedder_is_a_configuration_error(settings):
    settings.EMBEDDER = "word2vec"
    with pytest.raises(ImproperlyConfigured, match="'minilm', 'minilm-int8', 'static' or '<provider>/<model>'"):
        get_embedder()


# --- providers ----------------------------------------------------------------------------------------------

def fake_vector(text: str, dimensions: int) -> list[float]:
    """Deterministic and deliberately not normalised."""
    return (np.random.default_rng(zlib.crc32(text.encode())).normal(size=dimensions) * 3).tolist()


def unit(vector: list[float]) -> np.ndarray:
    return np.asarray(vector) / np.linalg.norm(vector)


class FakeEmbeddingsServer(ThreadingHTTPServer):
    """POST /v1/embeddings answers `fake_vector`s of `dimensions` (in reverse order, with their index), or
    `status` with an error body. Every request is kept in `requests`."""

    def __init__(self):
        super().__init__(("127.0.0.1", 0), _EmbeddingsHandler)
        self.requests: list[dict] = []
        self.status = 200
        self.dimensions = 8

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/v1"


class _EmbeddingsHandler(BaseHTTPRequestHandler):
    server: FakeEmbeddingsServer

    def do_POST(self):  # noqa: N802 (http.server's name)
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        authorization = self.headers["Authorization"]
        self.server.requests.append({"path": self.path, "body": body, "authorization": authorization})
        if self.server.status != 200:
            # retry-after-ms makes the client's retries immediate
            error = {"error": {"message": "fake failure"}}
            return self._answer(self.server.status, error, {"retry-after-ms": "1"})
        vectors = [fake_vector(text, self.server.dimensions) for text in body["input"]]
        data = [{"object": "embedding", "index": index, "embedding": vector}
                for index, vector in enumerate(vectors)]
        self._answer(200, {"object": "list", "model": body["model"], "data": data[::-1],
                           "usage": {"prompt_tokens": 1, "total_tokens": 1}})

    def _answer(self, status: int, payload: dict, headers: dict | None = None) -> None:
        content = json.dumps(payload).encode()
        self.send_response(status)
        for name, value in {"Content-Type": "application/json", **(headers or {})}.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(content)))
        self.end_headers()
        self.wfile.write(content)

    def log_message(self, format, *args):
        pass


@pytest.fixture
def fake_server(settings):
    server = FakeEmbeddingsServer()
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)  # quick shutdown
    thread.start()
    settings.EMBEDDER_BASE_URL, settings.EMBEDDER_API_KEY, settings.EMBEDDING_DIMENSIONS = server.url, None, 8
    yield server
    server.shutdown()
    server.server_close()
    thread.join()


def test_openai_compatible_endpoint(settings, fake_server):
    settings.EMBEDDER = "local/fake-embed"
    vectors = get_embedder().embed(["alpha", "beta", "alpha"])
    assert vectors.shape == (3, 8) and vectors.dtype == np.float32
    np.testing.assert_allclose(vectors[0], unit(fake_vector("alpha", 8)), atol=1e-6)
    np.testing.assert_allclose(vectors[1], unit(fake_vector("beta", 8)), atol=1e-6)
    np.testing.assert_array_equal(vectors[0], vectors[2])
    (request,) = fake_server.requests
    assert request["path"] == "/v1/embeddings"
    assert request["body"]["model"] == "fake-embed"
    assert "dimensions" not in request["body"]
    assert request["authorization"] == "Bearer not-needed"
    assert get_embedder().embed([]).shape == (0, 8)
    assert len(fake_server.requests) == 1


def test_openai_provider_asks_for_the_dimensions(settings, fake_server):
    settings.EMBEDDER, settings.EMBEDDER_API_KEY = "openai/text-embedding-3-small", "sk-test"
    assert get_embedder().embed(["alpha"]).shape == (1, 8)
    (request,) = fake_server.requests
    assert request["body"]["dimensions"] == 8
    assert request["authorization"] == "Bearer sk-test"


def test_endpoint_error_is_unavailable(settings, fake_server):
    settings.EMBEDDER = "local/fake-embed"
    fake_server.status = 500
    with pytest.raises(EmbedderUnavailable, match="fake failure"):
        get_embedder().embed(["alpha"])


def test_vectors_of_the_wrong_size_are_unavailable(settings, fake_server):
    settings.EMBEDDER = "local/fake-embed"
    fake_server.dimensions = 5
    with pytest.raises(EmbedderUnavailable, match="EMBEDDING_DIMENSIONS"):
        get_embedder().embed(["alpha"])


class FakeMem0Embedding:
    """Stands in for a mem0 provider class: mem0's factory builds it from a BaseEmbedderConfig."""

    def __init__(self, config):
        self.config = config

    def embed(self, text, memory_action=None):
        assert memory_action == "search"
        if text == "fail":
            raise ConnectionError("provider down")
        return fake_vector(f"{self.config.model}:{text}", self.config.embedding_dims)


@pytest.fixture
def mem0_provider(settings, monkeypatch):
    from mem0.utils.factory import EmbedderFactory

    monkeypatch.setitem(EmbedderFactory.provider_to_class, "fakeprovider", f"{__name__}.FakeMem0Embedding")
    settings.EMBEDDER_BASE_URL, settings.EMBEDDING_DIMENSIONS = None, 8


def test_mem0_provider(settings, mem0_provider):
    settings.EMBEDDER = "fakeprovider/some/model"
    vectors = get_embedder().embed(["alpha", "beta"])
    np.testing.assert_allclose(vectors[0], unit(fake_vector("some/model:alpha", 8)), atol=1e-6)
    np.testing.assert_allclose(vectors[1], unit(fake_vector("some/model:beta", 8)), atol=1e-6)
    with pytest.raises(EmbedderUnavailable, match="provider down"):
        get_embedder().embed(["alpha", "fail"])


def test_unknown_mem0_provider_is_a_configuration_error(settings, mem0_provider):
    settings.EMBEDDER = "nosuchprovider/model"
    with pytest.raises(ImproperlyConfigured, match="unknown provider 'nosuchprovider'"):
        get_embedder()
