#!/usr/bin/env python3
"""Writes ReferenceFixtures.swift: expected outputs, in float64 numpy, of the small models that
ReferenceTests.swift builds and runs through the interpreter.

The GPTs run through /work/shared/reference/prenorm_ref.py's own forward(); the ViT (which that
file lacks) is written here in plain numpy, its patch extraction checked against a direct
convolution. Weights and inputs are not stored: both sides generate them from the same dyadic
generator (see DyadicWeights in TestSupport.swift), whose values are exact in float32, so the
fixture holds only the outputs and stays small.

    python3 Tests/InterpreterTests/make_reference.py   # from the package root; needs numpy
"""
import math
import os
import sys

import numpy as np

REFERENCE_DIR = os.environ.get("PRENORM_REF_DIR", "/work/shared/reference")
sys.path.insert(0, REFERENCE_DIR)
sys.dont_write_bytecode = True  # leave the shared reference folder as it is
import prenorm_ref as ref  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
MASK64 = (1 << 64) - 1


# ----------------------------------------------------------------------------- weights
def fnv1a(name):
    h = 0xCBF29CE484222325
    for byte in name.encode():
        h = ((h ^ byte) * 0x100000001B3) & MASK64
    return h


def dyadic(name, *shape):
    """Same stream as DyadicWeights.tensor in TestSupport.swift: splitmix64 seeded by FNV-1a."""
    offset, scale = spec(name)
    state = fnv1a(name)
    values = []
    for _ in range(int(np.prod(shape))):
        state = (state + 0x9E3779B97F4A7C15) & MASK64
        z = state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
        z ^= z >> 31
        k = z >> 53
        values.append(offset + scale * (k - 1024) / 1024)
    out = np.array(values, dtype=np.float64).reshape(shape)
    assert np.array_equal(out.astype(np.float32).astype(np.float64), out), name
    return out


def spec(name):
    if name.endswith(".g"):
        return 1.0, 0.25
    return {"wte": (0.5, 1.0), "wpe": (-0.25, 0.5), "pos": (-0.25, 0.5)}.get(name, (0.0, 0.5))


# ----------------------------------------------------------------------------- GPT (prenorm_ref)
def gpt_params(norm, affine, tied, width, inner, mlp, vocab, heads, layers, max_seq):
    d = width

    def gain_bias(prefix):
        return (dyadic(prefix + ".g", d), dyadic(prefix + ".b", d)) if affine else (None, None)

    P = {"norm": norm, "n_heads": heads, "wte": dyadic("wte", vocab, d), "wpe": dyadic("wpe", max_seq, d),
         "layers": []}
    for l in range(layers):
        h = f"h{l}"
        g1, b1 = gain_bias(h + ".ln1")
        g2, b2 = gain_bias(h + ".ln2")
        P["layers"].append({
            "ln1_g": g1, "ln1_b": b1,
            "w_qkv": dyadic(h + ".attn.w", d, 3 * inner), "b_qkv": dyadic(h + ".attn.b", 3 * inner),
            "w_o": dyadic(h + ".proj.w", inner, d), "b_o": dyadic(h + ".proj.b", d),
            "ln2_g": g2, "ln2_b": b2,
            "w_fc": dyadic(h + ".fc.w", d, mlp), "b_fc": dyadic(h + ".fc.b", mlp),
            "w_proj": dyadic(h + ".out.w", mlp, d), "b_proj": dyadic(h + ".out.b", d),
        })
    P["lnf_g"], P["lnf_b"] = gain_bias("lnf")
    if tied:
        P["w_head"], P["b_head"] = P["wte"].T.copy(), np.zeros(vocab)
    else:
        P["w_head"], P["b_head"] = dyadic("head.w", d, vocab), dyadic("head.b", vocab)
    return P


# The configurations ReferenceTests.swift builds (keep the two in step).
GPT = {
    "gptLN": dict(norm="ln", affine=True, tied=True, width=8, inner=8, mlp=32, vocab=11, heads=2,
                  layers=2, max_seq=8),
    "gptRMS": dict(norm="rms", affine=True, tied=False, width=8, inner=8, mlp=32, vocab=11, heads=2,
                   layers=2, max_seq=8),
    "gptCRMS": dict(norm="crms", affine=False, tied=False, width=7, inner=8, mlp=32, vocab=11, heads=2,
                    layers=2, max_seq=8),
}
GPT_EPS = 1e-5
TOKENS = {"tokens5": [3, 10, 0, 7, 3], "tokens8": [1, 2, 3, 4, 5, 6, 7, 10], "tokens1": [4]}


# ----------------------------------------------------------------------------- ViT (numpy)
VIT = dict(channels=3, height=8, width=12, patch=4, d=12, heads=3, mlp=24, layers=2, classes=5, eps=1e-12)


def gelu_erf(x):
    return 0.5 * x * (1.0 + np.vectorize(math.erf)(x / math.sqrt(2.0)))


def mha(q, k, v, heads):
    """Non-causal multi-head attention over [R, i] operands."""
    R, inner = q.shape
    dh = inner // heads
    split = lambda t: t.reshape(R, heads, dh).transpose(1, 0, 2)
    s = split(q) @ split(k).transpose(0, 2, 1) / np.sqrt(dh)
    p = np.exp(s - s.max(-1, keepdims=True))
    p /= p.sum(-1, keepdims=True)
    return (p @ split(v)).transpose(1, 0, 2).reshape(R, inner)


def vit_forward(c):
    C, H, W, p, d, eps = c["channels"], c["height"], c["width"], c["patch"], c["d"], c["eps"]
    image = dyadic("image", C, H, W)
    w, b = dyadic("patch.w", C * p * p, d), dyadic("patch.b", d)
    patches = image.reshape(C, H // p, p, W // p, p).transpose(1, 3, 0, 2, 4).reshape(-1, C * p * p)
    # The same patches as a stride-p Conv2d with PyTorch's weight layout [d, C, p, p].
    conv_w = w.T.reshape(d, C, p, p)
    conv = np.array([[np.sum(image[:, gy * p:(gy + 1) * p, gx * p:(gx + 1) * p] * conv_w[o]) for o in range(d)]
                     for gy in range(H // p) for gx in range(W // p)])
    assert np.allclose(patches @ w, conv, rtol=0, atol=1e-12)
    n_patches = (H // p) * (W // p)
    x = np.concatenate([dyadic("cls", 1, d), patches @ w + b]) + dyadic("pos", n_patches + 1, d)

    def ln(t, prefix):
        return ref.layer_norm(t, eps) * dyadic(prefix + ".g", d) + dyadic(prefix + ".b", d)

    def lin(t, prefix, n_in, n_out):
        return t @ dyadic(prefix + ".w", n_in, n_out) + dyadic(prefix + ".b", n_out)

    for l in range(c["layers"]):
        L = f"l{l}"
        n = ln(x, L + ".ln1")
        att = mha(lin(n, L + ".q", d, d), lin(n, L + ".k", d, d), lin(n, L + ".v", d, d), c["heads"])
        x = x + lin(att, L + ".o", d, d)
        n = ln(x, L + ".ln2")
        x = x + lin(gelu_erf(lin(n, L + ".fc1", d, c["mlp"])), L + ".fc2", c["mlp"], d)
    return lin(ln(x, "lnf")[0:1], "head", d, c["classes"])


# ----------------------------------------------------------------------------- output
def swift_array(name, values, doc, type_name="Double"):
    flat = [repr(float(v)) if type_name == "Double" else str(int(v)) for v in np.ravel(values)]
    lines = ["    /// " + doc, f"    static let {name}: [{type_name}] = ["]
    for i in range(0, len(flat), 4):
        lines.append("        " + ", ".join(flat[i:i + 4]) + ",")
    lines.append("    ]")
    return "\n".join(lines)


def main():
    ref.EPS = GPT_EPS
    parts = []
    for name, tokens in TOKENS.items():
        parts.append(swift_array(name, tokens, f"Token ids, T = {len(tokens)}.", "Int32"))
    for name, cfg in GPT.items():
        P = gpt_params(**cfg)
        for tok_name, tokens in TOKENS.items():
            logits = ref.forward(P, np.array(tokens))
            parts.append(swift_array(name + tok_name[0].upper() + tok_name[1:], logits,
                                     f"{name} logits [{len(tokens)}, {cfg['vocab']}] for {tok_name}."))
    parts.append(swift_array("vit", vit_forward(VIT), f"ViT logits [1, {VIT['classes']}]."))
    body = "\n\n".join(parts)
    text = (
        "// Expected outputs for ReferenceTests.swift, computed in float64 numpy by make_reference.py.\n"
        "// Generated: do not edit; rerun `python3 Tests/InterpreterTests/make_reference.py`.\n\n"
        "enum ReferenceFixtures {\n" + body + "\n}\n")
    path = os.path.join(HERE, "ReferenceFixtures.swift")
    with open(path, "w") as f:
        f.write(text)
    print(f"wrote {path} ({len(text)} bytes)")


if __name__ == "__main__":
    main()
