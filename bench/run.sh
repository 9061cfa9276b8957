#!/usr/bin/env bash
# lir vs llama.cpp: speed (pp/tg), generation vs the memory-bandwidth limit, peak RSS.
# Method: bench/README.md. Usage: bench/run.sh   (or `make bench`)
#
# Environment (defaults in brackets):
#   REPS [5]          alternating A/B repetitions per model x thread count (medians are reported)
#   THREADS ["1 2"]   thread counts
#   TYPES ["Q4_0 Q4_K_M Q8_0"]   lir-gen --type values;  PRESET [llama-3.2-1b]  lir-gen --preset
#   P [512] N [128]   prompt tokens (pp) and decode steps (tg), llama-bench semantics
#   FA [auto]         llama.cpp flash attention: auto (node-llama-cpp's default) | on | off
#   TOKENIZE [1]      0: skip the tokenizer speed comparison (bench/tokenize_bench.mjs)
#   GRAMMAR [1]       0: skip JSON-schema vs unconstrained generation (bench/grammar_bench.sh,
#                     table in out/bench/grammar.md)
#   NO_README [0]     1: do not rewrite the results section of bench/README.md
set -euo pipefail
cd "$(dirname "$0")/.."

REPS=${REPS:-5}
THREADS=${THREADS:-"1 2"}
TYPES=${TYPES:-"Q4_0 Q4_K_M Q8_0"}
PRESET=${PRESET:-llama-3.2-1b}
P=${P:-512}
N=${N:-128}
FA=${FA:-auto}
LIR=${LIR_BIN:-build/lir}
LIR_GEN=${LIR_GEN:-build/lir-gen}
OUT=out/bench

die() { printf 'bench: %s\n' "$*" >&2; exit 1; }
log() { printf 'bench: %s\n' "$*" >&2; }

[ -x "$LIR" ] || die "$LIR is missing: run \`make build\` first"
[ -x "$LIR_GEN" ] || die "$LIR_GEN is missing: run \`make build\` first"
[ -d node_modules/node-llama-cpp ] || die "node-llama-cpp is missing: run scripts/deps.sh (or \`make deps\`)"
[ -x /usr/bin/time ] || die "/usr/bin/time is missing: apt-get install time"
command -v gcc >/dev/null || die "gcc is missing"

mkdir -p "$OUT"
RUNS="$OUT/runs.jsonl"
: > "$RUNS"
# Load average before and after: anything else running skews both sides (see bench/README.md).
printf '{"kind":"load","when":"start","loadavg":"%s"}\n' "$(cut -d' ' -f1-3 /proc/loadavg)" >> "$RUNS"

# --- memory bandwidth ----------------------------------------------------------------------
# Measured before and after the speed runs; the report keeps the higher (the machine's capacity).
gcc -O3 -march=native -pthread bench/membw.c -o "$OUT/membw"
membw() {
  for t in $THREADS; do
    log "memory bandwidth, $t thread(s)"
    printf '{"kind":"membw","data":%s}\n' "$("$OUT/membw" "$t")" >> "$RUNS"
  done
}
membw

# --- models (generated once; delete out/bench/*.gguf to regenerate) ------------------------
models=()
for ty in $TYPES; do
  f="$OUT/$PRESET-$ty.gguf"
  if [ ! -s "$f" ]; then
    log "generating $f"
    "$LIR_GEN" --arch llama --preset "$PRESET" --type "$ty" --seed 1 -o "$f.tmp"
    mv "$f.tmp" "$f"
  fi
  models+=("$f")
  printf '{"kind":"model","model":"%s","type":"%s","data":%s}\n' "$f" "$ty" \
    "$(node bench/llamacpp_bench.mjs --info -m "$f")" >> "$RUNS"
done

# --- speed: alternating A/B runs -------------------------------------------------------------
for f in "${models[@]}"; do
  cat "$f" > /dev/null # page cache warm for both sides
  for t in $THREADS; do
    for r in $(seq 1 "$REPS"); do
      log "$(basename "$f") t=$t rep $r/$REPS: lir"
      j=$("$LIR" bench -m "$f" -p "$P" -n "$N" -t "$t" -r 1 --json) || die "lir bench failed on $f"
      printf '{"kind":"speed","side":"lir","model":"%s","threads":%s,"rep":%s,"data":%s}\n' "$f" "$t" "$r" "$j" >> "$RUNS"
      log "$(basename "$f") t=$t rep $r/$REPS: llama.cpp"
      j=$(node bench/llamacpp_bench.mjs -m "$f" -p "$P" -n "$N" -t "$t" -r 1 --fa "$FA") || die "llama.cpp bench failed on $f"
      printf '{"kind":"speed","side":"llama.cpp","model":"%s","threads":%s,"rep":%s,"data":%s}\n' "$f" "$t" "$r" "$j" >> "$RUNS"
    done
  done
done

membw

# --- tokenizer speed: 1 MiB of English, Llama 3 vocabulary (bench/tokenize_bench.mjs) --------
if [ "${TOKENIZE:-1}" = 1 ]; then
  log "tokenizer: 1 MiB of English, lir vs llama.cpp"
  j=$(node bench/tokenize_bench.mjs --reps "$REPS" | tail -1) || die "tokenizer bench failed"
  printf '{"kind":"tokenize","data":%s}\n' "$j" >> "$RUNS"
fi

# --- grammar-constrained generation speed (bench/grammar_bench.sh; its own table) --------------
if [ "${GRAMMAR:-1}" = 1 ]; then
  log "grammar: lir generate with a JSON schema vs unconstrained"
  REPS="$REPS" LIR_BIN="$LIR" LIR_GEN="$LIR_GEN" bench/grammar_bench.sh > "$OUT/grammar.md" || die "grammar bench failed"
  cat "$OUT/grammar.md" >&2
fi

# --- peak RSS of lir generate at n_ctx 2048 ---------------------------------------------------
prompt=$(seq -s, 10 137) # 128 prompt tokens
tmax=$(printf '%s\n' $THREADS | sort -n | tail -1)
for f in "${models[@]}"; do
  log "peak RSS: $(basename "$f")"
  /usr/bin/time -v "$LIR" generate -m "$f" --tokens "$prompt" -n 128 --temp 0 --ctx 2048 --output json -t "$tmax" \
    > /dev/null 2> "$OUT/time.txt" || { cat "$OUT/time.txt" >&2; die "lir generate failed on $f"; }
  kb=$(sed -n 's/.*Maximum resident set size (kbytes): *\([0-9]*\).*/\1/p' "$OUT/time.txt")
  printf '{"kind":"rss","model":"%s","n_ctx":2048,"max_rss_kb":%s}\n' "$f" "$kb" >> "$RUNS"
done

# --- context shift: truncate a 32K context to 8K (tools/lir_kv_truncate.c; target < 500 ms) ------
# The KV cache is filled with random values instead of evaluating 32K tokens (see the tool).
KVT=${LIR_KV_TRUNCATE:-$(dirname "$LIR")/lir-kv-truncate}
if [ -x "$KVT" ]; then
  log "kv truncate 32768 -> 8192: $(basename "${models[0]}")"
  j=$("$KVT" -m "${models[0]}" --ctx 32768 --keep 8192 -t "$tmax" --reps "$REPS" --json) || die "lir-kv-truncate failed"
  printf '{"kind":"kv_truncate","model":"%s","data":%s}\n' "${models[0]}" "$j" >> "$RUNS"
fi

printf '{"kind":"load","when":"end","loadavg":"%s"}\n' "$(cut -d' ' -f1-3 /proc/loadavg)" >> "$RUNS"
args=(--runs "$RUNS" --p "$P" --n "$N" --fa "$FA")
[ "${NO_README:-0}" = 1 ] || args+=(--readme bench/README.md)
node bench/report.mjs "${args[@]}"
