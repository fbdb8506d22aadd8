#!/usr/bin/env bash
# Replays the real-hardware calibration scenarios T1-T7 (timing notes, section 6) against
# espsim --timing realistic with the real esptool of the project venv and prints the table
# (scenario, real time, simulated time with the legacy and the new stub, ratio).
#
#   scripts/calibrate-espsim.sh            # all scenarios (T7 at 115200: ~6.5 min per row)
#   scripts/calibrate-espsim.sh --quick    # skip the slow T7 rows
#   scripts/calibrate-espsim.sh T3 T5      # only these scenarios
#
# Exit status 1 if a legacy-stub row is outside ±25 % of the real time.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
"$root/scripts/setup-esptool.sh" >/dev/null
exec "$root/.venv/bin/python" "$root/scripts/calibrate_espsim.py" "$@"
