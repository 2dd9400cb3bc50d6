#!/usr/bin/env python3
"""Writes the Hugging Face checkpoints that Tests/ImportTests checks `tfc import` against.

Each fixture is a small, randomly initialised model built by the transformers library itself,
saved with save_pretrained (config.json + model.safetensors), together with an input and the
library's output for it, as .npy files:

    Tests/ImportTests/Fixtures/<name>/config.json
    Tests/ImportTests/Fixtures/<name>/model.safetensors
    Tests/ImportTests/Fixtures/<name>/tokens.npy     int32 [T] (GPT-2), or
    Tests/ImportTests/Fixtures/<name>/image.npy      float32 [C, H, W] (ViT)
    Tests/ImportTests/Fixtures/<name>/expected.npy   float32: logits or final hidden states
    Tests/ImportTests/Fixtures/<name>/expected_pooler.npy   float32 [1, pooler_output_size]:
                                                     ViTModel's pooler_output (when it has a pooler)

Made with Python 3.11, torch 2.15.0 (CPU), transformers 5.24.0, safetensors 0.8.0, numpy 2.4.6.
Run by hand from the repository root (never by the tests):

    /tmp/hfvenv/bin/python scripts/make_hf_fixtures.py

`--generation-only` writes just the gpt2-gen fixture (below), `--opt-only` just opt-lm and
opt-base-odd (OPT, Pre-LN: learned positions read from row 2 of their table, ReLU or GELU) and
gpt2-sharded (a checkpoint in shards of at most 40 KB with model.safetensors.index.json).
`--neox-only` writes just the GPT-NeoX fixtures: neox-lm (GPTNeoXForCausalLM, parallel residual,
rotary on 6 of 24 columns per head, untied head embed_out), neox-seq-odd (GPTNeoXModel, sequential
residual, 5 heads of 10 columns with rotary on 6, no attention biases, tanh GELU) and neox-gen
(below).

neox-gen is a GPTNeoXForCausalLM over the same test tokenizer made Pythia's kind (the NFC
normalizer, runs of 8, 4, 3 and 2 spaces as normalized added tokens, as Pythia's tokenizer.json
has runs of 2 to 24), laid out as Pythia's checkpoints are: tokenizer.json only (no vocab.json,
merges.txt), a head tied to the token embeddings, and a generation.json like gpt2-gen's, with
two more prompts (a decomposed accent, runs of spaces).

gpt2-gen is a GPT-2 LM whose vocabulary is the tokenizer of Tests/TokenizerTests/Fixtures
(1,500 byte-level BPE tokens, `<|endoftext|>` = 1499, copied into the checkpoint folder beside
its weights), with generation.json: for each prompt, the tokenizer's ids, the ids transformers'
`generate(do_sample=False)` produces after them (eos = 1499, which stops it), and the top-2
logit margin of every step (a step with a margin near float32 noise may go either way).

`--pooler-only` writes just expected_pooler.npy for every ViTModel fixture, from its saved
checkpoint and image (nothing else is rewritten, so any torch/transformers that can load the
checkpoint will do; it first checks that it reproduces expected.npy to 1e-5). vit-base-odd's
expected_pooler.npy was made that way, with torch 2.13.0+cpu and transformers 5.24.0.

Default initialisation makes every LayerNorm gain 1 and every bias 0, which would hide a
swapped gain/bias or a dropped bias; so gains are redrawn from normal(1, 0.2) and all biases
from normal(0, 0.2), with fixed seeds. Weights use initializer_range 0.1 (not 0.02) so that
outputs are of order 1 and an absolute error bound means something. Attention is "eager" (the
plain matmul/softmax path). For float16/bfloat16 checkpoints the reference is computed in
float32 by the model whose weights were rounded to that type: the checkpoint widened to
float32, which is exactly what tfc computes with.
"""
import json
import os
import shutil
import sys

import numpy as np
import torch
import transformers
from transformers import (GPT2Config, GPT2LMHeadModel, GPT2Model, GPTNeoXConfig, GPTNeoXForCausalLM, GPTNeoXModel,
                          OPTConfig, OPTForCausalLM, OPTModel, ViTConfig, ViTForImageClassification, ViTModel)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "Tests", "ImportTests", "Fixtures")


def randomize_norms_and_biases(model, seed):
    """LayerNorm gains ~ normal(1, 0.2); every bias (and LayerNorm bias) ~ normal(0, 0.2)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("bias"):
                p.copy_(torch.randn(p.shape, generator=g) * 0.2)
            elif isinstance(model.get_submodule(name.rsplit(".", 1)[0]), torch.nn.LayerNorm):
                p.copy_(1.0 + torch.randn(p.shape, generator=g) * 0.2)


def round_weights(model, dtype):
    """Rounds every parameter to `dtype` and back, in place: the float32 model that a
    float16/bfloat16 checkpoint stands for."""
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(p.to(dtype).to(torch.float32))


def save(name, model, inputs_name, inputs, expected, dtype=None, pooler=None, shard=None):
    folder = os.path.join(OUT, name)
    shutil.rmtree(folder, ignore_errors=True)
    os.makedirs(folder)
    if dtype is not None:
        model = model.to(dtype)
    if shard is None:
        model.save_pretrained(folder, safe_serialization=True)
    else:  # shards of at most `shard` bytes and model.safetensors.index.json
        model.save_pretrained(folder, safe_serialization=True, max_shard_size=shard)
    for extra in os.listdir(folder):  # keep only what the importer reads
        if extra not in ("config.json", "model.safetensors", "model.safetensors.index.json") \
                and not (shard is not None and extra.endswith(".safetensors")):
            os.remove(os.path.join(folder, extra))
    np.save(os.path.join(folder, inputs_name + ".npy"), inputs)
    np.save(os.path.join(folder, "expected.npy"), expected.astype(np.float32))
    if pooler is not None:
        np.save(os.path.join(folder, "expected_pooler.npy"), pooler.astype(np.float32))
    for f in os.listdir(folder):
        os.chmod(os.path.join(folder, f), 0o644)  # save_pretrained writes the weights 0600
    size = sum(os.path.getsize(os.path.join(folder, f)) for f in os.listdir(folder))
    print(f"{name}: {size} bytes, expected {expected.shape}, max |expected| {np.abs(expected).max():.3f}")


def gpt2(name, seed, cls, dtype=None, shard=None, **config):
    torch.manual_seed(seed)
    cfg = GPT2Config(initializer_range=0.1, bos_token_id=0, eos_token_id=0, **config)
    cfg._attn_implementation = "eager"
    model = cls(cfg).eval()
    randomize_norms_and_biases(model, seed + 1)
    if dtype is not None:
        round_weights(model, dtype)
    g = torch.Generator().manual_seed(seed + 2)
    tokens = torch.randint(0, cfg.vocab_size, (cfg.n_positions,), generator=g)
    with torch.no_grad():
        out = model(tokens[None])
        expected = out.logits if cls is GPT2LMHeadModel else out.last_hidden_state
    save(name, model, "tokens", tokens.numpy().astype(np.int32), expected[0].numpy(), dtype, shard=shard)


def decoder(name, seed, cls, cfg):
    """A decoder-only model of config `cfg` and random weights (non-trivial norms and biases):
    the logits of a *ForCausalLM class, or the base class's final hidden states, for random
    tokens filling its context."""
    torch.manual_seed(seed)
    cfg._attn_implementation = "eager"
    model = cls(cfg).eval()
    randomize_norms_and_biases(model, seed + 1)
    g = torch.Generator().manual_seed(seed + 2)
    tokens = torch.randint(0, cfg.vocab_size, (cfg.max_position_embeddings,), generator=g)
    with torch.no_grad():
        out = model(tokens[None])
        expected = out.logits if cls.__name__.endswith("ForCausalLM") else out.last_hidden_state
    save(name, model, "tokens", tokens.numpy().astype(np.int32), expected[0].numpy())


def opt(name, seed, cls, **config):
    """An OPT (Pre-LN): logits of OPTForCausalLM, or OPTModel's final hidden states."""
    torch.manual_seed(seed)
    decoder(name, seed, cls, OPTConfig(init_std=0.1, **config))


def opt_fixtures():
    assert transformers.__version__ == "5.24.0", transformers.__version__
    # A sharded GPT-2 LM (model.safetensors.index.json and its shards), untied head.
    gpt2("gpt2-sharded", 1000, GPT2LMHeadModel, shard="40KB", n_embd=24, n_head=2, n_layer=2, vocab_size=150,
         n_positions=16, layer_norm_epsilon=1e-5, activation_function="gelu_new", tie_word_embeddings=False)
    # OPT LM: ReLU, tied head, head size 12, learned positions from row 2.
    opt("opt-lm", 800, OPTForCausalLM, hidden_size=36, num_attention_heads=3, num_hidden_layers=2, ffn_dim=50,
        vocab_size=97, max_position_embeddings=24, word_embed_proj_dim=36, activation_function="relu")
    # OPT decoder hidden states: odd widths (head size 6), erf GELU, no biases.
    opt("opt-base-odd", 900, OPTModel, hidden_size=30, num_attention_heads=5, num_hidden_layers=1, ffn_dim=44,
        vocab_size=61, max_position_embeddings=16, word_embed_proj_dim=30, activation_function="gelu",
        enable_bias=False)


def neox(name, seed, cls, **config):
    """A GPT-NeoX: logits of GPTNeoXForCausalLM, or GPTNeoXModel's final hidden states."""
    torch.manual_seed(seed)
    decoder(name, seed, cls, GPTNeoXConfig(initializer_range=0.1, **config))


def neox_fixtures():
    assert transformers.__version__ == "5.24.0", transformers.__version__
    # LM: parallel residual, head size 24 with rotary on int(24 * 0.25) = 6 columns, untied head
    # (saved as embed_out.weight), erf GELU, the rope base given the transformers 5 way.
    neox("neox-lm", 1100, GPTNeoXForCausalLM, hidden_size=48, num_attention_heads=2, num_hidden_layers=2,
         intermediate_size=100, vocab_size=113, max_position_embeddings=24, hidden_act="gelu",
         layer_norm_eps=1e-5, use_parallel_residual=True, tie_word_embeddings=False,
         rope_parameters={"rope_type": "default", "rope_theta": 500.0, "partial_rotary_factor": 0.25})
    # Hidden states: sequential residual, 5 heads of 10 columns, rotary on int(10 * 0.6) = 6,
    # no attention biases, tanh GELU, the rope base given the older way (rotary_emb_base, rotary_pct).
    neox("neox-seq-odd", 1200, GPTNeoXModel, hidden_size=50, num_attention_heads=5, num_hidden_layers=2,
         intermediate_size=70, vocab_size=61, max_position_embeddings=16, hidden_act="gelu_new",
         layer_norm_eps=1e-6, use_parallel_residual=False, attention_bias=False, rotary_pct=0.6,
         rotary_emb_base=2000)
    neox_generation()


def vit(name, seed, cls, dtype=None, **config):
    torch.manual_seed(seed)
    cfg = ViTConfig(initializer_range=0.1, **config)
    cfg._attn_implementation = "eager"
    model = cls(cfg).eval()
    randomize_norms_and_biases(model, seed + 1)
    if dtype is not None:
        round_weights(model, dtype)
    size = cfg.image_size if isinstance(cfg.image_size, (list, tuple)) else (cfg.image_size, cfg.image_size)
    g = torch.Generator().manual_seed(seed + 2)
    image = torch.randn((cfg.num_channels, size[0], size[1]), generator=g)
    with torch.no_grad():
        out = model(image[None])
        # The class logits are [1, labels], as TIR's select_row leaves them; hidden states [N+1, d].
        expected = out.logits if cls is ViTForImageClassification else out.last_hidden_state[0]
        # pooler_output is [1, pooler_output_size], as TIR's select_row leaves it.
        pooler = getattr(out, "pooler_output", None)
    save(name, model, "image", image.numpy(), expected.numpy(), dtype,
         pooler=None if pooler is None else pooler.numpy())


def pooler_only():
    """expected_pooler.npy for every ViTModel fixture, from its saved checkpoint and image."""
    for name in sorted(os.listdir(OUT)):
        folder = os.path.join(OUT, name)
        with open(os.path.join(folder, "config.json")) as f:
            if json.load(f).get("architectures") != ["ViTModel"]:
                continue
        model = ViTModel.from_pretrained(folder, attn_implementation="eager").eval()
        if model.pooler is None:
            continue
        image = torch.from_numpy(np.load(os.path.join(folder, "image.npy")))
        with torch.no_grad():
            out = model(image[None])
        hidden = out.last_hidden_state[0].numpy()
        expected = np.load(os.path.join(folder, "expected.npy"))
        drift = np.abs(hidden - expected).max()
        assert drift <= 1e-5, f"{name}: last_hidden_state differs from expected.npy by {drift}"
        pooler = out.pooler_output.numpy().astype(np.float32)
        path = os.path.join(folder, "expected_pooler.npy")
        np.save(path, pooler)
        os.chmod(path, 0o644)
        print(f"{name}: expected_pooler {pooler.shape}, max |pooler| {np.abs(pooler).max():.3f}, hidden drift {drift:.1e}")


def main():
    assert torch.__version__.startswith("2.15.0"), torch.__version__
    assert transformers.__version__ == "5.24.0", transformers.__version__
    # GPT-2 LM: tied head, the tanh GELU of GPT-2.
    gpt2("gpt2-lm", 100, GPT2LMHeadModel, n_embd=48, n_head=3, n_layer=2, vocab_size=300, n_positions=32,
         layer_norm_epsilon=1e-5, activation_function="gelu_new")
    # GPT-2 base: odd widths (head size 6, explicit MLP width 50), erf GELU, hidden states out.
    gpt2("gpt2-base-odd", 200, GPT2Model, n_embd=30, n_head=5, n_layer=1, n_inner=50, vocab_size=97,
         n_positions=16, layer_norm_epsilon=1e-6, activation_function="gelu")
    # GPT-2 LM stored in float16, with an untied head (lm_head.weight saved separately).
    gpt2("gpt2-lm-fp16", 300, GPT2LMHeadModel, dtype=torch.float16, n_embd=32, n_head=4, n_layer=1,
         vocab_size=120, n_positions=20, layer_norm_epsilon=1e-5, activation_function="gelu_pytorch_tanh",
         tie_word_embeddings=False)
    # ViT classifier: non-square image (24 x 40), 8x8 patches: 3 x 5 = 15 patches + class token.
    vit("vit-cls", 400, ViTForImageClassification, image_size=[24, 40], patch_size=8, num_channels=3,
        hidden_size=36, num_attention_heads=3, num_hidden_layers=2, intermediate_size=72, num_labels=5,
        layer_norm_eps=1e-12, hidden_act="gelu")
    # ViT base: one channel, 30x30 with 7x7 patches (4 x 4, the last 2 pixels unused), no q/k/v
    # biases, head_dim 6 so that attention is 30 wide in a 20-wide model, tanh GELU.
    vit("vit-base-odd", 500, ViTModel, image_size=30, patch_size=7, num_channels=1, hidden_size=20,
        num_attention_heads=5, head_dim=6, num_hidden_layers=1, intermediate_size=44, layer_norm_eps=1e-6,
        qkv_bias=False, hidden_act="gelu_new")
    # ViT classifier stored in bfloat16.
    vit("vit-cls-bf16", 600, ViTForImageClassification, dtype=torch.bfloat16, image_size=16, patch_size=4,
        num_channels=3, hidden_size=16, num_attention_heads=2, num_hidden_layers=1, intermediate_size=32,
        num_labels=3, layer_norm_eps=1e-12, hidden_act="gelu_pytorch_tanh")


GENERATION_PROMPTS = [
    "The quick brown fox",
    "Hello, world! It's a",
    "  def f(x):\n\treturn",
    "Ünïcödé and 東京 and 🎉",
    "a",
]


def greedy_cases(model, tokenizer, eos, context, prompts=GENERATION_PROMPTS):
    """What transformers' greedy generate makes of each prompt (see gpt2-gen)."""
    cases = []
    for prompt in prompts:
        ids = tokenizer(prompt)["input_ids"]
        with torch.no_grad():
            out = model.generate(torch.tensor([ids]), do_sample=False, max_new_tokens=context - len(ids),
                                 eos_token_id=eos, pad_token_id=eos, output_scores=True, return_dict_in_generate=True)
        new = out.sequences[0, len(ids):].tolist()
        margins = []
        for scores in out.scores:
            top = torch.topk(scores[0].float(), 2).values
            margins.append(float(top[0] - top[1]))
        cases.append({"prompt": prompt, "ids": ids, "generated": new, "margins": margins,
                      "text": tokenizer.decode(new)})
    return cases


# What neox-gen adds to the test tokenizer to make it Pythia's kind: the NFC normalizer, and runs
# of spaces as added tokens that are normalized and not special (Pythia has 2 to 24 spaces).
NEOX_SPACE_RUNS = [" " * n for n in (8, 4, 3, 2)]
NEOX_PROMPTS = GENERATION_PROMPTS + ["Cafe\u0301    au  lait", "x = 1\n        y =   2"]


def neox_generation():
    """neox-gen: a GPT-NeoX LM over the test tokenizer made Pythia-like (NEOX_SPACE_RUNS), with
    only tokenizer.json beside it."""
    import tempfile
    import tokenizers
    from transformers import AutoTokenizer
    assert tokenizers.__version__ == "0.23.3", tokenizers.__version__
    with open(os.path.join(ROOT, "Tests", "TokenizerTests", "Fixtures", "tokenizer.json")) as f:
        document = json.load(f)
    document["normalizer"] = {"type": "NFC"}
    next_id = max(t["id"] for t in document["added_tokens"]) + 1
    for run in NEOX_SPACE_RUNS:
        document["added_tokens"].append({"id": next_id, "content": run, "single_word": False, "lstrip": False,
                                         "rstrip": False, "normalized": True, "special": False})
        next_id += 1
    tokenizer_dir = tempfile.mkdtemp()
    with open(os.path.join(tokenizer_dir, "tokenizer.json"), "w") as f:
        json.dump(document, f, ensure_ascii=False)
    tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir)
    assert tokenizer.convert_tokens_to_ids(NEOX_SPACE_RUNS[0]) == next_id - len(NEOX_SPACE_RUNS)
    eos = tokenizer.convert_tokens_to_ids("<|endoftext|>")
    torch.manual_seed(1300)
    cfg = GPTNeoXConfig(initializer_range=0.3, bos_token_id=eos, eos_token_id=eos, hidden_size=32,
                        num_attention_heads=4, num_hidden_layers=2, intermediate_size=64, vocab_size=len(tokenizer),
                        max_position_embeddings=40, hidden_act="gelu", tie_word_embeddings=True,
                        rope_parameters={"rope_type": "default", "rope_theta": 100.0, "partial_rotary_factor": 0.5})
    cfg._attn_implementation = "eager"
    model = GPTNeoXForCausalLM(cfg).eval()
    randomize_norms_and_biases(model, 1301)
    cases = greedy_cases(model, tokenizer, eos, cfg.max_position_embeddings, NEOX_PROMPTS)
    assert any(set(c["ids"]) & set(range(next_id - len(NEOX_SPACE_RUNS), next_id)) for c in cases)
    folder = os.path.join(OUT, "neox-gen")
    shutil.rmtree(folder, ignore_errors=True)
    os.makedirs(folder)
    model.save_pretrained(folder, safe_serialization=True)
    for extra in os.listdir(folder):
        if extra not in ("config.json", "model.safetensors"):
            os.remove(os.path.join(folder, extra))
    shutil.copy(os.path.join(tokenizer_dir, "tokenizer.json"), os.path.join(folder, "tokenizer.json"))
    with open(os.path.join(folder, "generation.json"), "w") as f:
        json.dump({"eos": eos, "cases": cases}, f, indent=1, ensure_ascii=False)
    for f in os.listdir(folder):
        os.chmod(os.path.join(folder, f), 0o644)
    size = sum(os.path.getsize(os.path.join(folder, f)) for f in os.listdir(folder))
    print(f"neox-gen: {size} bytes")
    for c in cases:
        print(f"neox-gen: {c['prompt']!r}: {len(c['ids'])} + {len(c['generated'])} tokens, "
              f"smallest margin {min(c['margins']):.2e}, {c['text']!r}")


def gpt2_generation():
    """gpt2-gen: a GPT-2 LM over the test tokenizer, its tokenizer files, and what transformers'
    greedy generate makes of a few prompts."""
    import tokenizers
    from transformers import AutoTokenizer
    assert transformers.__version__ == "5.24.0", transformers.__version__
    assert tokenizers.__version__ == "0.23.3", tokenizers.__version__  # the tokenizer fixtures' version
    tokenizer_dir = os.path.join(ROOT, "Tests", "TokenizerTests", "Fixtures")
    tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir)
    eos = tokenizer.convert_tokens_to_ids("<|endoftext|>")
    torch.manual_seed(700)
    # Weights of std 0.3 and positions three times larger than the default draw: a smaller
    # random GPT falls into repeating one token, which would compare little.
    cfg = GPT2Config(initializer_range=0.3, bos_token_id=eos, eos_token_id=eos, n_embd=40, n_head=4, n_layer=2,
                     vocab_size=len(tokenizer), n_positions=40, layer_norm_epsilon=1e-5, activation_function="gelu_new")
    cfg._attn_implementation = "eager"
    model = GPT2LMHeadModel(cfg).eval()
    randomize_norms_and_biases(model, 701)
    with torch.no_grad():
        model.transformer.wpe.weight.mul_(3)
    cases = greedy_cases(model, tokenizer, eos, cfg.n_positions)
    folder = os.path.join(OUT, "gpt2-gen")
    shutil.rmtree(folder, ignore_errors=True)
    os.makedirs(folder)
    model.save_pretrained(folder, safe_serialization=True)
    for extra in os.listdir(folder):
        if extra not in ("config.json", "model.safetensors"):
            os.remove(os.path.join(folder, extra))
    for name in ("vocab.json", "merges.txt", "tokenizer.json"):
        shutil.copy(os.path.join(tokenizer_dir, name), os.path.join(folder, name))
    with open(os.path.join(folder, "generation.json"), "w") as f:
        json.dump({"eos": eos, "cases": cases}, f, indent=1, ensure_ascii=False)
    for f in os.listdir(folder):
        os.chmod(os.path.join(folder, f), 0o644)
    for c in cases:
        print(f"gpt2-gen: {c['prompt']!r}: {len(c['ids'])} + {len(c['generated'])} tokens, "
              f"smallest margin {min(c['margins']):.2e}")


if __name__ == "__main__":
    if sys.argv[1:] == ["--pooler-only"]:
        pooler_only()
    elif sys.argv[1:] == ["--generation-only"]:
        gpt2_generation()
    elif sys.argv[1:] == ["--opt-only"]:
        opt_fixtures()
    elif sys.argv[1:] == ["--neox-only"]:
        neox_fixtures()
    else:
        main()
        opt_fixtures()
        neox_fixtures()
        gpt2_generation()
