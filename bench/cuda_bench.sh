#!/usr/bin/env bash
# cuda_bench.sh — the CUDA backend's speed on one GPU, and its peer, in one run (results in
# bench/README.md). Generates random-weight models of real shape with lir-gen (Llama-3.2-1B and
# Llama-3-8B in Q4_K_M, Q8_0 and F16; on the machine that runs it, never carried), runs
# lir-cuda-bench on each (prompt tok/s at 512, TTFT for 256 tokens, batch-1 decode tok/s over
# 128 tokens against the HBM bound) and bench/cuda_peer_transformers.py (PyTorch/transformers,
# f16, static cache; eager, and torch.compile for the 1B) for each shape.
#   usage: bench/cuda_bench.sh [OUT_DIR]     (default out/cuda-bench)
#   env:   BIN (build dir with lir-gen and lir-cuda-bench, default build-cuda),
#          MODELS (where models are generated, default /tmp/lir-cuda-models),
#          PRESETS, TYPES (default all), PEER=0 skips the transformers peer, HBM (bytes/s, 4.3e12)
set -u
cd "$(dirname "$0")/.."
OUT=${1:-out/cuda-bench}
BIN=${BIN:-build-cuda}
MODELS=${MODELS:-/tmp/lir-cuda-models}
PRESETS=${PRESETS:-"llama-3.2-1b llama-3-8b"}
TYPES=${TYPES:-"Q4_K_M Q8_0 F16"}
PEER=${PEER:-1}
HBM=${HBM:-4.3e12}
mkdir -p "$OUT" "$MODELS"
NPROC=$(nproc)
echo "== cuda_bench: $(date -u +%FT%TZ) on $(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader 2>/dev/null)" | tee "$OUT/log.txt"

# generate every model at once (lir-gen quantizes with --threads; split the cores)
n_models=$(( $(echo $PRESETS | wc -w) * $(echo $TYPES | wc -w) ))
th=$(( NPROC / n_models )); [ "$th" -lt 1 ] && th=1
t0=$(date +%s)
for p in $PRESETS; do for t in $TYPES; do
  f="$MODELS/$p-$t.gguf"
  [ -s "$f" ] || "$BIN/lir-gen" --preset "$p" --type "$t" --threads "$th" -o "$f" >>"$OUT/log.txt" 2>&1 &
done; done
wait
echo "generated $n_models models in $(( $(date +%s) - t0 )) s" | tee -a "$OUT/log.txt"

# lir on each model, one at a time (the GPU to itself)
for p in $PRESETS; do for t in $TYPES; do
  f="$MODELS/$p-$t.gguf"
  echo "-- lir $p $t" | tee -a "$OUT/log.txt"
  "$BIN/lir-cuda-bench" "$f" --n-ctx 4096 --prompt 512 --ttft 256 --gen 128 --reps 3 --hbm "$HBM" --profile \
    2>>"$OUT/log.txt" | tee -a "$OUT/lir.jsonl"
  rm -f "$f" # free the disk for the next shapes' runs
done; done

if [ "$PEER" = 1 ]; then
  for p in $PRESETS; do
    echo "-- transformers $p" | tee -a "$OUT/log.txt"
    PYTHONUNBUFFERED=1 python3 bench/cuda_peer_transformers.py --preset "$p" 2>>"$OUT/log.txt" | tee -a "$OUT/peer.jsonl"
    if [ "$p" = llama-3.2-1b ]; then
      PYTHONUNBUFFERED=1 timeout 300 python3 bench/cuda_peer_transformers.py --preset "$p" --compile \
        2>>"$OUT/log.txt" | tee -a "$OUT/peer.jsonl"
    fi
  done
fi
echo "== done $(date -u +%FT%TZ)" | tee -a "$OUT/log.txt"
