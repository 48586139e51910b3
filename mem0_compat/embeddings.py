"""Embedders: text to L2-normalised float32 vectors, one embedder per process chosen by `settings.EMBEDDER`.

- "minilm" (default): all-MiniLM-L6-v2, 384 dimensions, on onnxruntime; sentence-transformers' vectors.
- "minilm-int8": the same model with int8 weights: about 2.5x the sentences per second, vectors within
  cosine ~0.95-0.99 of minilm's (bench retrieval measures what that costs).
- "static": the model2vec-style model of `tokenlearn-static-model`, 64 dimensions; very fast.
- "<provider>/<model>": an OpenAI-compatible `/embeddings` endpoint (when `EMBEDDER_BASE_URL` is set or the
  provider is "openai"), else one of mem0's embedder providers (ollama, gemini, azure_openai, ...).

Each engine is imported by its embedder only, so a process pays for the one it uses.
"""

import functools
import os
from pathlib import Path
from typing import Protocol

import numpy as np
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed
from django.dispatch import receiver

from mem0_compat.minilm import files as minilm_files

PROVIDER_TIMEOUT_SECONDS = 30
PROVIDER_BATCH_SIZE = 256  # texts per request; OpenAI accepts at most 2,048


class Embedder(Protocol):
    name: str
    dimensions: int

    def embed(self, texts: list[str]) -> np.ndarray:
        """Shape (len(texts), dimensions), float32, each row L2-normalised."""


class EmbedderUnavailable(Exception):
    """The embedding provider failed: unreachable, an error status, or an answer that is not embeddings."""


class MiniLMEmbedder:
    """all-MiniLM-L6-v2 as sentence-transformers runs it (truncated to 256 tokens, mean-pooled, normalised),
    as one ONNX graph on onnxruntime: no torch."""

    # Small batches of similar length. The graph's matrix products skip padding, but its attention does not,
    # and attention grows with the square of the longest sentence. Measured here on calls of 64 sentences:
    # short ones (10-20 words) ~520/s in batches of 16 and ~535/s in one batch of 64; mixed lengths (1-6 such
    # sentences joined) ~220/s in batches of 16 but ~135/s in one batch.
    batch_size = 16

    def __init__(self, models_dir: Path, *, int8: bool = False):
        import onnxruntime

        self.name = "minilm-int8" if int8 else "minilm"
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = settings.EMBEDDER_THREADS
        options.inter_op_num_threads = 1
        self._session = onnxruntime.InferenceSession(
            minilm_files.onnx_graph(models_dir, int8=int8), options, providers=["CPUExecutionProvider"])
        self._tokenizer = minilm_files.load_tokenizer()
        self.dimensions = self._session.get_outputs()[0].shape[1]

    def embed(self, texts: list[str]) -> np.ndarray:
        token_ids = [encoding.ids for encoding in self._tokenizer.encode_batch(texts)]
        # Batches of texts of similar length waste little work on padding.
        order = sorted(range(len(texts)), key=lambda index: len(token_ids[index]))
        vectors = np.empty((len(texts), self.dimensions), np.float32)
        for start in range(0, len(order), self.batch_size):
            batch = order[start:start + self.batch_size]
            vectors[batch] = self._run([token_ids[index] for index in batch])
        return vectors

    def _run(self, token_ids: list[list[int]]) -> np.ndarray:
        input_ids = np.zeros((len(token_ids), max(map(len, token_ids))), np.int64)
        attention_mask = np.zeros_like(input_ids)
        for row, ids in enumerate(token_ids):
            input_ids[row, :len(ids)] = ids
            attention_mask[row, :len(ids)] = 1
        return self._session.run(None, {"input_ids": input_ids, "attention_mask": attention_mask})[0]


class StaticEmbedder:
    """The package's own Rust encoder: the same vectors as model2vec's StaticModel, loaded 4x faster (0.9 s)
    and encoding ~2x faster."""

    name = "static"

    def __init__(self):
        from static_model import get_embeddings

        self._encode = get_embeddings
        # probing also loads the model now rather than on the first request
        self.dimensions = len(self._encode(["probe"])[0])

    def embed(self, texts: list[str]) -> np.ndarray:
        """A text with no known token (e.g. an empty one) gets the zero vector."""
        if not texts:
            return np.zeros((0, self.dimensions), np.float32)
        return np.asarray(self._encode(texts), dtype=np.float32)


class _ProviderEmbedder:
    """An embedder behind network calls: its answers are checked and normalised here."""

    def __init__(self, name: str, dimensions: int):
        self.name = name
        self.dimensions = dimensions

    def embed(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimensions), np.float32)
        return self._unit_rows(self._vectors(texts), len(texts))

    def _vectors(self, texts: list[str]) -> list:
        raise NotImplementedError

    def _unit_rows(self, vectors: list, count: int) -> np.ndarray:
        try:
            array = np.asarray(vectors, dtype=np.float32)
        except (TypeError, ValueError) as error:
            raise EmbedderUnavailable(f"{self.name} answered something other than vectors") from error
        if array.shape != (count, self.dimensions):
            raise EmbedderUnavailable(
                f"{self.name} answered vectors of shape {array.shape}, expected ({count}, "
                f"{self.dimensions}): is EMBEDDING_DIMENSIONS right for this model?")
        norms = np.linalg.norm(array, axis=1, keepdims=True)
        if not (np.isfinite(norms).all() and norms.all()):
            raise EmbedderUnavailable(f"{self.name} answered zero or non-finite vectors")
        return array / norms


class OpenAICompatibleEmbedder(_ProviderEmbedder):
    def __init__(self, name: str, model: str, dimensions: int, *, base_url: str | None, api_key: str,
                 send_dimensions: bool):
        import openai

        super().__init__(name, dimensions)
        self._model = model
        self._client = openai.OpenAI(base_url=base_url, api_key=api_key, timeout=PROVIDER_TIMEOUT_SECONDS)
        # only OpenAI's own models take `dimensions`; other servers may reject it
        self._options = {"dimensions": dimensions} if send_dimensions else {}

    def _vectors(self, texts: list[str]) -> list:
        return [vector for start in range(0, len(texts), PROVIDER_BATCH_SIZE)
                for vector in self._request(texts[start:start + PROVIDER_BATCH_SIZE])]

    def _request(self, texts: list[str]) -> list:
        import openai

        try:
            # "float": the client's default, base64, is not understood by every compatible server
            response = self._client.embeddings.create(
                model=self._model, input=texts, encoding_format="float", **self._options)
            return [item.embedding for item in sorted(response.data, key=lambda item: item.index)]
        except openai.OpenAIError as error:
            raise EmbedderUnavailable(f"{self.name}: {error}") from error
        except (AttributeError, TypeError) as error:
            raise EmbedderUnavailable(f"{self.name} answered something other than embeddings") from error


class Mem0Embedder(_ProviderEmbedder):
    """One of mem0's embedder providers, through `mem0.utils.factory.EmbedderFactory`."""

    def __init__(self, name: str, provider: str, model: str, dimensions: int, api_key: str | None):
        super().__init__(name, dimensions)
        from mem0.utils.factory import EmbedderFactory  # check_embedder_setting has imported it

        config = {"model": model, "embedding_dims": dimensions} | ({"api_key": api_key} if api_key else {})
        try:
            self._embedder = EmbedderFactory.create(provider, config, None)
        except Exception as error:  # each provider's client raises its own exceptions (some connect at once)
            raise EmbedderUnavailable(f"{name}: {error}") from error

    def _vectors(self, texts: list[str]) -> list:
        try:
            return [self._embedder.embed(text, "search") for text in texts]
        except Exception as error:  # each provider's client raises its own exceptions
            raise EmbedderUnavailable(f"{self.name}: {error}") from error


def check_embedder_setting(spec: str) -> None:
    """Raises ImproperlyConfigured when EMBEDDER=`spec` cannot work with EMBEDDING_DIMENSIONS, the keys and the
    packages installed: what the settings alone show, loading no model and calling nothing. A system check runs it
    (mem0_compat.checks), so that `migrate` stops the start rather than every memory request failing on it."""
    dimensions = settings.EMBEDDING_DIMENSIONS
    if spec in settings.OFFLINE_DIMENSIONS:
        made = settings.OFFLINE_DIMENSIONS[spec]
        if made != dimensions:
            raise ImproperlyConfigured(
                f"EMBEDDER={spec} makes {made}-dimensional vectors but EMBEDDING_DIMENSIONS={dimensions}: set "
                f"EMBEDDING_DIMENSIONS={made} (and run `manage.py reembed` if memories were stored with another "
                "embedder)")
        return
    if "/" not in spec:
        raise ImproperlyConfigured(f"EMBEDDER={spec!r}: expected 'minilm', 'minilm-int8', 'static' or "
                                   "'<provider>/<model>'")
    provider = spec.split("/", 1)[0]
    if settings.EMBEDDER_BASE_URL or provider == "openai":
        if provider == "openai" and not (settings.EMBEDDER_BASE_URL or settings.EMBEDDER_API_KEY):
            raise ImproperlyConfigured(f"EMBEDDER={spec} needs EMBEDDER_API_KEY (or OPENAI_API_KEY)")
        return
    os.environ.setdefault("MEM0_TELEMETRY", "False")  # before the first `import mem0`, which reads it
    from mem0.utils.factory import EmbedderFactory, load_class

    if provider not in EmbedderFactory.provider_to_class:
        known = ", ".join(sorted(EmbedderFactory.provider_to_class))
        raise ImproperlyConfigured(f"EMBEDDER={spec}: unknown provider {provider!r}; mem0 knows {known}")
    try:
        load_class(EmbedderFactory.provider_to_class[provider])  # its module imports the provider's library
    except ImportError as error:
        raise ImproperlyConfigured(f"EMBEDDER={spec} needs a package not installed: {error}") from error


def create_embedder(spec: str) -> Embedder:
    """The embedder named `spec` (see the module docstring), configured from settings."""
    check_embedder_setting(spec)
    if spec in ("minilm", "minilm-int8"):
        return MiniLMEmbedder(Path(settings.DATA_DIR) / "models", int8=spec == "minilm-int8")
    if spec == "static":
        return StaticEmbedder()
    return _provider_embedder(spec)


def _provider_embedder(spec: str) -> Embedder:
    provider, model = spec.split("/", 1)
    dimensions = settings.EMBEDDING_DIMENSIONS
    if settings.EMBEDDER_BASE_URL or provider == "openai":
        return OpenAICompatibleEmbedder(
            spec, model, dimensions, base_url=settings.EMBEDDER_BASE_URL,
            api_key=settings.EMBEDDER_API_KEY or "not-needed", send_dimensions=provider == "openai")
    return Mem0Embedder(spec, provider, model, dimensions, settings.EMBEDDER_API_KEY)


@functools.cache
def get_embedder() -> Embedder:
    """This process's embedder, built on first use."""
    return create_embedder(settings.EMBEDDER)


@receiver(setting_changed)
def _forget_embedder(*, setting: str, **kwargs) -> None:
    """Tests that override EMBEDDER* settings get an embedder made from them."""
    if setting.startswith("EMBEDD"):
        get_embedder.cache_clear()
