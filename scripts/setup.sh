#!/usr/bin/env bash
# One-time set-up of a fresh Debian machine with the Rust toolchain: the system packages
# flashline builds and tests with, the pinned esptool used as the simulator's judge, and
# the pinned NVS partition generator used as the judge of flashline's NVS images.
# Idempotent: does nothing when everything is already present.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"

# Debian packages: libudev-dev + pkg-config to build the udev crate; umockdev and the
# GObject bindings for the real-udev hot-plug tests; python3-venv for esptool's venv;
# prometheus for promtool, which checks the /metrics exposition; chromium and
# chromium-driver for the dashboard's browser test (WebDriver).
packages=(pkg-config libudev-dev umockdev gir1.2-umockdev-1.0 python3-gi python3-venv tzdata tmux prometheus
  chromium chromium-driver)
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

# Espressif's NVS partition generator, the judge of flashline's NVS images
# (crates/nvs/tests/against_official.rs), pinned in the same venv.
NVS_GEN_VERSION="${NVS_GEN_VERSION:-0.3.0}"
if ! "$root/.venv/bin/python" -c "import importlib.metadata as m, sys; sys.exit(m.version('esp-idf-nvs-partition-gen') != '$NVS_GEN_VERSION')" 2>/dev/null; then
  "$root/.venv/bin/pip" install --quiet --disable-pip-version-check "esp-idf-nvs-partition-gen==$NVS_GEN_VERSION"
  echo "esp-idf-nvs-partition-gen $NVS_GEN_VERSION ready in $root/.venv"
fi
