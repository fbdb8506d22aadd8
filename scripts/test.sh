#!/usr/bin/env bash
# Runs every test of the workspace on a fresh machine: set-up, then the test suite.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
scripts/setup.sh
cargo build --workspace --bins
cargo test --workspace --no-fail-fast "$@"
# The Debian package: built (release), installed, checked, purged (docs/PACKAGING.md).
# Needs root for dpkg; a developer without it runs scripts/package.sh alone.
if [ "$(id -u)" -eq 0 ]; then
  # The packaging is checked with the debug build the tests used (no second, release
  # build in CI); scripts/package.sh alone builds the release package.
  FLASHLINE_DEB_PROFILE="${FLASHLINE_DEB_PROFILE:-dev}" scripts/deb-check.sh
else
  echo "deb: skipped (not root; run scripts/deb-check.sh with sudo)"
fi
# Short fuzz run of every fuzz target (docs/FUZZING.md, about 10 s each after the build);
# a crash fails the run.
scripts/fuzz.sh --ci
