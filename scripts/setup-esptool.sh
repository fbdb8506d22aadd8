#!/usr/bin/env bash
# Creates .venv/ in the repository root with the pinned esptool that the acceptance tests
# and benchmarks use as the independent judge of espsim. Idempotent.
set -euo pipefail
ESPTOOL_VERSION="${ESPTOOL_VERSION:-5.6.0}"
root="$(cd "$(dirname "$0")/.." && pwd)"
venv="$root/.venv"
if [ -x "$venv/bin/esptool" ] && "$venv/bin/esptool" version 2>/dev/null | grep -qx "$ESPTOOL_VERSION"; then
  exit 0
fi
py="$(command -v python3)"
"$py" -m venv "$venv" 2>/dev/null || {
  echo "python3 -m venv failed; installing python3-venv" >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
  "$py" -m venv "$venv"
}
"$venv/bin/pip" install --quiet --disable-pip-version-check "esptool==$ESPTOOL_VERSION"
"$venv/bin/esptool" version | grep -qx "$ESPTOOL_VERSION"
echo "esptool $ESPTOOL_VERSION ready in $venv"
