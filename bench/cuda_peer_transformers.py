#!/usr/bin/env python3
"""cuda_peer_transformers.py - the PyTorch/transformers peer of bench/cuda_bench.sh: a
LlamaForCausalLM with random weights of the same shape as lir-gen's presets (llama-3.2-1b,
llama-3-8b), in f16 on the GPU, measured the way lir-cuda-bench measures lir: prompt tok/s at
--prompt tokens (one forward pass), time to first token for --ttft tokens (forward + argmax
on the host), batch-1 greedy decode tok/s over --gen tokens with generate(cache_implementation=
"static") (generate time minus its prefill). --compile wraps forward in torch.compile
(mode reduce-overhead, HF's recipe for the static cache). Prints one JSON object."""
import argparse, json, time
import torch
from transformers import LlamaConfig, LlamaForCausalLM

PRESETS = {
    "llama-3.2-1b": dict(hidden_size=2048, num_hidden_layers=16, num_attention_heads=32, num_key_value_heads=8,
                         head_dim=64, intermediate_size=8192, vocab_size=128256, tie_word_embeddings=True),
    "llama-3-8b": dict(hidden_size=4096, num_hidden_layers=32, num_attention_heads=32, num_key_value_heads=8,
                       head_dim=128, intermediate_size=14336, vocab_size=128256, tie_word_embeddings=False),
}

def sync_time(f):
    torch.cuda.synchronize(); t = time.perf_counter(); r = f(); torch.cuda.synchronize()
    return time.perf_counter() - t, r

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--preset", required=True, choices=PRESETS)
    ap.add_argument("--prompt", type=int, default=512)
    ap.add_argument("--ttft", type=int, default=256)
    ap.add_argument("--gen", type=int, default=128)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--compile", action="store_true")
    a = ap.parse_args()
    cfg = LlamaConfig(**PRESETS[a.preset], rope_theta=500000.0, rms_norm_eps=1e-5, max_position_embeddings=4096,
                      bos_token_id=1, eos_token_id=2, pad_token_id=0)
    torch.manual_seed(0)
    torch.set_default_dtype(torch.float16)
    with torch.device("cuda"):
        model = LlamaForCausalLM(cfg).eval()
    for p in model.parameters():  # small random weights: finite activations in f16
        p.data.normal_(0.0, 0.02)
    if a.compile:
        model.forward = torch.compile(model.forward, mode="reduce-overhead", fullgraph=True)
    g = torch.Generator(device="cpu").manual_seed(1)
    ids_p = torch.randint(3, cfg.vocab_size, (1, a.prompt), generator=g).cuda()
    ids_t = ids_p[:, :a.ttft]
    with torch.inference_mode():
        model(ids_p)  # warm-up
        pp = min(sync_time(lambda: model(ids_p))[0] for _ in range(a.reps))
        def ttft():
            return int(model(ids_t).logits[0, -1].argmax().item())
        tt = min(sync_time(ttft)[0] for _ in range(a.reps))
        kw = dict(do_sample=False, cache_implementation="static", pad_token_id=0, eos_token_id=None)
        model.generate(ids_t, max_new_tokens=8, min_new_tokens=8, **kw)  # warm-up (and compile)
        tg = 1e30
        for _ in range(a.reps):
            t1, _ = sync_time(lambda: model.generate(ids_t, max_new_tokens=1, min_new_tokens=1, **kw))
            t2, out = sync_time(lambda: model.generate(ids_t, max_new_tokens=a.gen + 1, min_new_tokens=a.gen + 1, **kw))
            assert out.shape[1] == a.ttft + a.gen + 1
            tg = min(tg, t2 - t1)
    print(json.dumps(dict(peer="transformers " + __import__("transformers").__version__ + " torch " + torch.__version__,
                          preset=a.preset, dtype="f16", compiled=a.compile, prompt_tokens=a.prompt,
                          prompt_tok_s=round(a.prompt / pp, 1), ttft_tokens=a.ttft, ttft_ms=round(tt * 1e3, 2),
                          decode_tokens=a.gen, decode_tok_s=round(a.gen / tg, 1))), flush=True)

if __name__ == "__main__":
    main()
