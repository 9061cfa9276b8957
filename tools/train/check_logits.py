#!/usr/bin/env python3
"""check_logits.py — the PyTorch model's logits for a token list, to compare with `lir eval`.

  python3 tools/train/check_logits.py CKPT_DIR 1,1140,261 [--eval lir-eval.json] [--neox]

Loads CKPT_DIR/config.json and its safetensors files (as train.py writes them) into train.py's
model, runs it in F32 and prints, per position, the max |logit difference| against the
`lir eval --all --top K` JSON when --eval is given. --neox swaps in the other RoPE layout
(rotate halves) to show that the check can tell them apart.
"""
import argparse
import array
import json
import os
import struct
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import train  # noqa: E402


def load(d):
    cfg = json.load(open(os.path.join(d, "config.json")))
    state = {}
    for name in cfg["files"]:
        raw = open(os.path.join(d, name), "rb").read()
        (n,) = struct.unpack("<Q", raw[:8])
        hdr = json.loads(raw[8 : 8 + n])
        for k, v in hdr.items():
            if k == "__metadata__":
                continue
            b, e = v["data_offsets"]
            a = array.array("f")
            a.frombytes(raw[8 + n + b : 8 + n + e])
            state[k] = torch.tensor(a).view(v["shape"])
    cfg["dropout"] = 0.0
    m = train.Llama(cfg)
    m.token_embd.weight.data.copy_(state["token_embd.weight"])
    m.output_norm.weight.data.copy_(state["output_norm.weight"])
    for i, b in enumerate(m.blocks):
        for nm in ("attn_norm", "attn_q", "attn_k", "attn_v", "attn_output", "ffn_norm", "ffn_gate", "ffn_up", "ffn_down"):
            getattr(b, nm).weight.data.copy_(state[f"blk.{i}.{nm}.weight"])
    return m.eval()


def neox(x, cos, sin):
    T, h = x.shape[1], x.shape[-1] // 2
    c, s = cos[:T][None, :, None, :], sin[:T][None, :, None, :]
    x0, x1 = x[..., :h], x[..., h:]
    return torch.cat((x0 * c - x1 * s, x0 * s + x1 * c), -1)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("ckpt")
    ap.add_argument("tokens")
    ap.add_argument("--eval")
    ap.add_argument("--neox", action="store_true")
    a = ap.parse_args()
    if a.neox:
        train.rope = neox
    m = load(a.ckpt)
    toks = [int(t) for t in a.tokens.split(",")]
    with torch.no_grad():
        logits = m(torch.tensor([toks]))[0]
    if not a.eval:
        for p in range(len(toks)):
            top = torch.topk(logits[p], 3)
            print(p, top.indices.tolist(), [round(x, 4) for x in top.values.tolist()])
        return
    ev = json.load(open(a.eval))
    worst = 0.0
    for pos in ev["positions"]:
        p = pos["pos"]
        d = max(abs(logits[p, t["id"]].item() - t["logit"]) for t in pos["top"])
        same = torch.argmax(logits[p]).item() == pos["top"][0]["id"]
        worst = max(worst, d)
        print(f"pos {p}: max |dlogit| {d:.2e}, top-1 {'same' if same else 'DIFFERENT'}")
    print(f"worst {worst:.2e}")


if __name__ == "__main__":
    main()
