#!/usr/bin/env bash
# One-time set-up of a fresh Debian machine with the Rust toolchain: the system packages
# flashline builds and tests with, and the pinned esptool used as the simulator's judge.
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

"$root/scripts/setup-esptool.sh"
