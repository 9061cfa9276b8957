#!/bin/sh
# fuzz/run.sh DURATION_SECONDS — builds the libFuzzer targets with clang + ASan + UBSan in
# build-fuzz/ and runs fuzz_gguf for DURATION_SECONDS (default 60) over a scratch copy of
# fuzz/seed/ and tests/gguf/corpus/. Exits non-zero on any finding (crash, leak, timeout,
# sanitizer report); the reproducer is left in build-fuzz/findings/. Prints one summary line.
set -eu
dur="${1:-60}"
root="$(cd "$(dirname "$0")/.." && pwd)"
bdir="$root/build-fuzz"
mkdir -p "$bdir"
jobs="$(nproc 2>/dev/null || echo 2)"
cmake -S "$root" -B "$bdir" -DLIR_FUZZ=ON -DLIR_TESTS=OFF -DCMAKE_C_COMPILER=clang \
    -DLIR_SANITIZE_ADDRESS=ON -DLIR_SANITIZE_UNDEFINED=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    >"$bdir/configure.log" 2>&1 ||
    { cat "$bdir/configure.log"; echo "fuzz: cmake configure failed"; exit 2; }
cmake --build "$bdir" --target fuzz_gguf -j "$jobs" >>"$bdir/configure.log" 2>&1 ||
    { tail -50 "$bdir/configure.log"; echo "fuzz: build failed"; exit 2; }
work="$bdir/corpus-gguf"
mkdir -p "$work" "$bdir/findings"
cp "$root"/fuzz/seed/* "$root"/tests/gguf/corpus/* "$work"/ 2>/dev/null || true
log="$bdir/fuzz_gguf.log"
set +e
"$bdir/fuzz_gguf" -max_total_time="$dur" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
    -artifact_prefix="$bdir/findings/" -print_final_stats=1 "$work" >"$log" 2>&1
rc=$?
set -e
runs="$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo '?')"
if [ "$rc" -ne 0 ]; then
    grep -E 'ERROR|SUMMARY|runtime error|Test unit written' "$log" | head -20
    echo "fuzz_gguf: FAILED after ${dur}s limit, $runs runs (exit $rc); see $log and $bdir/findings/"
    exit 1
fi
echo "fuzz_gguf: ok, ${dur}s, $runs runs, 0 findings"
