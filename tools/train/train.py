#!/usr/bin/env python3
"""train.py — trains lir's default model, a small llama on the King James Bible (models/README.md).

  python3 tools/train/train.py --data out/train --out OUTDIR [--steps N] [--max-minutes M] [--smoke]

Input (from tools/train/prepare.py): DATA/train.bin and DATA/heldout.bin, uint16 little-endian
token streams, and DATA/meta.json. Output in OUTDIR:
  model-0000K.safetensors  F32 weights, under GGUF tensor names, split so that no file is over
                           15 MiB (the device run hands back files of at most 16 MiB)
  config.json              shape and hyper-parameters, read by lir-convert
  log.json / log.txt       train loss and held-out loss by step, timing, tokens seen

The architecture is the standard llama one, written so that its weights go into GGUF as they are:
  - RMSNorm (eps 1e-5, weight only), no biases anywhere, SwiGLU FFN, tied input/output embedding;
  - RoPE in GGML's "normal" layout: it rotates adjacent pairs (x[2i], x[2i+1]) by pos * 10000^(-2i/d)
    (llama.cpp's LLAMA_ROPE_TYPE_NORM). Hugging Face's llama rotates the halves (x[i], x[i+d/2])
    instead, which is why convert_hf_to_gguf permutes Q and K; these weights need no permutation;
  - nn.Linear weights are (out, in) row-major, i.e. GGUF ne = [in, out] with the same bytes.
Training-only regularization (dropout) changes nothing at inference.

Fixed seed; bf16 autocast on CUDA. The run stops at --steps or --max-minutes, whichever comes
first; the learning-rate schedule follows whichever is further along, so it always anneals. The
weights saved are the ones with the lowest held-out loss seen at an evaluation.
"""
import argparse
import array
import json
import math
import os
import struct
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

# ------------------------------------------------------------------------------- model


class RMSNorm(nn.Module):
    def __init__(self, dim, eps):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x):
        xf = x.float()
        xf = xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + self.eps)
        return (xf * self.weight.float()).type_as(x)


def rope_tables(head_dim, n_ctx, base):
    inv = base ** (-torch.arange(0, head_dim, 2, dtype=torch.float64) / head_dim)  # (head_dim/2,)
    ang = torch.arange(n_ctx, dtype=torch.float64)[:, None] * inv[None, :]       # (n_ctx, head_dim/2)
    return ang.cos().float(), ang.sin().float()


def rope(x, cos, sin):
    """x: (B, T, H, hd). Rotates adjacent pairs (2i, 2i+1): GGML's normal RoPE."""
    T = x.shape[1]
    c, s = cos[:T][None, :, None, :], sin[:T][None, :, None, :]
    xf = x.float()
    x0, x1 = xf[..., 0::2], xf[..., 1::2]
    out = torch.stack((x0 * c - x1 * s, x0 * s + x1 * c), dim=-1)  # (..., hd/2, 2): interleaved back
    return out.flatten(-2).type_as(x)


class Block(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        d, hd = cfg["dim"], cfg["head_dim"]
        self.n_head, self.n_kv, self.hd = cfg["n_heads"], cfg["n_kv_heads"], hd
        self.attn_norm = RMSNorm(d, cfg["norm_eps"])
        self.attn_q = nn.Linear(d, self.n_head * hd, bias=False)
        self.attn_k = nn.Linear(d, self.n_kv * hd, bias=False)
        self.attn_v = nn.Linear(d, self.n_kv * hd, bias=False)
        self.attn_output = nn.Linear(self.n_head * hd, d, bias=False)
        self.ffn_norm = RMSNorm(d, cfg["norm_eps"])
        self.ffn_gate = nn.Linear(d, cfg["hidden_dim"], bias=False)
        self.ffn_up = nn.Linear(d, cfg["hidden_dim"], bias=False)
        self.ffn_down = nn.Linear(cfg["hidden_dim"], d, bias=False)
        self.dropout = cfg["dropout"]

    def forward(self, x, cos, sin):
        B, T, _ = x.shape
        h = self.attn_norm(x)
        q = rope(self.attn_q(h).view(B, T, self.n_head, self.hd), cos, sin)
        k = rope(self.attn_k(h).view(B, T, self.n_kv, self.hd), cos, sin)
        v = self.attn_v(h).view(B, T, self.n_kv, self.hd)
        if self.n_kv != self.n_head:
            k = k.repeat_interleave(self.n_head // self.n_kv, dim=2)
            v = v.repeat_interleave(self.n_head // self.n_kv, dim=2)
        q, k, v = (t.transpose(1, 2) for t in (q, k, v))  # (B, H, T, hd)
        p = self.dropout if self.training else 0.0
        if hasattr(F, "scaled_dot_product_attention"):
            a = F.scaled_dot_product_attention(q, k, v, dropout_p=p, is_causal=True)
        else:  # torch < 2.0 (the CPU smoke test on Debian's torch)
            att = (q @ k.transpose(-2, -1)) / math.sqrt(self.hd)
            att = att.masked_fill(torch.ones(T, T, dtype=torch.bool, device=x.device).triu(1), float("-inf"))
            a = F.dropout(att.softmax(-1), p) @ v
        a = a.transpose(1, 2).reshape(B, T, self.n_head * self.hd)
        x = x + F.dropout(self.attn_output(a), p, self.training)
        h = self.ffn_norm(x)
        return x + F.dropout(self.ffn_down(F.silu(self.ffn_gate(h)) * self.ffn_up(h)), p, self.training)


class Llama(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        self.token_embd = nn.Embedding(cfg["vocab_size"], cfg["dim"])
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg["n_layers"]))
        self.output_norm = RMSNorm(cfg["dim"], cfg["norm_eps"])
        cos, sin = rope_tables(cfg["head_dim"], cfg["context_length"], cfg["rope_theta"])
        self.register_buffer("cos", cos, persistent=False)
        self.register_buffer("sin", sin, persistent=False)
        for n, p in self.named_parameters():
            if p.dim() == 2:
                std = 0.02 / math.sqrt(2 * cfg["n_layers"]) if n.endswith(("attn_output.weight", "ffn_down.weight")) else 0.02
                nn.init.normal_(p, 0.0, std)

    def forward(self, idx, targets=None):
        x = F.dropout(self.token_embd(idx), self.cfg["dropout"], self.training)
        for b in self.blocks:
            x = b(x, self.cos, self.sin)
        logits = F.linear(self.output_norm(x), self.token_embd.weight)  # tied output
        if targets is None:
            return logits
        return F.cross_entropy(logits.float().view(-1, logits.shape[-1]), targets.reshape(-1))

    def gguf_state(self):
        """{gguf_name: f32 CPU tensor}, names as llama.cpp's llama architecture expects."""
        out = {"token_embd.weight": self.token_embd.weight, "output_norm.weight": self.output_norm.weight}
        for i, b in enumerate(self.blocks):
            for n in ("attn_norm", "attn_q", "attn_k", "attn_v", "attn_output", "ffn_norm", "ffn_gate", "ffn_up", "ffn_down"):
                out[f"blk.{i}.{n}.weight"] = getattr(b, n).weight
        return {k: v.detach().float().cpu().clone() for k, v in out.items()}


# ------------------------------------------------------------------------------- data, save


def load_tokens(path):
    a = array.array("H")
    with open(path, "rb") as f:
        a.frombytes(f.read())
    if sys.byteorder != "little":
        a.byteswap()
    return torch.tensor(a, dtype=torch.int64)


def save_safetensors(state, outdir, max_bytes=15 << 20):
    """The safetensors format by hand (8-byte LE header length, JSON header, raw data), split
    into files of at most max_bytes. Returns the file names."""
    shards, cur, size = [], [], 0
    for k, v in state.items():
        n = v.numel() * 4
        if cur and size + n > max_bytes:
            shards.append(cur)
            cur, size = [], 0
        cur.append(k)
        size += n
    shards.append(cur)
    names = []
    for si, keys in enumerate(shards):
        header, off = {"__metadata__": {"format": "pt", "layout": "gguf-names, rope normal (adjacent pairs)"}}, 0
        for k in keys:
            n = state[k].numel() * 4
            header[k] = {"dtype": "F32", "shape": list(state[k].shape), "data_offsets": [off, off + n]}
            off += n
        h = json.dumps(header, separators=(",", ":")).encode()
        h += b" " * (-len(h) % 8)
        name = f"model-{si + 1:05d}.safetensors"
        with open(os.path.join(outdir, name), "wb") as f:
            f.write(struct.pack("<Q", len(h)))
            f.write(h)
            for k in keys:
                buf = array.array("f", state[k].flatten().tolist())  # no numpy needed
                if sys.byteorder != "little":
                    buf.byteswap()
                f.write(buf.tobytes())
        names.append(name)
    return names


# ------------------------------------------------------------------------------- train


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default="out/train")
    ap.add_argument("--out", required=True)
    ap.add_argument("--steps", type=int, default=3000)
    ap.add_argument("--max-minutes", type=float, default=5.5)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--seq", type=int, default=512)
    ap.add_argument("--lr", type=float, default=1.5e-3)
    ap.add_argument("--eval-every", type=int, default=100)
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--dim", type=int, default=320)
    ap.add_argument("--layers", type=int, default=8)
    ap.add_argument("--heads", type=int, default=5)
    ap.add_argument("--kv-heads", type=int, default=5)
    ap.add_argument("--hidden", type=int, default=864)
    ap.add_argument("--dropout", type=float, default=0.1)
    ap.add_argument("--smoke", action="store_true", help="tiny shape, few steps, CPU: checks the script")
    a = ap.parse_args()
    if a.smoke:
        a.dim, a.layers, a.heads, a.kv_heads, a.hidden, a.batch, a.seq = 64, 2, 4, 2, 96, 4, 64
        a.steps, a.eval_every = min(a.steps, 30), 10
    os.makedirs(a.out, exist_ok=True)
    torch.manual_seed(a.seed)
    dev = "cuda" if torch.cuda.is_available() else "cpu"
    meta = json.load(open(os.path.join(a.data, "meta.json")))
    train = load_tokens(os.path.join(a.data, "train.bin"))
    held = load_tokens(os.path.join(a.data, "heldout.bin"))
    cfg = {"architecture": "llama", "vocab_size": meta["vocab_size"], "dim": a.dim, "n_layers": a.layers,
           "n_heads": a.heads, "n_kv_heads": a.kv_heads, "head_dim": a.dim // a.heads, "hidden_dim": a.hidden,
           "norm_eps": 1e-5, "rope_theta": 10000.0, "context_length": a.seq, "tied_embeddings": True,
           "rope_layout": "normal", "dropout": a.dropout, "bos_id": meta["bos"]}
    model = Llama(cfg).to(dev)
    n_params = sum(p.numel() for p in model.parameters())
    print(f"train: {n_params} parameters on {dev}; {len(train)} train / {len(held)} held-out tokens", flush=True)

    decay = [p for p in model.parameters() if p.dim() == 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1}, {"params": no_decay, "weight_decay": 0.0}],
                            lr=a.lr, betas=(0.9, 0.95), eps=1e-8)
    gen = torch.Generator().manual_seed(a.seed)
    use_amp = dev == "cuda"
    warmup = max(1, min(100, a.steps // 10))

    def lr_at(progress, step):
        if step < warmup:
            return a.lr * (step + 1) / warmup
        return a.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, progress))))

    # held-out: non-overlapping windows of the whole stream (the tail shorter than a window dropped)
    nwin = (len(held) - 1) // a.seq
    hx = held[: nwin * a.seq].view(nwin, a.seq)
    hy = held[1 : nwin * a.seq + 1].view(nwin, a.seq)

    @torch.no_grad()
    def evaluate():
        model.eval()
        tot, n = 0.0, 0
        for i in range(0, nwin, 64):
            x, y = hx[i : i + 64].to(dev), hy[i : i + 64].to(dev)
            with torch.autocast(device_type=dev, dtype=torch.bfloat16, enabled=use_amp):
                loss = model(x, y)
            tot += loss.item() * x.shape[0]
            n += x.shape[0]
        model.train()
        return tot / n

    log, best, best_state, best_step = [], float("inf"), None, -1
    t0 = time.time()
    run_loss, run_n, step = 0.0, 0, 0
    max_s = a.max_minutes * 60
    while step < a.steps:
        elapsed = time.time() - t0
        if elapsed > max_s:
            break
        progress = max(step / a.steps, elapsed / max_s)
        for g in opt.param_groups:
            g["lr"] = lr_at(progress, step)
        ix = torch.randint(0, len(train) - a.seq - 1, (a.batch,), generator=gen)
        x = torch.stack([train[i : i + a.seq] for i in ix.tolist()]).to(dev, non_blocking=True)
        y = torch.stack([train[i + 1 : i + a.seq + 1] for i in ix.tolist()]).to(dev, non_blocking=True)
        with torch.autocast(device_type=dev, dtype=torch.bfloat16, enabled=use_amp):
            loss = model(x, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        step += 1
        run_loss += loss.item() if step % 10 == 0 or step == 1 else 0.0
        run_n += 1 if step % 10 == 0 or step == 1 else 0
        if step % a.eval_every == 0 or step == a.steps:
            hl = evaluate()
            rec = {"step": step, "tokens": step * a.batch * a.seq, "train_loss": run_loss / max(1, run_n),
                   "heldout_loss": hl, "heldout_ppl": math.exp(hl), "lr": opt.param_groups[0]["lr"],
                   "seconds": round(time.time() - t0, 1)}
            log.append(rec)
            print(json.dumps(rec), flush=True)
            run_loss, run_n = 0.0, 0
            if hl < best:
                best, best_step, best_state = hl, step, model.gguf_state()
    if best_state is None or (log and log[-1]["step"] != step):
        hl = evaluate()
        log.append({"step": step, "tokens": step * a.batch * a.seq, "train_loss": run_loss / max(1, run_n),
                    "heldout_loss": hl, "heldout_ppl": math.exp(hl), "lr": opt.param_groups[0]["lr"],
                    "seconds": round(time.time() - t0, 1)})
        print(json.dumps(log[-1]), flush=True)
        if hl < best:
            best, best_step, best_state = hl, step, model.gguf_state()
    train_s = time.time() - t0

    files = save_safetensors(best_state, a.out)
    cfg.update({"n_params": n_params, "steps": step, "best_step": best_step, "batch": a.batch, "seq": a.seq,
                "lr": a.lr, "seed": a.seed, "heldout_loss": best, "heldout_ppl": math.exp(best),
                "train_seconds": round(train_s, 1), "tokens_seen": step * a.batch * a.seq,
                "train_tokens": len(train), "heldout_tokens": int(nwin * a.seq), "files": files,
                "device": torch.cuda.get_device_name(0) if dev == "cuda" else "cpu", "torch": torch.__version__})
    json.dump(cfg, open(os.path.join(a.out, "config.json"), "w"), indent=1)
    json.dump(log, open(os.path.join(a.out, "log.json"), "w"), indent=1)
    print(f"train: {step} steps in {train_s:.0f} s; best held-out loss {best:.4f} (ppl {math.exp(best):.2f}) "
          f"at step {best_step}; wrote {files}", flush=True)


if __name__ == "__main__":
    main()
