#!/bin/sh
# chat_ttft.sh — builds bench/chat_ttft.c against a lir build and runs the scheduler benchmarks:
# the 10-turn chat (TTFT per turn with prefix reuse, and without it for comparison) and, with
# LONG=1, a generation of 120K tokens through a 4096-token context with the shift policy (RSS
# every 10%). Usage:
#   bench/chat_ttft.sh [BUILD_DIR (build)] [MODEL (models/kjv-11m-q8_0.gguf)] [REPS (3)]
#   LONG=1 bench/chat_ttft.sh [BUILD_DIR] [MODEL] [TOKENS (120000)]
set -e
cd "$(dirname "$0")/.."
B=${1:-build}
M=${2:-models/kjv-11m-q8_0.gguf}
[ -f "$B/liblir.a" ] || cmake --build "$B" --target lir
mkdir -p out/bench
gcc -O2 -std=c11 -D_GNU_SOURCE -Iinclude -DLIR_STATIC bench/chat_ttft.c "$B/liblir.a" \
    $(pkg-config --libs libpcre2-8 libutf8proc jansson libcurl libsodium libmicrohttpd sqlite3 libxxhash) -lm -pthread \
    -o out/bench/chat_ttft
if [ -n "$LONG" ]; then
    out/bench/chat_ttft long "$M" "${3:-120000}" 4096
else
    out/bench/chat_ttft chat "$M" 10 48 "${3:-3}"
fi
