#!/usr/bin/env python3
"""transformers' greedy generation on a checkpoint, to set beside `tfc generate --tokens`.

Prints the prompt's ids (comma-separated, as `tfc generate --tokens` takes them), the new ids
(space-separated, as `tfc generate` prints them without a tokenizer), and the smallest top-2
logit margin of the steps (below about 1e-4 a step is a near tie that float32 noise may turn).
No end-of-text stop: every new token is generated. Run by hand (never by the tests), e.g. on the
GPT-2 small checkpoint scripts/bench_peers.py builds:

    /tmp/benchvenv/bin/python scripts/hf_greedy.py .bench-cache/gpt2 30
    tfc generate .bench-cache/gpt2.tir --tokens 464,2068,7586,21831,18045,625,262,16931,3290,13 \\
        --max-new-tokens 30 --variant pre-crms
"""
import sys

import torch
from transformers import AutoModelForCausalLM

PROMPT = [464, 2068, 7586, 21831, 18045, 625, 262, 16931, 3290, 13]


def main():
    if len(sys.argv) != 3:
        sys.exit(f"usage: {sys.argv[0]} CHECKPOINT_DIR NEW_TOKENS")
    model = AutoModelForCausalLM.from_pretrained(sys.argv[1], attn_implementation="eager").eval()
    with torch.no_grad():
        out = model.generate(torch.tensor([PROMPT]), do_sample=False, max_new_tokens=int(sys.argv[2]),
                             eos_token_id=None, pad_token_id=0, output_scores=True, return_dict_in_generate=True)
    new = out.sequences[0, len(PROMPT):].tolist()
    margins = [float(s[0].topk(2).values[0] - s[0].topk(2).values[1]) for s in out.scores]
    print(",".join(map(str, PROMPT)))
    print(" ".join(map(str, new)))
    print(f"smallest top-2 margin {min(margins):.2e}")


if __name__ == "__main__":
    main()
