#!/bin/sh
# Runs the kill/restart test (crates/flashline/tests/crash_storage.rs,
# sigkill_at_random_moments_loses_nothing) once per seed and prints a summary line per
# seed. A failed seed keeps its station directory (the test prints where).
#
#   scripts/crash-seeds.sh [COUNT] [FIRST_SEED]      (default: 50 seeds from 1)
#
# Each seed's test output goes to target/crash-seeds/seed-N.log (kept only when it fails).
# Set CARGO_PROFILE_FLAG=--release for release builds. Exit status: the number of failed
# seeds (capped at 100).
set -u
count=${1:-50}
first=${2:-1}
cd "$(dirname "$0")/.."
bin=$(cargo test ${CARGO_PROFILE_FLAG:-} -p flashline --test crash_storage --no-run --message-format=json 2>/dev/null \
    | sed -n 's/.*"executable":"\([^"]*crash_storage[^"]*\)".*/\1/p' | tail -n 1)
if [ -z "$bin" ]; then
    echo "could not build the crash_storage test" >&2
    exit 100
fi
out=target/crash-seeds
mkdir -p "$out/bin"
# A frozen copy of the binaries: a rebuild meanwhile does not change the run.
profile=debug
[ "${CARGO_PROFILE_FLAG:-}" = "--release" ] && profile=release
cargo build ${CARGO_PROFILE_FLAG:-} -p flashline-sim --bin espsim -p flashline --bin flashline 2>/dev/null || exit 100
cp "$bin" "$out/bin/crash_storage"
cp "target/$profile/flashline" "target/$profile/espsim" "$out/bin/"
bin=$out/bin/crash_storage
export FLASHLINE_TEST_FLASHLINE_BIN="$PWD/$out/bin/flashline" FLASHLINE_TEST_ESPSIM_BIN="$PWD/$out/bin/espsim"
failed=0
seed=$first
last=$((first + count - 1))
while [ "$seed" -le "$last" ]; do
    start=$(date +%s)
    if FLASHLINE_CRASH_SEED=$seed "$bin" --exact sigkill_at_random_moments_loses_nothing --nocapture \
        >"$out/seed-$seed.log" 2>&1; then
        result=pass
        rm -f "$out/seed-$seed.log"
    else
        result="FAIL (output: $out/seed-$seed.log)"
        failed=$((failed + 1))
    fi
    echo "seed $seed: $result in $(( $(date +%s) - start )) s"
    seed=$((seed + 1))
done
echo "$count seeds from $first: $failed failed"
[ "$failed" -gt 100 ] && failed=100
exit "$failed"
