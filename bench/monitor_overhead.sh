#!/bin/sh
# monitor_overhead.sh — builds bench/monitor_overhead.c against a lir build and runs it on the
# default model: the resource monitor's own CPU time at 100 ms (idle and during generation) and
# the same generation workload with the monitor on and off. Usage:
#   bench/monitor_overhead.sh [BUILD_DIR (build)] [SECONDS (10)]
set -e
cd "$(dirname "$0")/.."
B=${1:-build}
S=${2:-10}
[ -f "$B/liblir.a" ] || cmake --build "$B" --target lir
mkdir -p out/bench
gcc -O2 -std=c11 -D_GNU_SOURCE -Iinclude -DLIR_STATIC bench/monitor_overhead.c "$B/liblir.a" \
    $(pkg-config --libs libpcre2-8 libutf8proc jansson libcurl libsodium libmicrohttpd sqlite3 libxxhash) -lm -pthread \
    -o out/bench/monitor_overhead
out/bench/monitor_overhead models/kjv-11m-q8_0.gguf "$S"
