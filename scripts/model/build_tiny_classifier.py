#!/usr/bin/env python3
"""Generate a tiny token classifier in the LLMLingua-2 format, for tests.

The graph has the same interface as an optimum export of
microsoft/llmlingua-2-xlm-roberta-large-meetingbank: inputs `input_ids` and `attention_mask`
(int64, [batch, seq]), output `logits` (float32, [batch, seq, 2]; class 1 = keep). Its weights
are chosen by hand so that the keep-probability of every token is known: the logit margin of
each vocabulary entry below. A small WordPiece tokenizer.json goes with it.

With the margins below and the sentence in tests/model_classifier.rs, rate 0.3 keeps exactly
"server crashed disk /var/log full lost 42 requests" (see the test for the arithmetic).
"""

from __future__ import annotations

import argparse
import os

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

# Vocabulary entry -> logit margin (keep minus drop). Special and unknown tokens are neutral.
MARGINS: dict[str, float] = {
    "[PAD]": 0.0,
    "[UNK]": 0.0,
    "[CLS]": 0.0,
    "[SEP]": 0.0,
    "the": -3.0,
    "server": 3.0,
    "crashed": 2.5,
    "because": -2.0,
    "disk": 2.0,
    "at": -2.5,
    "/": 0.0,
    "var": 0.0,
    "log": 0.0,
    "was": -2.0,
    "full": 1.5,
    "and": -3.0,
    "we": -2.0,
    "lost": 1.0,
    "request": 2.0,
    "##s": -1.0,
    "so": -3.0,
    "please": -1.0,
    "check": -0.5,
    "it": -3.0,
    "now": -1.5,
    ".": -3.0,
    ",": -3.0,
}


def build_model() -> onnx.ModelProto:
    vocab = list(MARGINS)
    # A two-feature embedding ([bias, margin]) followed by a dense layer: logits = [0, margin].
    emb = np.array([[1.0, MARGINS[t]] for t in vocab], np.float32)
    dense = np.array([[0.0, 0.0], [0.0, 1.0]], np.float32)
    bias = np.zeros(2, np.float32)
    nodes = [
        helper.make_node("Gather", ["emb", "input_ids"], ["features"]),
        helper.make_node("MatMul", ["features", "dense"], ["scores"]),
        helper.make_node("Add", ["scores", "bias"], ["logits"]),
    ]
    graph = helper.make_graph(
        nodes,
        "tiny_token_classifier",
        [
            helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", "seq"]),
            helper.make_tensor_value_info("attention_mask", TensorProto.INT64, ["batch", "seq"]),
        ],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", "seq", 2])],
        [numpy_helper.from_array(emb, "emb"), numpy_helper.from_array(dense, "dense"), numpy_helper.from_array(bias, "bias")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="headroom")
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def build_tokenizer():
    from tokenizers import Tokenizer, normalizers, pre_tokenizers, processors
    from tokenizers.models import WordPiece

    vocab = {t: i for i, t in enumerate(MARGINS)}
    tok = Tokenizer(WordPiece(vocab, unk_token="[UNK]", max_input_chars_per_word=100))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        special_tokens=[("[CLS]", vocab["[CLS]"]), ("[SEP]", vocab["[SEP]"])],
    )
    return tok


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True, help="output directory (gets model.onnx and tokenizer.json)")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    onnx.save(build_model(), os.path.join(args.out, "model.onnx"))
    tok = build_tokenizer()
    tok.save(os.path.join(args.out, "tokenizer.json"))
    enc = tok.encode("The requests at /var/log")
    print(f"tiny classifier: {len(MARGINS)} tokens; sample tokens {enc.tokens}")


if __name__ == "__main__":
    main()
