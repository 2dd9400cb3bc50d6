#!/usr/bin/env bash
# Builds one libFuzzer target of the Fuzz package (or all of them) with -sanitize=fuzzer,address
# and runs it for SECONDS, then prints libFuzzer's final stats: executions, coverage (cov: edges,
# ft: features), corpus size, peak memory. See Docs/testing.md, "Fuzzing and differential testing".
#
#   scripts/fuzz.sh TARGET SECONDS [libFuzzer flags...]    TARGET: tir, safetensors, config, npy or all
#   scripts/fuzz.sh tir 300
#   scripts/fuzz.sh all 60 -seed=1
#   scripts/fuzz.sh tir repro FILE...     replay inputs (no fuzzing), e.g. one from Fuzz/Findings/tir/
#   scripts/fuzz.sh all cover             line coverage of the code under test by the corpus so far
#
# Seeds come from Fuzz/Corpus/TARGET (committed); what the fuzzer adds goes to
# Fuzz/.build-fuzzer/corpus/TARGET (kept between runs, ignored by git); crashes, timeouts,
# out-of-memory inputs and leaks go to Fuzz/Findings/TARGET/. The full log is
# Fuzz/.build-fuzzer/logs/TARGET.log. `cover` builds a second copy of the target with
# -profile-generate -profile-coverage-mapping (Fuzz/.build-cov), replays both corpora and prints
# llvm-cov's report for the files the target is about.
# Exit status: 0 when every target ran clean, 1 when any found something, 2 on a usage error.
set -euo pipefail

# The files each target is about (the coverage report).
declare -A target_files=(
    [tir]="Sources/TIR/Lexer.swift Sources/TIR/Parser.swift Sources/TIR/Verifier.swift Sources/TIR/Printer.swift Sources/TIR/Diagnostics.swift"
    [safetensors]="Sources/TIRFormats/Safetensors.swift Sources/TIRFormats/JSON.swift"
    [config]="Sources/TIRImport/Config.swift Sources/TIRImport/Import.swift Sources/TIRImport/GPT2.swift Sources/TIRImport/ViT.swift Sources/TIRImport/OPT.swift Sources/TIRImport/GPTNeoX.swift Sources/TIRImport/ModuleBuilder.swift"
    [npy]="Sources/TIRFormats/Npy.swift"
)
all_targets=(tir safetensors config npy)

usage() { sed -n '6,10p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }

# Offline builds: reuse the main package's checkouts of its dependencies when there are none yet.
prepare_scratch() {
    mkdir -p "$1"
    for d in checkouts repositories; do
        if [ ! -e "$1/$d" ] && [ -d ".build/$d" ]; then cp -R ".build/$d" "$1/$d"; fi
    done
}

main() {
    [ $# -ge 2 ] || usage
    local target=$1 mode=$2
    shift 2
    local targets
    if [ "$target" = all ]; then
        targets=("${all_targets[@]}")
    else
        [[ " ${all_targets[*]} " == *" $target "* ]] || { echo "fuzz.sh: unknown target '$target'" >&2; usage; }
        targets=("$target")
    fi
    case $mode in
        repro | cover) ;;
        *) [[ "$mode" =~ ^[0-9]+$ ]] || { echo "fuzz.sh: SECONDS must be a whole number, 'repro' or 'cover'" >&2; usage; } ;;
    esac

    # Inputs to replay may be given relative to where the script was started.
    local args=() a
    for a in "$@"; do
        if [ -e "$a" ]; then args+=("$(readlink -f "$a")"); else args+=("$a"); fi
    done
    set -- ${args[@]+"${args[@]}"}

    cd "$(dirname "$0")/.."
    local root=$PWD
    scripts/setup.sh
    local scratch=Fuzz/.build-fuzzer cov_scratch=Fuzz/.build-cov
    prepare_scratch "$scratch"

    local flags=(-c debug -Xswiftc -sanitize=fuzzer,address)
    local cov_flags=(-c debug -Xswiftc -sanitize=fuzzer -Xswiftc -profile-generate -Xswiftc -profile-coverage-mapping)
    # The toolchain's lld links without the hundreds of warnings gold prints for ASan's symbols,
    # and the toolchain's llvm-cov reads its profiles.
    local swift_bin
    swift_bin=$(dirname "$(readlink -f "$(command -v swift)")")
    if [ -x "$swift_bin/ld.lld" ]; then flags+=(-Xswiftc -use-ld=lld); cov_flags+=(-Xswiftc -use-ld=lld); fi

    # libFuzzer, not the Swift runtime, should report crashes (the runtime's backtracer trips ASan).
    export SWIFT_BACKTRACE=enable=no
    export TFC_ROOT=$root
    # Known leaks outside tfc (see the file); leak detection stays on for everything else.
    export LSAN_OPTIONS=suppressions=$root/Fuzz/lsan-suppressions.txt${LSAN_OPTIONS:+:$LSAN_OPTIONS}

    local status=0 t
    for t in "${targets[@]}"; do
        local corpus="$scratch/corpus/$t" findings="Fuzz/Findings/$t"
        mkdir -p "$corpus" "$findings" "$scratch/logs"
        if [ "$mode" = cover ]; then
            prepare_scratch "$cov_scratch"
            echo "+ swift build --package-path Fuzz --scratch-path $cov_scratch ${cov_flags[*]} --product fuzz-$t" >&2
            swift build --package-path Fuzz --scratch-path "$cov_scratch" "${cov_flags[@]}" --product "fuzz-$t" >&2
            local profiles="$cov_scratch/profiles/$t"
            rm -rf "$profiles"
            mkdir -p "$profiles"
            LLVM_PROFILE_FILE="$profiles/%p.profraw" "$cov_scratch/debug/fuzz-$t" "$corpus" "Fuzz/Corpus/$t" -runs=0 \
                -rss_limit_mb=2048 -malloc_limit_mb=1024 -timeout=10 >"$scratch/logs/$t.cover.log" 2>&1 || status=1
            "$swift_bin/llvm-profdata" merge -sparse "$profiles"/*.profraw -o "$profiles/merged.profdata"
            echo "== fuzz-$t: line coverage by $(find "$corpus" "Fuzz/Corpus/$t" -type f | wc -l) corpus inputs"
            # shellcheck disable=SC2086
            "$swift_bin/llvm-cov" report "$cov_scratch/debug/fuzz-$t" -instr-profile="$profiles/merged.profdata" \
                ${target_files[$t]} | sed -e "s|$root/||" -e 's/^/   /'
            echo "   uncovered lines: $swift_bin/llvm-cov show $cov_scratch/debug/fuzz-$t -instr-profile=$profiles/merged.profdata FILE"
            continue
        fi

        echo "+ swift build --package-path Fuzz --scratch-path $scratch ${flags[*]} --product fuzz-$t" >&2
        swift build --package-path Fuzz --scratch-path "$scratch" "${flags[@]}" --product "fuzz-$t" >&2
        local bin="$scratch/debug/fuzz-$t"
        if [ "$mode" = repro ]; then
            local pid
            "$bin" -rss_limit_mb=2048 -malloc_limit_mb=1024 -timeout=10 "$@" &
            pid=$!
            wait $pid || status=1
            rm -rf "/dev/shm/tfc-fuzz-$pid"  # the scratch folder of a process that crashed
            continue
        fi

        local log="$scratch/logs/$t.log" before after pid rc
        before=$(ls "$findings" | wc -l)
        echo "== fuzz-$t for $mode s (log: $log)"
        set +e
        "$bin" "$corpus" "Fuzz/Corpus/$t" -dict="Fuzz/Dictionaries/$t.dict" -max_total_time="$mode" \
            -rss_limit_mb=2048 -malloc_limit_mb=1024 -timeout=10 -print_final_stats=1 \
            -artifact_prefix="$findings/" "$@" >"$log" 2>&1 &
        pid=$!
        wait $pid
        rc=$?
        set -e
        rm -rf "/dev/shm/tfc-fuzz-$pid"
        grep -E '^#[0-9]+[[:space:]]+INITED' "$log" | tail -1 | sed 's/^/   start: /' || true
        grep -E '^#[0-9]+[[:space:]]+(DONE|NEW|REDUCE|pulse)' "$log" | tail -1 | sed 's/^/   end:   /' || true
        grep -E '^(stat::|Done )' "$log" | sort -u | sed 's/^/   /' || true
        after=$(ls "$findings" | wc -l)
        if [ "$rc" -ne 0 ] || [ "$after" -ne "$before" ]; then
            status=1
            echo "   FOUND SOMETHING (libFuzzer exit status $rc); newest files in $findings/:"
            ls -t "$findings" | head -n $((after > before ? after - before : 1)) | sed 's/^/     /'
            grep -E 'ERROR: |INVARIANT BROKEN|Fatal error|SUMMARY' "$log" | head -5 | sed 's/^/   /'
            echo "   replay: scripts/fuzz.sh $t repro $findings/FILE"
        fi
    done
    return $status
}

# Everything runs from main, which bash has read in full before it starts: editing this file
# while a long run is under way cannot change what that run does.
main "$@"
exit $?
