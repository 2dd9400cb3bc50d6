#!/usr/bin/env bash
# Differential testing for SECONDS: random models (ModelSpec.random(seed:)), each compiled (JIT)
# and interpreted in every variant (pre-ln, pre-rms, pre-crms) and every variant checked against
# the original in float64; a failure is shrunk to the smallest spec that still fails, printed as
# .tir and saved under Fuzz/Findings/differential/. See Docs/testing.md.
#
#   scripts/differential.sh SECONDS [differential flags...]
#   scripts/differential.sh 600                       seeds from a start drawn from the clock
#   scripts/differential.sh 600 --start 5000          fixed seeds
#   scripts/differential.sh 0 --seed 123456           reproduce one seed (SECONDS is ignored)
#
# Flags of the driver (Fuzz/Sources/differential): --start N, --count N, --seed N, --out DIR,
# --no-shrink, --threads N, --verbose. Exit status 1 when any model failed.
set -euo pipefail
cd "$(dirname "$0")/.."

[ $# -ge 1 ] && [[ "$1" =~ ^[0-9]+$ ]] || { sed -n '7,10p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
seconds=$1
shift

scripts/setup.sh
scratch=Fuzz/.build
mkdir -p "$scratch"
# Offline builds: reuse the main package's checkouts of its dependencies when there are none yet.
for d in checkouts repositories; do
    if [ ! -e "$scratch/$d" ] && [ -d ".build/$d" ]; then cp -R ".build/$d" "$scratch/$d"; fi
done
swift build --package-path Fuzz --scratch-path "$scratch" -c release --product differential >&2
bin="$scratch/release/differential"

args=("$@")
if [[ " $* " != *" --seed "* ]]; then
    args=(--seconds "$seconds" "${args[@]}")
    # A new stretch of seeds each run unless --start is given (seeds below 10000 belong to tests).
    if [[ " $* " != *" --start "* ]]; then args=(--start $((10000 + $(date +%s) % 1000000 * 100)) "${args[@]}"); fi
fi
exec "$bin" --out Fuzz/Findings/differential "${args[@]}"
