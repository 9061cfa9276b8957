#!/usr/bin/env bash
# Grammar-constrained generation speed: lir generate tok/s with a JSON schema against the same
# generation unconstrained (same model, prompt, seed, threads), on two real-shape random models:
#   tinyllama-1.1b-Q4_0  (TinyLlama-1.1B shape: 22 layers, n_embd 2048, GQA 32/4, n_ff 5632,
#                         untied output, 32,000-token vocabulary)
#   llama-3.2-1b-Q4_0    (lir-gen --preset llama-3.2-1b: 128,256-token vocabulary, tied output;
#                         the same file as bench/run.sh's)
# The random weights make the raw next-token distribution unrelated to the grammar: inside free
# strings most draws are allowed (fast path), at structure (keys, punctuation, numbers, formats)
# they are rejected and the whole vocabulary is filtered (slow path); the "filtered" column
# counts the slow-path steps. Target (issue 5): constrained >= 80% of unconstrained.
# Method: REPS alternating pairs (unconstrained, then constrained), each a fresh process on a
# page-cache-warm file, pinned with taskset to one CPU; the rate is the run's own gen_tok_s
# (decode steps / generation time, sampling and grammar included); medians are reported, with
# the time the grammar itself took per token (lir's metrics.grammar_ms: fast-path check, filter,
# second draw, accept), which does not depend on how noisy the decode times are.
# Usage: bench/grammar_bench.sh   (or BENCH_GRAMMAR=1 bench/run.sh)
#
# Environment (defaults in brackets):
#   REPS [3]   N [64] tokens generated   THREADS [1]   CPU [1] (taskset -c CPU; "" = no pinning)
#   TEMP [0.8] SEED [1]                  LIR_BIN [build/lir]  LIR_GEN [build/lir-gen]
#   MODELS ["tinyllama-1.1b-Q4_0 llama-3.2-1b-Q4_0"]   GEN_THREADS [2] (lir-gen, first run only)
set -euo pipefail
cd "$(dirname "$0")/.."

REPS=${REPS:-3}
N=${N:-64}
THREADS=${THREADS:-1}
CPU=${CPU-1}
TEMP=${TEMP:-0.8}
SEED=${SEED:-1}
LIR=${LIR_BIN:-build/lir}
LIR_GEN=${LIR_GEN:-build/lir-gen}
MODELS=${MODELS:-"tinyllama-1.1b-Q4_0 llama-3.2-1b-Q4_0"}
GEN_THREADS=${GEN_THREADS:-2}
OUT=out/bench
RUNS="$OUT/grammar.jsonl"

die() { printf 'grammar bench: %s\n' "$*" >&2; exit 1; }
log() { printf 'grammar bench: %s\n' "$*" >&2; }

[ -x "$LIR" ] || die "$LIR is missing: run \`make build\` first"
[ -x "$LIR_GEN" ] || die "$LIR_GEN is missing: run \`make build\` first"
PIN=()
if [ -n "$CPU" ]; then
  command -v taskset >/dev/null || die "taskset is missing (CPU= to run unpinned)"
  PIN=(taskset -c "$CPU")
fi
mkdir -p "$OUT"

# A schema whose documents outlast N tokens of a random model (free strings), using objects,
# arrays, enums, ranges and formats, so the grammar state walks through all kinds of rules.
SCHEMA="$OUT/grammar-bench.schema.json"
cat > "$SCHEMA" <<'EOF'
{"type":"object","properties":{
  "id":{"type":"string","format":"uuid"},
  "name":{"type":"string"},
  "age":{"type":"integer","minimum":0,"maximum":150},
  "role":{"enum":["admin","user","guest"]},
  "joined":{"type":"string","format":"date"},
  "tags":{"type":"array","items":{"type":"string"},"maxItems":8},
  "bio":{"type":"string"},
  "address":{"type":"object","properties":{"city":{"type":"string"},"zip":{"type":"string"}},"required":["city"]}},
 "required":["id","name","age","role","joined","tags","bio","address"]}
EOF

gen_model() { # name -> path (generated once; delete it to regenerate)
  local f="$OUT/$1.gguf"
  if [ ! -s "$f" ]; then
    log "generating $f"
    case "$1" in
      tinyllama-1.1b-Q4_0)
        "$LIR_GEN" --arch llama --n-embd 2048 --n-layer 22 --n-head 32 --n-head-kv 4 --head-dim 64 --n-ff 5632 \
          --n-vocab 32000 --n-ctx 2048 --untied --type Q4_0 --seed 1 --threads "$GEN_THREADS" -o "$f.tmp" >&2 ;;
      llama-3.2-1b-Q4_0)
        "$LIR_GEN" --arch llama --preset llama-3.2-1b --type Q4_0 --seed 1 --threads "$GEN_THREADS" -o "$f.tmp" >&2 ;;
      *) die "unknown model $1" ;;
    esac
    mv "$f.tmp" "$f"
  fi
  printf '%s' "$f"
}

num() { sed -n "s/.*\"$1\":\([0-9.eE+-]*\).*/\1/p" <<< "$2"; } # a number field of lir's JSON

run() { # model mode rep -> one JSON line
  local f=$1 mode=$2 rep=$3 extra=()
  [ "$mode" = schema ] && extra=(--json-schema-file "$SCHEMA")
  local j
  j=$("${PIN[@]}" "$LIR" generate -m "$f" -p "A user record as JSON:" -n "$N" --temp "$TEMP" --seed "$SEED" \
      -t "$THREADS" "${extra[@]}" --output json 2> "$OUT/grammar-stderr.txt") ||
    { cat "$OUT/grammar-stderr.txt" >&2; die "lir generate ($mode) failed on $f"; }
  local g c
  g=$(num grammar_ms "$j")
  c=$(num grammar_filtered "$j")
  printf '{"model":"%s","mode":"%s","rep":%s,"n_gen":%s,"gen_tok_s":%s,"grammar_ms":%s,"grammar_filtered":%s,"finish_reason":"%s"}\n' \
    "$(basename "$f" .gguf)" "$mode" "$rep" "$(num n_gen "$j")" "$(num gen_tok_s "$j")" "${g:-0}" "${c:-0}" \
    "$(sed -n 's/.*"finish_reason":"\([a-z]*\)".*/\1/p' <<< "$j")"
}

: > "$RUNS"
printf '{"kind":"load","when":"start","loadavg":"%s"}\n' "$(cut -d' ' -f1-3 /proc/loadavg)" >> "$RUNS"
for name in $MODELS; do
  f=$(gen_model "$name")
  cat "$f" > /dev/null # page cache warm
  run "$f" none 0 > /dev/null # warm-up, not counted
  for r in $(seq 1 "$REPS"); do
    for mode in none schema; do
      log "$name rep $r/$REPS: $mode"
      run "$f" "$mode" "$r" >> "$RUNS"
    done
  done
done
printf '{"kind":"load","when":"end","loadavg":"%s"}\n' "$(cut -d' ' -f1-3 /proc/loadavg)" >> "$RUNS"

# --- report (awk: no node needed, so it also runs on a bare machine) ----------------------------
median() { sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
field() { sed -n "s/.*\"$1\":\"\{0,1\}\([^,\"}]*\).*/\1/p"; }
echo "Generation tok/s, $N tokens, temperature $TEMP, $THREADS thread(s), CPU ${CPU:-not pinned}; median of $REPS" \
  "alternating runs; load average $(grep '"kind":"load"' "$RUNS" | field loadavg | paste -sd '/' -) (start/end)."
echo
echo "| model | vocabulary | unconstrained tok/s | JSON schema tok/s | ratio | grammar ms/token | filtered / generated (schema runs) |"
echo "|---|---|---|---|---|---|---|"
met=met
for name in $MODELS; do
  a=$(grep "\"model\":\"$name\",\"mode\":\"none\"" "$RUNS" | field gen_tok_s | median)
  b=$(grep "\"model\":\"$name\",\"mode\":\"schema\"" "$RUNS" | field gen_tok_s | median)
  ng=$(grep "\"model\":\"$name\",\"mode\":\"schema\"" "$RUNS" | awk '{ c = $0; n = $0
    sub(/.*"grammar_filtered":/, "", c); sub(/[,}].*/, "", c); sub(/.*"n_gen":/, "", n); sub(/[,}].*/, "", n)
    print c "/" n }' | paste -sd ' ' -)
  gm=$(grep "\"model\":\"$name\",\"mode\":\"schema\"" "$RUNS" | awk '{ g = $0; n = $0
    sub(/.*"grammar_ms":/, "", g); sub(/[,}].*/, "", g); sub(/.*"n_gen":/, "", n); sub(/[,}].*/, "", n)
    print g / n }' | median)
  case "$name" in tinyllama*) v=32,000 ;; llama-3.2*) v=128,256 ;; *) v=? ;; esac
  r=$(awk -v a="$a" -v b="$b" 'BEGIN { printf "%.3f", b / a }')
  awk -v r="$r" 'BEGIN { exit !(r < 0.8) }' && met="NOT met"
  printf '| %s | %s | %.2f | %.2f | %s | %.3f | %s |\n' "$name" "$v" "$a" "$b" "$r" "$gm" "$ng"
done
echo
echo "Target (constrained >= 80% of unconstrained): $met."
