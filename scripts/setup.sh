#!/usr/bin/env bash
# One-time set-up of a fresh Debian machine with the Rust toolchain: the system packages
# flashline builds and tests with, and the pinned esptool used as the simulator's judge.
# Idempotent: does nothing when everything is already present.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"

# Debian packages: libudev-dev + pkg-config to build the udev crate; umockdev and the
# GObject bindings for the real-udev hot-plug tests; python3-venv for esptool's venv.
packages=(pkg-config libudev-dev umockdev gir1.2-umockdev-1.0 python3-gi python3-venv tzdata tmux)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "installing Debian packages: ${missing[*]}"
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# PostgreSQL server binaries for the central audit record's tests (a throwaway cluster per
# test run: initdb + pg_ctl as the postgres user, see crates/testkit/src/pg.rs). Skipped
# when an initdb is already there (Debian's, or one on PATH).
if ! compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null && ! command -v initdb >/dev/null; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "installing Debian packages: postgresql"
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postgresql >/dev/null
fi

"$root/scripts/setup-esptool.sh"
