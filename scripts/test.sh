#!/usr/bin/env bash
# Runs every test of the workspace on a fresh machine: set-up, then the test suite.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
scripts/setup.sh
cargo build --workspace --bins
cargo test --workspace --no-fail-fast "$@"
# Short fuzz run of every fuzz target (docs/FUZZING.md, about 10 s each after the build);
# a crash fails the run.
scripts/fuzz.sh --ci
