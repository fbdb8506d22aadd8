#!/usr/bin/env bash
# Replays the real-hardware calibration runs (T3, T5, T6 of the timing notes: legacy stub,
# default compression, one file) against espsim with --timing realistic and prints what
# esptool measures next to the real value. Use it after changing TimingModel defaults.
#
#   scripts/calibrate-espsim.sh            # all scenarios
#   scripts/calibrate-espsim.sh T3         # one scenario
#
# Test images are generated to the real sizes and (±3 %) the real zlib-9 compressed sizes.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
"$root/scripts/setup-esptool.sh" >/dev/null
esptool="$root/.venv/bin/esptool"
target="${CARGO_TARGET_DIR:-$root/target}"
cargo build --quiet --manifest-path "$root/Cargo.toml" -p flashline-sim --bin espsim
espsim="$target/debug/espsim"
work="$(mktemp -d)"
sim_pid=""
cleanup() {
  if [ -n "$sim_pid" ]; then kill "$sim_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

# name chip baud offset size compressed real_seconds
scenarios=(
  "T3 esp32 921600 0x10000 1851472 1063799 17.6"
  "T5 esp32 1500000 0x10000 1079232 687982 10.0"
  "T6a esp8266 115200 0x0 950272 656268 57.6"
  "T6b esp8266 460800 0x0 604872 394893 9.0"
)

gen() { # size compressed out
  python3 - "$1" "$2" "$3" <<'EOF'
import random, sys, zlib
size, target, out = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
def make(p):
    rnd = random.Random(42)
    buf = bytearray()
    while len(buf) < size:
        k = rnd.randint(64, 1024)
        if rnd.random() < p:
            buf += rnd.randbytes(k)
        else:
            buf += bytes(rnd.choice([b"\x00\x01\x02\x03", b"abcdefgh", b"\xff" * 4])) * (k // 4)
    return bytes(buf[:size])
lo, hi = 0.0, 1.0
for _ in range(14):
    p = (lo + hi) / 2
    d = make(p)
    c = len(zlib.compress(d, 9))
    if abs(c - target) / target < 0.03:
        break
    lo, hi = (p, hi) if c < target else (lo, p)
open(out, "wb").write(d)
print(c)
EOF
}

for s in "${scenarios[@]}"; do
  read -r name chip baud offset size comp real <<<"$s"
  if [ $# -gt 0 ] && [ "$1" != "$name" ]; then continue; fi
  img="$work/$name.bin"
  got_comp=$(gen "$size" "$comp" "$img")
  "$espsim" --chip "$chip" --count 1 --link-dir "$work/links-$name" --timing realistic >"$work/$name.out" &
  sim_pid=$!
  for _ in $(seq 100); do grep -q READY "$work/$name.out" 2>/dev/null && break; sleep 0.1; done
  line=$("$esptool" --port "$work/links-$name/board0" --before no-reset --after no-reset --chip "$chip" \
    --stub-version 1 -b "$baud" write-flash "$offset" "$img" 2>&1 | grep -E "^Wrote" || true)
  kill "$sim_pid" 2>/dev/null || true
  wait "$sim_pid" 2>/dev/null || true
  sim_pid=""
  secs=$(sed -nE 's/.* in ([0-9.]+) seconds.*/\1/p' <<<"$line")
  printf '%-4s %-8s %8s baud  %8s bytes (%s compressed, real %s)  espsim %6s s  real %6s s\n' \
    "$name" "$chip" "$baud" "$size" "$got_comp" "$comp" "${secs:-?}" "$real"
done
