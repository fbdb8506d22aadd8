#!/usr/bin/env bash
# Runs esptool's own test suite (test/test_esptool.py of its source repository) against
# espsim boards, one espsim process per chip, and prints passed / failed / skipped /
# deselected per chip. docs/SIMULATOR.md explains the set-up and lists the counts.
#
#   scripts/esptool-suite.sh [--source DIR] [CHIP...]     (default chips: esp32 esp8266 esp32s3 esp32c3)
#
# The test code is esptool's (GPL) and is not part of this repository: it is taken from an
# esptool source tree given with --source (or $ESPTOOL_SOURCE), else downloaded from
# GitHub at the tag of the pinned version (the PyPI sdist does not contain test/). Its
# dependencies (esptool, pytest) go into their own virtual environment under target/.
set -euo pipefail
ESPTOOL_VERSION="${ESPTOOL_VERSION:-5.6.0}"
root="$(cd "$(dirname "$0")/.." && pwd)"
work="$root/target/esptool-suite"
source_dir="${ESPTOOL_SOURCE:-}"
chips=()
while [ $# -gt 0 ]; do
  case "$1" in
    --source) source_dir="$2"; shift 2 ;;
    -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
    *) chips+=("$1"); shift ;;
  esac
done
[ ${#chips[@]} -gt 0 ] || chips=(esp32 esp8266 esp32s3 esp32c3)
mkdir -p "$work"

# esptool and pytest, apart from the acceptance tests' .venv (which stays as it is).
venv="$work/venv"
if ! "$venv/bin/python" -c 'import pytest, esptool, sys; sys.exit(esptool.__version__ != sys.argv[1])' \
    "$ESPTOOL_VERSION" 2>/dev/null; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "esptool==$ESPTOOL_VERSION" pytest
fi

# The suite's source.
if [ -z "$source_dir" ]; then
  source_dir="$work/esptool-$ESPTOOL_VERSION"
  if [ ! -f "$source_dir/test/test_esptool.py" ]; then
    url="https://github.com/espressif/esptool/archive/refs/tags/v$ESPTOOL_VERSION.tar.gz"
    echo "downloading esptool's test suite from $url"
    mkdir -p "$source_dir"
    curl -fsSL --max-time 120 "$url" | tar xz -C "$source_dir" --strip-components=1 ||
      { echo "cannot download $url; pass an esptool source tree with --source DIR" >&2; exit 2; }
  fi
fi
[ -f "$source_dir/test/test_esptool.py" ] || { echo "no test/test_esptool.py in $source_dir" >&2; exit 2; }
source_version="$(sed -n 's/^__version__ = "\(.*\)"/\1/p' "$source_dir/esptool/__init__.py" 2>/dev/null || true)"
export ESPTOOL_SOURCE_VERSION="${source_version:-$ESPTOOL_VERSION}"

cargo build --quiet -p flashline-sim --bin espsim
espsim="$root/target/debug/espsim"
plugin_dir="$root/scripts/esptool_suite"

summary=()
status=0
for chip in "${chips[@]}"; do
  run="$work/run-$chip"
  rm -rf "$run"
  mkdir -p "$run"
  # The tests write next to themselves (config files, dumps): a fresh copy per chip.
  cp -r "$source_dir/test" "$run/test"
  "$espsim" --chip "$chip" --link-dir "$run/links" >"$run/espsim.out" 2>&1 &
  pid=$!
  for _ in $(seq 100); do grep -q READY "$run/espsim.out" 2>/dev/null && break; sleep 0.1; done
  set +e
  # PATH: TestOldScripts runs the deprecated esptool.py & co. the package installs.
  (cd "$run/test" &&
    PATH="$venv/bin:$PATH" ESPSIM_PID=$pid ESPTOOL_PY="$plugin_dir/esptool_espsim.py" PYTHONPATH="$plugin_dir" \
      timeout 3600 "$venv/bin/python" -m pytest test_esptool.py -p espsim_plugin -p no:cacheprovider \
      --chip "$chip" --port "$run/links/board0" --baud 115200 -q -rfE \
      --espsim-deselected "$run/deselected.txt" >"$run/pytest.log" 2>&1)
  rc=$?
  set -e
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  line="$(grep -E '^[0-9]+ (passed|failed)|^=+ .*(passed|failed).* =+$|[0-9]+ (passed|failed).* in [0-9.]+s' "$run/pytest.log" | tail -1)"
  count() { echo "$line" | grep -oE "[0-9]+ $1" | grep -oE '^[0-9]+' || echo 0; }
  summary+=("$(printf '%-9s passed %3s  failed %3s  skipped %3s  deselected %3s' "$chip" \
    "$(count passed)" "$(count failed)" "$(count skipped)" "$(count deselected)")")
  if [ "$rc" -ne 0 ]; then
    status=1
    grep -E '^(FAILED|ERROR) ' "$run/pytest.log" || tail -20 "$run/pytest.log"
  fi
  echo "$chip: deselected (test, reason):"
  sed 's/^/  /' "$run/deselected.txt"
done
echo "esptool $ESPTOOL_VERSION, test_esptool.py of esptool $ESPTOOL_SOURCE_VERSION ($source_dir), against espsim"
printf '%s\n' "${summary[@]}"
exit $status
