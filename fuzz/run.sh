#!/bin/sh
# fuzz/run.sh [DURATION_SECONDS] — builds the libFuzzer targets with clang + ASan + UBSan in
# build-fuzz/ and runs each fuzz_* target in turn for a bounded time over a scratch copy of its
# seeds and kept reproducers:
#   fuzz_gguf       DURATION_SECONDS (default 60)   fuzz/seed/, tests/gguf/corpus/
#   fuzz_chat       FUZZ_SECS_CHAT (default 40)      fuzz/seed_chat/, fuzz/repro/chat-*, fuzz/chat.dict
#   fuzz_tokenizer  FUZZ_SECS_TOKENIZER (default 40) fuzz/seed_tokenizer/, fuzz/repro/tokenizer-*
# (fuzz/repro/ keeps every reproducer found; those named *-hang-* are not replayed here.)
# A target without a budget here gets FUZZ_SECS_OTHER (default 20), over fuzz/seed_NAME/
# (fuzz_licence, fuzz_grammar, fuzz_snapshot).
# One target at a time, one job each. The budgets keep CI's fuzz stage (2 cores, `make fuzz`,
# 60 s for gguf) under 4 minutes including the sanitized build: 60+40+40+20+20 s of fuzzing
# plus a build of about 25 s on a quiet 2-core machine (75 s on a busy one).
# Prints one summary line per target. Exits non-zero if any target found something (crash,
# leak, timeout, sanitizer report); the reproducer is left in build-fuzz/findings/ (the build
# directory is FUZZ_BUILD_DIR when set). A finding that is fixed goes to fuzz/repro/ (run again
# every time) and into a regression test.
set -eu
dur="${1:-60}"
root="$(cd "$(dirname "$0")/.." && pwd)"
bdir="${FUZZ_BUILD_DIR:-$root/build-fuzz}"
mkdir -p "$bdir"
jobs="$(nproc 2>/dev/null || echo 2)"
cmake -S "$root" -B "$bdir" -DLIR_FUZZ=ON -DLIR_TESTS=OFF -DCMAKE_C_COMPILER=clang \
    -DLIR_SANITIZE_ADDRESS=ON -DLIR_SANITIZE_UNDEFINED=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    >"$bdir/configure.log" 2>&1 ||
    { cat "$bdir/configure.log"; echo "fuzz: cmake configure failed"; exit 2; }
targets=""
for f in "$root"/fuzz/fuzz_*.c; do targets="$targets $(basename "$f" .c)"; done
# shellcheck disable=SC2086
cmake --build "$bdir" --target $targets -j "$jobs" >>"$bdir/configure.log" 2>&1 ||
    { tail -50 "$bdir/configure.log"; echo "fuzz: build failed"; exit 2; }
mkdir -p "$bdir/findings"

failed=0
for t in $targets; do
    name="${t#fuzz_}"
    work="$bdir/corpus-$name"
    mkdir -p "$work"
    extra=""
    case "$name" in
    gguf)
        secs="$dur"; maxlen=65536
        cp "$root"/fuzz/seed/* "$root"/tests/gguf/corpus/* "$work"/ 2>/dev/null || true ;;
    chat)
        secs="${FUZZ_SECS_CHAT:-40}"; maxlen=8192; extra="-dict=$root/fuzz/chat.dict"
        cp "$root"/fuzz/seed_chat/* "$work"/ 2>/dev/null || true ;;
    tokenizer)
        secs="${FUZZ_SECS_TOKENIZER:-40}"; maxlen=4096
        cp "$root"/fuzz/seed_tokenizer/* "$work"/ 2>/dev/null || true ;;
    *)
        secs="${FUZZ_SECS_OTHER:-20}"; maxlen=8192
        cp "$root"/fuzz/seed_"$name"/* "$work"/ 2>/dev/null || true ;;
    esac
    # past findings are replayed; the hangs (-hang-: a second or more each, sanitized) are left
    # to their regression tests so they do not eat the time budget
    for f in "$root"/fuzz/repro/"$name"-*; do
        case "$f" in *-hang-*) ;; *) if [ -f "$f" ]; then cp "$f" "$work"/; fi ;; esac
    done
    log="$bdir/$t.log"
    set +e
    # shellcheck disable=SC2086
    "$bdir/$t" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -max_len="$maxlen" $extra \
        -artifact_prefix="$bdir/findings/$name-" -print_final_stats=1 "$work" >"$log" 2>&1
    rc=$?
    set -e
    runs="$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo '?')"
    if [ "$rc" -ne 0 ]; then
        grep -E 'ERROR|SUMMARY|runtime error|Test unit written|^fuzz_|^ *#[0-9]+ 0x' "$log" | head -40
        # the reproducer itself, so a finding on a machine we cannot reach (CI) can be replayed:
        # `base64 -d > crash.bin` of the lines between the markers
        for a in "$bdir"/findings/"$name"-*; do
            if [ -f "$a" ] && [ "$(wc -c <"$a")" -le 16384 ]; then
                echo "--- $(basename "$a") (base64) ---"; base64 "$a"; echo "--- end ---"
            fi
        done
        echo "$t: FAILED after ${secs}s limit, $runs runs (exit $rc); see $log and $bdir/findings/"
        failed=1
    else
        echo "$t: ok, ${secs}s, $runs runs, 0 findings"
    fi
done
exit "$failed"
