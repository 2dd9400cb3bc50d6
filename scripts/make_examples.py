#!/usr/bin/env python3
"""Writes the benchmark-sized example models (random weights, no files needed):
  Examples/gpt2-small.tir  GPT-2 small shape: d=768, 12 layers, 12 heads, MLP 3072, vocab 50257, tied head
  Examples/vit-b16.tir     ViT-B/16 shape: 3x224x224 image, 16x16 patches, d=768, 12 layers, 12 heads, MLP 3072, 1000 classes
Run from the repository root: python3 scripts/make_examples.py
"""

def gpt(d=768, layers=12, heads=12, mlp=3072, vocab=50257, max_seq=1024, name="gpt2_small"):
    p, b = [], []
    p += [f"param @wte : f32[{vocab}, {d}]", f"param @wpe : f32[{max_seq}, {d}] = normal(0.0, 0.01)"]
    b += [f"%tok = embedding(%tokens, @wte) : f32[T, {d}]", f"%pos = positions(@wpe) : f32[T, {d}]",
          f"%x0 = add(%tok, %pos) : f32[T, {d}]"]
    x = "x0"
    for l in range(layers):
        h = f"h{l}"
        p += [f"param @{h}.ln1.g : f32[{d}] = normal(1.0, 0.1)", f"param @{h}.ln1.b : f32[{d}] = normal(0.0, 0.1)",
              f"param @{h}.attn.w : f32[{d}, {3 * d}]", f"param @{h}.attn.b : f32[{3 * d}] = normal(0.0, 0.02)",
              f"param @{h}.proj.w : f32[{d}, {d}]", f"param @{h}.proj.b : f32[{d}] = normal(0.0, 0.02)",
              f"param @{h}.ln2.g : f32[{d}] = normal(1.0, 0.1)", f"param @{h}.ln2.b : f32[{d}] = normal(0.0, 0.1)",
              f"param @{h}.fc.w : f32[{d}, {mlp}]", f"param @{h}.fc.b : f32[{mlp}] = normal(0.0, 0.02)",
              f"param @{h}.out.w : f32[{mlp}, {d}]", f"param @{h}.out.b : f32[{d}] = normal(0.0, 0.02)"]
        b += [f"%{h}.n1 = layernorm(%{x}, @{h}.ln1.g, @{h}.ln1.b) {{eps = 1e-05}} : f32[T, {d}]",
              f"%{h}.qkv = linear(%{h}.n1, @{h}.attn.w, @{h}.attn.b) : f32[T, {3 * d}]",
              f"%{h}.att = attention(%{h}.qkv) {{heads = {heads}, causal = true}} : f32[T, {d}]",
              f"%{h}.proj = linear(%{h}.att, @{h}.proj.w, @{h}.proj.b) : f32[T, {d}]",
              f"%{h}.x1 = add(%{x}, %{h}.proj) : f32[T, {d}]",
              f"%{h}.n2 = layernorm(%{h}.x1, @{h}.ln2.g, @{h}.ln2.b) {{eps = 1e-05}} : f32[T, {d}]",
              f"%{h}.fc = linear(%{h}.n2, @{h}.fc.w, @{h}.fc.b) : f32[T, {mlp}]",
              f"%{h}.act = gelu(%{h}.fc) {{approximation = tanh}} : f32[T, {mlp}]",
              f"%{h}.out = linear(%{h}.act, @{h}.out.w, @{h}.out.b) : f32[T, {d}]",
              f"%{h}.x2 = add(%{h}.x1, %{h}.out) : f32[T, {d}]"]
        x = f"{h}.x2"
    p += [f"param @lnf.g : f32[{d}] = normal(1.0, 0.1)", f"param @lnf.b : f32[{d}] = normal(0.0, 0.1)"]
    b += [f"%nf = layernorm(%{x}, @lnf.g, @lnf.b) {{eps = 1e-05}} : f32[T, {d}]",
          f"%logits = linear(%nf, @wte) {{transposed = true}} : f32[T, {vocab}]"]
    head = ["// GPT-2 small shape (124M parameters): width 768, 12 blocks, 12 heads, MLP 3072, vocabulary",
            "// 50257, tied head, up to 1024 positions. Random weights (std 0.02): for benchmarks.",
            "// Written by scripts/make_examples.py.",
            f"model @{name} {{", f"  seq T <= {max_seq}", "  weights random(seed = 1, std = 0.02)",
            "  input %tokens : i32[T]", ""]
    return "\n".join(head + ["  " + l for l in p] + [""] + ["  " + l for l in b] + ["  output %logits", "}", ""])


def vit(d=768, layers=12, heads=12, mlp=3072, classes=1000, image=224, patch=16, channels=3, name="vit_b16"):
    n = (image // patch) ** 2 + 1
    p, b = [], []
    p += [f"param @patch.w : f32[{d}, {channels * patch * patch}]", f"param @patch.b : f32[{d}] = normal(0.0, 0.02)",
          f"param @cls : f32[1, {d}]", f"param @pos : f32[{n}, {d}]"]
    b += [f"%patches = patch_embed(%image, @patch.w, @patch.b) {{patch = {patch}, transposed = true}} : f32[{n - 1}, {d}]",
          f"%seq = cls_token(%patches, @cls) : f32[{n}, {d}]", f"%x0 = add(%seq, @pos) : f32[{n}, {d}]"]
    x = "x0"
    for l in range(layers):
        h = f"l{l}"
        p += [f"param @{h}.ln1.g : f32[{d}] = normal(1.0, 0.1)", f"param @{h}.ln1.b : f32[{d}] = normal(0.0, 0.1)"]
        for q in "qkv":
            p += [f"param @{h}.{q}.w : f32[{d}, {d}]", f"param @{h}.{q}.b : f32[{d}] = normal(0.0, 0.02)"]
        p += [f"param @{h}.o.w : f32[{d}, {d}]", f"param @{h}.o.b : f32[{d}] = normal(0.0, 0.02)",
              f"param @{h}.ln2.g : f32[{d}] = normal(1.0, 0.1)", f"param @{h}.ln2.b : f32[{d}] = normal(0.0, 0.1)",
              f"param @{h}.fc1.w : f32[{mlp}, {d}]", f"param @{h}.fc1.b : f32[{mlp}] = normal(0.0, 0.02)",
              f"param @{h}.fc2.w : f32[{d}, {mlp}]", f"param @{h}.fc2.b : f32[{d}] = normal(0.0, 0.02)"]
        b.append(f"%{h}.n1 = layernorm(%{x}, @{h}.ln1.g, @{h}.ln1.b) {{eps = 1e-12}} : f32[{n}, {d}]")
        for q in "qkv":
            b.append(f"%{h}.{q} = linear(%{h}.n1, @{h}.{q}.w, @{h}.{q}.b) {{transposed = true}} : f32[{n}, {d}]")
        b += [f"%{h}.att = attention(%{h}.q, %{h}.k, %{h}.v) {{heads = {heads}}} : f32[{n}, {d}]",
              f"%{h}.o = linear(%{h}.att, @{h}.o.w, @{h}.o.b) {{transposed = true}} : f32[{n}, {d}]",
              f"%{h}.x1 = add(%{x}, %{h}.o) : f32[{n}, {d}]",
              f"%{h}.n2 = layernorm(%{h}.x1, @{h}.ln2.g, @{h}.ln2.b) {{eps = 1e-12}} : f32[{n}, {d}]",
              f"%{h}.fc1 = linear(%{h}.n2, @{h}.fc1.w, @{h}.fc1.b) {{transposed = true}} : f32[{n}, {mlp}]",
              f"%{h}.act = gelu(%{h}.fc1) : f32[{n}, {mlp}]",
              f"%{h}.fc2 = linear(%{h}.act, @{h}.fc2.w, @{h}.fc2.b) {{transposed = true}} : f32[{n}, {d}]",
              f"%{h}.x2 = add(%{h}.x1, %{h}.fc2) : f32[{n}, {d}]"]
        x = f"{h}.x2"
    p += [f"param @lnf.g : f32[{d}] = normal(1.0, 0.1)", f"param @lnf.b : f32[{d}] = normal(0.0, 0.1)",
          f"param @head.w : f32[{classes}, {d}]", f"param @head.b : f32[{classes}] = normal(0.0, 0.02)"]
    b += [f"%nf = layernorm(%{x}, @lnf.g, @lnf.b) {{eps = 1e-12}} : f32[{n}, {d}]",
          f"%clsout = select_row(%nf) : f32[1, {d}]",
          f"%logits = linear(%clsout, @head.w, @head.b) {{transposed = true}} : f32[1, {classes}]"]
    head = ["// ViT-B/16 shape (86M parameters): 3x224x224 image, 16x16 patches, width 768, 12 blocks, 12 heads,",
            "// MLP 3072 (erf GELU), 1000 classes; PyTorch layouts (nn.Linear [out, in], Conv2d weight).",
            "// Random weights (std 0.02): for benchmarks. Written by scripts/make_examples.py.",
            f"model @{name} {{", "  weights random(seed = 2, std = 0.02)",
            f"  input %image : f32[{channels}, {image}, {image}]", ""]
    return "\n".join(head + ["  " + l for l in p] + [""] + ["  " + l for l in b] + ["  output %logits", "}", ""])


if __name__ == "__main__":
    with open("Examples/gpt2-small.tir", "w") as f:
        f.write(gpt())
    with open("Examples/vit-b16.tir", "w") as f:
        f.write(vit())
