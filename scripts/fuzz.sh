#!/usr/bin/env bash
# Builds one libFuzzer target of the Fuzz package (or all of them) with -sanitize=fuzzer,address
# and runs it for SECONDS, then prints libFuzzer's final stats: executions, coverage (cov: edges,
# ft: features), corpus size, peak memory. See Docs/testing.md, "Fuzzing and differential testing".
#
#   scripts/fuzz.sh TARGET SECONDS [libFuzzer flags...]     TARGET: tir, safetensors, config, npy or all
#   scripts/fuzz.sh tir 300
#   scripts/fuzz.sh all 60 -seed=1
#   scripts/fuzz.sh tir repro Fuzz/Findings/tir/crash-...    replay inputs (no fuzzing)
#
# Seeds come from Fuzz/Corpus/TARGET (committed); what the fuzzer adds goes to
# Fuzz/.build-fuzzer/corpus/TARGET (kept between runs, ignored by git); crashes, timeouts and
# out-of-memory inputs go to Fuzz/Findings/TARGET/. The full log is Fuzz/.build-fuzzer/logs/TARGET.log.
# Exit status: 0 when every target ran clean, 1 when any found something, 2 on a usage error.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
all_targets=(tir safetensors config npy)

usage() { sed -n '5,9p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
[ $# -ge 2 ] || usage
target=$1
seconds=$2
shift 2
if [ "$target" = all ]; then
    targets=("${all_targets[@]}")
else
    [[ " ${all_targets[*]} " == *" $target "* ]] || { echo "fuzz.sh: unknown target '$target'" >&2; usage; }
    targets=("$target")
fi
if [ "$seconds" != repro ] && ! [[ "$seconds" =~ ^[0-9]+$ ]]; then
    echo "fuzz.sh: SECONDS must be a whole number (or 'repro')" >&2
    usage
fi

scripts/setup.sh
scratch=Fuzz/.build-fuzzer
mkdir -p "$scratch"
# Offline builds: reuse the main package's checkouts of its dependencies when there are none yet.
for d in checkouts repositories; do
    if [ ! -e "$scratch/$d" ] && [ -d ".build/$d" ]; then cp -R ".build/$d" "$scratch/$d"; fi
done

flags=(-c debug -Xswiftc -sanitize=fuzzer,address)
# The toolchain's lld links without the hundreds of warnings gold prints for ASan's symbols.
swift_bin=$(dirname "$(readlink -f "$(command -v swift)")")
if [ -x "$swift_bin/ld.lld" ]; then flags+=(-Xswiftc -use-ld=lld); fi

build() {
    echo "+ swift build --package-path Fuzz --scratch-path $scratch ${flags[*]} --product fuzz-$1" >&2
    swift build --package-path Fuzz --scratch-path "$scratch" "${flags[@]}" --product "fuzz-$1" >&2
}

# libFuzzer, not the Swift runtime, should report crashes (the runtime's backtracer trips ASan).
export SWIFT_BACKTRACE=enable=no
export TFC_ROOT=$root
# Known leaks outside tfc (see the file); libFuzzer's leak detection stays on for the rest.
export LSAN_OPTIONS=suppressions=$root/Fuzz/lsan-suppressions.txt${LSAN_OPTIONS:+:$LSAN_OPTIONS}

status=0
for t in "${targets[@]}"; do
    build "$t"
    bin="$scratch/debug/fuzz-$t"
    if [ "$seconds" = repro ]; then
        "$bin" "$@" || status=1
        continue
    fi
    corpus="$scratch/corpus/$t"
    findings="Fuzz/Findings/$t"
    log="$scratch/logs/$t.log"
    mkdir -p "$corpus" "$findings" "$(dirname "$log")"
    before=$(ls "$findings" | wc -l)
    echo "== fuzz-$t for $seconds s (log: $log)"
    set +e
    "$bin" "$corpus" "Fuzz/Corpus/$t" -dict="Fuzz/Dictionaries/$t.dict" -max_total_time="$seconds" \
        -rss_limit_mb=2048 -malloc_limit_mb=1024 -timeout=10 -print_final_stats=1 \
        -artifact_prefix="$findings/" "$@" >"$log" 2>&1 &
    pid=$!
    wait $pid
    rc=$?
    set -e
    rm -rf "/dev/shm/tfc-fuzz-$pid"
    grep -E '^#[0-9]+[[:space:]]+INITED' "$log" | tail -1 | sed 's/^/   start: /' || true
    grep -E '^#[0-9]+[[:space:]]+(DONE|NEW|REDUCE|pulse)' "$log" | tail -1 | sed 's/^/   end:   /' || true
    grep -E '^(stat::|Done )' "$log" | sed 's/^/   /' || true
    after=$(ls "$findings" | wc -l)
    if [ "$rc" -ne 0 ] || [ "$after" -ne "$before" ]; then
        status=1
        echo "   FOUND SOMETHING (libFuzzer exit status $rc); new files in $findings/:"
        ls -t "$findings" | head -n $((after - before > 0 ? after - before : 1)) | sed 's/^/     /'
        grep -E 'ERROR: |INVARIANT BROKEN|Fatal error|SUMMARY' "$log" | head -5 | sed 's/^/   /'
        echo "   replay: $bin $findings/<file>    (with SWIFT_BACKTRACE=enable=no TFC_ROOT=$root)"
    fi
done
exit $status
