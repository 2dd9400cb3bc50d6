#!/usr/bin/env python3
"""Writes GEMM-only models for timing tfc's matrix multiplication (benchmarks, not tests).

    scripts/gemm_models.py DIR

DIR/mlp.tir   8 x (768 -> 3072 -> 768), no bias: GPT-2's MLP shapes
DIR/qkv.tir   8 x 768 -> 2304 with bias, summed: GPT-2's attention input projection
DIR/head.tir  768 -> 50257, transposed: GPT-2's tied LM head

Each has a token input (an embedding of 128 rows) and one output, `logits`, so that
scripts/ab_bench.py can time two builds of tfc on it:

    scripts/ab_bench.py OLD_TFC NEW_TFC DIR/mlp.tir --seq 128 --rounds 25
"""
import os
import sys


def model(name, k, lines):
    head = [f"model @{name} {{", "  seq T <= 1024", "  weights random(seed = 1, std = 0.02)",
            "  input %tokens : i32[T]", f"  param @emb : f32[128, {k}] = normal(0.0, 1.0)"]
    return "\n".join(head + lines + ["  output %logits", "}"]) + "\n"


def mlp():
    params, body, prev = [], ["  %x = embedding(%tokens, @emb) : f32[T, 768]"], "%x"
    for i in range(8):
        params += [f"  param @w{i} : f32[768, 3072]", f"  param @v{i} : f32[3072, 768]"]
        out = "%logits" if i == 7 else f"%b{i}"
        body += [f"  %a{i} = linear({prev}, @w{i}) : f32[T, 3072]", f"  {out} = linear(%a{i}, @v{i}) : f32[T, 768]"]
        prev = out
    return model("mlp", 768, params + body)


def qkv():
    params, body = [], ["  %x = embedding(%tokens, @emb) : f32[T, 768]"]
    for i in range(8):
        params += [f"  param @w{i} : f32[768, 2304]", f"  param @b{i} : f32[2304]"]
        body.append(f"  %y{i} = linear(%x, @w{i}, @b{i}) : f32[T, 2304]")
    acc = "%y0"
    for i in range(1, 8):
        out = "%logits" if i == 7 else f"%s{i}"
        body.append(f"  {out} = add({acc}, %y{i}) : f32[T, 2304]")
        acc = out
    return model("qkv", 768, params + body)


def head():
    return model("head", 768, ["  param @w : f32[50257, 768]", "  %x = embedding(%tokens, @emb) : f32[T, 768]",
                               "  %logits = linear(%x, @w) {transposed = true} : f32[T, 50257]"])


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    os.makedirs(sys.argv[1], exist_ok=True)
    for name, text in (("mlp", mlp()), ("qkv", qkv()), ("head", head())):
        with open(os.path.join(sys.argv[1], name + ".tir"), "w") as f:
            f.write(text)
        print("wrote", os.path.join(sys.argv[1], name + ".tir"))


if __name__ == "__main__":
    main()
