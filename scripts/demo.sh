#!/usr/bin/env bash
# Runs the demo on a fresh machine: set-up, then simulated boards hot-plugged into the
# real flashing pipeline. Extra arguments go to `flashline demo` (e.g. --boards 16).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
scripts/setup.sh
cargo run --release -p flashline --bin flashline -- demo "$@"
