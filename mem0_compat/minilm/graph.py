"""The ONNX graph of a BERT sentence encoder, built from its safetensors weights.

One graph does the whole sentence-transformers pipeline of all-MiniLM-L6-v2: embeddings, the encoder layers,
mean pooling over the attention mask and L2 normalisation. Inputs: `input_ids` and `attention_mask` (int64,
batch x sequence, padded on the right). Output: `sentence_embedding` (float32, batch x hidden).

The matrix products, nearly all of the work, run on the real tokens only, packed into one (tokens x hidden)
matrix: padding would otherwise cost its share of every product (a fifth in batches of 16 sorted sentences).
Only the attention itself works on the padded (batch x sequence) layout.
"""

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 23  # the first with a standard Attention operator
MASKED = np.float32(-1e4)  # added to the attention scores of padding: exp() of it is 0 in float32


class _Graph:
    """Collects the nodes and initializers of a graph; each node gets a fresh output name."""

    def __init__(self, weights: dict[str, np.ndarray]):
        self.weights = weights
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []

    def constant(self, name: str, value) -> str:
        self.initializers.append(numpy_helper.from_array(np.ascontiguousarray(value), name))
        return name

    def weight(self, key: str, transpose: bool = False) -> str:
        value = self.weights[key]
        return self.constant(key, value.T if transpose else value)

    def op(self, op_type: str, *inputs: str, output: str | None = None, **attributes) -> str:
        output = output or f"{op_type}_{len(self.nodes)}"
        self.nodes.append(helper.make_node(op_type, list(inputs), [output], **attributes))
        return output

    def linear(self, x: str, prefix: str) -> str:
        # torch's Linear keeps its weight as (out, in)
        product = self.op("MatMul", x, self.weight(f"{prefix}.weight", transpose=True))
        return self.op("Add", product, self.weight(f"{prefix}.bias"))

    def layer_norm(self, x: str, prefix: str, epsilon: float) -> str:
        scale, bias = self.weight(f"{prefix}.weight"), self.weight(f"{prefix}.bias")
        return self.op("LayerNormalization", x, scale, bias, epsilon=epsilon)


def build_graph(weights: dict[str, np.ndarray], config: dict) -> onnx.ModelProto:
    """The encoder described by a Hugging Face BERT `config.json`, with these weights."""
    if config["hidden_act"] != "gelu" or config.get("position_embedding_type", "absolute") != "absolute":
        raise ValueError("only BERT with GELU and absolute position embeddings is supported")
    g = _Graph(weights)
    epsilon = config["layer_norm_eps"]
    heads = config["num_attention_heads"]
    mask = g.op("Cast", "attention_mask", to=TensorProto.FLOAT)
    seq_len = g.op("Shape", "attention_mask", start=1, end=2)

    layout = _Layout(g, config["hidden_size"])
    x = layout.pack(_embeddings(g, seq_len, epsilon))
    bias = _attention_bias(g, mask, seq_len)
    for layer in range(config["num_hidden_layers"]):
        x = _encoder_layer(g, layout, x, bias, f"encoder.layer.{layer}", heads, epsilon)
    _mean_pool_and_normalise(g, layout.unpack(x), mask, output="sentence_embedding")

    batch_by_seq, embedding_shape = ["batch", "sequence"], ["batch", config["hidden_size"]]
    graph = helper.make_graph(
        g.nodes,
        "sentence-encoder",
        [helper.make_tensor_value_info(name, TensorProto.INT64, batch_by_seq)
         for name in ("input_ids", "attention_mask")],
        [helper.make_tensor_value_info("sentence_embedding", TensorProto.FLOAT, embedding_shape)],
        g.initializers,
    )
    opsets = [helper.make_opsetid("", OPSET)]
    # the lowest IR version for the opset, so that onnxruntime releases older than this onnx can load it
    model = helper.make_model(graph, opset_imports=opsets, ir_version=helper.find_min_ir_version_for(opsets))
    onnx.checker.check_model(model)
    return model


class _Layout:
    """Between the padded layout (batch, sequence, features) and the packed one (tokens, features)."""

    def __init__(self, g: _Graph, hidden: int):
        self.g = g  # the constants are made once here: initializer names must be unique
        flat_mask = g.op("Reshape", "attention_mask", g.constant("flat", np.int64([-1])))
        # the padded positions of the real tokens, in order
        self.token_positions = g.op("Squeeze", g.op("NonZero", flat_mask), g.constant("first_axis", np.int64([0])))
        # for every padded position, the packed row of its token. Padding is right of a sentence's tokens, so
        # it points at a real token's row (the last one before it): finite values that the attention masks out
        # as keys and that are dropped as queries.
        self.packed_rows = g.op("Sub", g.op("CumSum", flat_mask, g.constant("axis_0", np.int64(0))),
                                g.constant("one_int", np.int64(1)))
        self.padded_shape = g.op("Concat", g.op("Shape", "attention_mask"), g.constant("features", np.int64([-1])),
                                 axis=0)
        self.rows_by_hidden = g.constant("rows_by_hidden", np.int64([-1, hidden]))

    def pack(self, padded: str) -> str:
        rows = self.g.op("Reshape", padded, self.rows_by_hidden)
        return self.g.op("Gather", rows, self.token_positions, axis=0)

    def unpack(self, packed: str) -> str:
        return self.g.op("Reshape", self.g.op("Gather", packed, self.packed_rows, axis=0), self.padded_shape)


def _embeddings(g: _Graph, seq_len: str, epsilon: float) -> str:
    # A single sentence has token type 0 everywhere: that row is folded into the position table.
    positions = g.weights["embeddings.position_embeddings.weight"]
    positions = positions + g.weights["embeddings.token_type_embeddings.weight"][0]
    start = g.constant("start", np.int64([0]))
    first_positions = g.op("Slice", g.constant("positions", positions), start, seq_len)
    words = g.op("Gather", g.weight("embeddings.word_embeddings.weight"), "input_ids")
    return g.layer_norm(g.op("Add", words, first_positions), "embeddings.LayerNorm", epsilon)


def _attention_bias(g: _Graph, mask: str, seq_len: str) -> str:
    """0 for tokens, MASKED for padding, per key; shaped (batch, 1, query, key), the only mask shape
    onnxruntime's Attention accepts (it does not broadcast over queries)."""
    per_key = g.op("Mul", g.op("Sub", g.constant("one", np.float32(1)), mask), g.constant("masked", MASKED))
    per_key = g.op("Unsqueeze", per_key, g.constant("head_and_query_axes", np.int64([1, 2])))
    queries_by_one = g.op("Concat", seq_len, g.constant("one_dim", np.int64([1])), axis=0)
    return g.op("Expand", per_key, queries_by_one)


def _encoder_layer(g: _Graph, layout: _Layout, x: str, bias: str, prefix: str, heads: int, epsilon: float) -> str:
    """x: packed."""
    query, key, value = (layout.unpack(g.linear(x, f"{prefix}.attention.self.{name}"))
                         for name in ("query", "key", "value"))
    context = layout.pack(g.op("Attention", query, key, value, bias, q_num_heads=heads, kv_num_heads=heads))
    attended = g.op("Add", g.linear(context, f"{prefix}.attention.output.dense"), x)
    x = g.layer_norm(attended, f"{prefix}.attention.output.LayerNorm", epsilon)
    hidden = g.op("Gelu", g.linear(x, f"{prefix}.intermediate.dense"))
    output = g.op("Add", g.linear(hidden, f"{prefix}.output.dense"), x)
    return g.layer_norm(output, f"{prefix}.output.LayerNorm", epsilon)


def _mean_pool_and_normalise(g: _Graph, x: str, mask: str, output: str) -> None:
    """sentence-transformers' Pooling (mean over real tokens) and Normalize, with torch's epsilons."""
    sequence_axis = g.constant("sequence_axis", np.int64([1]))
    token_weights = g.op("Unsqueeze", mask, g.constant("feature_axis", np.int64([2])))
    summed = g.op("ReduceSum", g.op("Mul", x, token_weights), sequence_axis, keepdims=0)
    counts = g.op("ReduceSum", token_weights, sequence_axis, keepdims=0)
    mean = g.op("Div", summed, g.op("Max", counts, g.constant("min_count", np.float32(1e-9))))
    norm = g.op("ReduceL2", mean, g.constant("last_axis", np.int64([-1])), keepdims=1)
    g.op("Div", mean, g.op("Max", norm, g.constant("min_norm", np.float32(1e-12))), output=output)
