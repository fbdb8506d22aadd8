#!/usr/bin/env bash
# Fuzzes flashline's parsers of untrusted input with libFuzzer. Exits non-zero if any
# target crashes (panic, failed invariant, sanitizer report, leak, timeout or
# out-of-memory); the input that did it is saved under fuzz/artifacts/TARGET/ and the
# command that reproduces it is printed. See docs/FUZZING.md.
#
#   scripts/fuzz.sh --ci            # the short run CI makes: every target 10 s, seeds only
#   scripts/fuzz.sh 600             # the long run: 10 minutes per target
#   FUZZ_TARGETS="slip_decoder response_parser" scripts/fuzz.sh 600
#   scripts/fuzz.sh --repro slip_decoder fuzz/artifacts/slip_decoder/crash-...
#
# --ci fuzzes a temporary copy of the seed corpora and leaves fuzz/corpus alone. A long
# run (SECONDS) keeps what libFuzzer finds in fuzz/corpus/TARGET/ (local, gitignored), so
# repeated runs on one machine build on each other.
#
# Environment: FUZZ_TARGETS (names, space separated; default all), FUZZ_SANITIZER
# (address, the default, or none), FUZZ_JOBS (targets fuzzed at the same time; default:
# the number of CPUs, at most 2, with --ci, and 1 for a long run), FUZZ_CI_SECONDS (per
# target with --ci, default 10; 0 skips the --ci run), FUZZ_TARGET_DIR (build directory,
# default fuzz/target; CARGO_TARGET_DIR is not used, so the fuzzing build never mixes with
# the workspace's).
#
# No cargo-fuzz needed: the targets are built with plain cargo and the flags cargo-fuzz
# 0.13 passes to rustc (sanitizer-coverage instrumentation, --cfg fuzzing, debug
# assertions and overflow checks, -Zsanitizer=address). Some are nightly-only;
# RUSTC_BOOTSTRAP=1 lets the stable toolchain accept them. The binaries are libFuzzer
# executables run directly. `cargo fuzz run TARGET` (with RUSTC_BOOTSTRAP=1) still works
# for anyone who has cargo-fuzz installed.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"

usage() {
  echo "usage: scripts/fuzz.sh [SECONDS | --ci | --repro TARGET FILE...]" >&2
  exit 2
}

mode=long
seconds=10
repro_target=""
case "${1:-}" in
  --ci) mode=ci; seconds="${FUZZ_CI_SECONDS:-10}" ;;
  --repro)
    [ "$#" -ge 3 ] || usage
    mode=repro; repro_target="$2"; shift 2 ;;
  '') ;;
  -*) usage ;;
  *) seconds="$1" ;;
esac
case "$seconds" in
  '' | *[!0-9]*) usage ;;
esac
if [ "$mode" = ci ] && [ "$seconds" -eq 0 ]; then
  echo "fuzz: skipped (FUZZ_CI_SECONDS=0)"
  exit 0
fi

all_targets=(slip_decoder response_parser request_parser config_parser manifest_parser flasher_args_parser)
protocol_targets=" slip_decoder response_parser request_parser "
if [ "$mode" = repro ]; then
  targets=("$repro_target")
else
  read -r -a targets <<< "${FUZZ_TARGETS:-${all_targets[*]}}"
fi
for t in "${targets[@]}"; do
  case " ${all_targets[*]} " in
    *" $t "*) ;;
    *) echo "fuzz: unknown target $t (known: ${all_targets[*]})" >&2; exit 2 ;;
  esac
done

# libfuzzer-sys compiles libFuzzer's C++ source. Debian's Rust images have g++; install it
# if this machine lacks it, the way scripts/setup.sh installs its packages.
if ! command -v c++ >/dev/null 2>&1; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "fuzz: installing g++ (libFuzzer is C++)"
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends g++ >/dev/null
fi

export RUSTC_BOOTSTRAP=1
target_dir="${FUZZ_TARGET_DIR:-$root/fuzz/target}"
host="$(rustc -vV | sed -n 's/^host: //p')"

# The sanitizer the targets are built with: AddressSanitizer unless FUZZ_SANITIZER=none.
# Our crates have no unsafe code, but their dependencies do. With ASan, a cold build of
# all six targets takes about a quarter more CPU time than without (docs/FUZZING.md), and
# building the protocol targets with it and the file-format targets without would cost
# more than that: two builds of everything the targets share.
sanitizer="${FUZZ_SANITIZER:-address}"
case "$sanitizer" in
  address | none) ;;
  *) echo "fuzz: FUZZ_SANITIZER must be address or none" >&2; exit 2 ;;
esac

# The flags cargo-fuzz 0.13 gives rustc for `cargo fuzz build` (release mode with debug
# assertions, see its src/project.rs), plus 16 codegen units (cargo-fuzz's default is 1:
# a much longer build for a small gain in executions per second).
rustflags_for() {
  local flags="-Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4"
  flags+=" -Cllvm-args=-sanitizer-coverage-inline-8bit-counters"
  flags+=" -Cllvm-args=-sanitizer-coverage-pc-table"
  flags+=" -Cllvm-args=-sanitizer-coverage-trace-compares"
  flags+=" --cfg fuzzing -Cllvm-args=-simplifycfg-branch-fold-threshold=0"
  flags+=" -Cllvm-args=-sanitizer-coverage-stack-depth -Cdebug-assertions -Ccodegen-units=16"
  [ "$1" = none ] || flags+=" -Zsanitizer=$1"
  echo "$flags"
}

# Builds the given targets with sanitizer $1 in $target_dir/$1 (one directory per
# flag set, so that switching does not rebuild everything).
build() {
  local san="$1" t features=(--no-default-features)
  shift
  local bins=()
  for t in "$@"; do
    bins+=(--bin "$t")
    # The file-format targets need the `flashline` crate and its whole dependency tree;
    # the protocol targets alone build without it (a much shorter build).
    case "$protocol_targets" in
      *" $t "*) ;;
      *) features=() ;;
    esac
  done
  # --target: RUSTFLAGS then apply to the targets' code only, not to build scripts and
  # proc macros (as cargo-fuzz does). --locked: fuzz/Cargo.lock is committed.
  env -u CARGO_TARGET_DIR RUSTFLAGS="$(rustflags_for "$san")" \
    cargo build --locked --release --manifest-path fuzz/Cargo.toml --target "$host" \
    --target-dir "$target_dir/$san" --config 'profile.release.debug="line-tables-only"' \
    "${features[@]}" "${bins[@]}"
}

binary_for() {
  echo "$target_dir/$sanitizer/$host/release/$1"
}

# cargo-fuzz's default for ASan; LSan stays on (a leak is a crash).
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_odr_violation=0"

start=$SECONDS
build "$sanitizer" "${targets[@]}"
echo "fuzz: build took $((SECONDS - start)) s"

if [ "$mode" = repro ]; then
  # Runs the target once on each file given (no fuzzing) and shows the panic or report.
  exec "$(binary_for "$repro_target")" "$@"
fi

# --- seed corpora: real frames and files ---------------------------------------------

# Writes the bytes given as hex tokens ("c0 01 0a") to the file $1.
bin() {
  local out="$1" h
  shift
  for h in "$@"; do printf "\\x$h"; done > "$out"
}
# Prints the hex token $1 $2 times.
rep() {
  local i
  for ((i = 0; i < $2; i++)); do printf '%s ' "$1"; done
}

# Writes the seed inputs (seed-*) of every target into $1/TARGET/.
seed_corpora() {
  local c="$1"
  mkdir -p "$c"/{slip_decoder,response_parser,request_parser,config_parser,manifest_parser,flasher_args_parser}

  # SLIP decoder input: [chunk seed, frame limit (0 = default), wire bytes...].
  # SYNC request as esptool sends it.
  bin $c/slip_decoder/seed-sync-request 01 00 c0 00 08 24 00 00 00 00 00 07 07 12 20 $(rep 55 32) c0
  # ESP32 boot log in download mode, then the ROM's SYNC reply.
  {
    printf '\x05\x00'
    printf 'ets Jun  8 2016 00:22:57\r\n\r\nrst:0x1 (POWERON_RESET),boot:0x3 (DOWNLOAD_BOOT(UART0/UART1/SDIO_REI_REO_V2))\r\nwaiting for download\r\n'
    printf '\xc0\x01\x08\x04\x00\x07\x07\x12\x20\x00\x00\x00\x00\xc0'
  } > $c/slip_decoder/seed-bootlog-sync-reply
  # READ_REG reply whose value needs both escapes.
  bin $c/slip_decoder/seed-escapes 02 00 c0 01 0a 04 00 db dc db dd 00 00 00 00 00 00 c0
  # A bad escape, an oversize frame (limit 8) and a good frame after them.
  bin $c/slip_decoder/seed-bad-escape-oversize 07 08 c0 01 db 01 02 c0 c0 $(rep 11 12) c0 c0 09 c0

  # Response frames (unescaped): header 01 op size value, then data and status.
  local r=$c/response_parser
  bin $r/seed-rom-read-reg 01 0a 04 00 83 1d f0 00 00 00 00 00
  bin $r/seed-rom-sync 01 08 04 00 07 07 12 20 00 00 00 00
  bin $r/seed-stub-sync 01 08 02 00 00 00 00 00 00 00
  bin $r/seed-stub-md5 01 13 12 00 00 00 00 00 73 e8 01 02 03 04 05 06 07 08 09 0a 0b 0c 0d ff 00 00
  {
    printf '\x01\x13\x24\x00\x00\x00\x00\x00'
    printf '73e80102030405060708090a0b0c0dff'
    printf '\x00\x00\x00\x00'
  } > $r/seed-rom-md5
  bin $r/seed-rom-error 01 02 04 00 00 00 00 00 01 05 00 00
  bin $r/seed-stub-error 01 03 02 00 00 00 00 00 c1 00
  bin $r/seed-security-info-long 01 14 18 00 00 00 00 00 $(rep 00 5) 01 02 03 04 05 06 07 09 00 00 00 02 00 00 00 00 00 00 00
  bin $r/seed-security-info-short 01 14 10 00 00 00 00 00 $(rep 00 12) 00 00 00 00
  bin $r/seed-read-flash-slow 01 0e 44 00 40 00 00 00 e9 03 02 20 $(rep ff 60) 00 00 00 00

  # Request packets (unescaped): header 00 op size checksum, then data.
  local q=$c/request_parser
  bin $q/seed-sync 00 08 24 00 00 00 00 00 07 07 12 20 $(rep 55 32)
  bin $q/seed-read-reg 00 0a 04 00 00 00 00 00 00 10 00 40
  bin $q/seed-write-reg 00 09 10 00 00 00 00 00 00 00 00 60 01 00 00 00 ff ff ff ff 00 00 00 00
  bin $q/seed-flash-begin 00 02 10 00 00 00 00 00 00 10 00 00 01 00 00 00 00 04 00 00 00 10 00 00
  bin $q/seed-defl-begin-encrypted 00 10 14 00 00 00 00 00 00 10 00 00 01 00 00 00 00 04 00 00 00 10 00 00 00 00 00 00
  bin $q/seed-defl-data 00 11 13 00 ef 00 00 00 03 00 00 00 00 00 00 00 $(rep 00 8) 01 02 03
  bin $q/seed-mem-end 00 06 08 00 00 00 00 00 00 00 00 00 00 00 08 40
  bin $q/seed-spi-attach-rom 00 0d 08 00 00 00 00 00 00 00 00 00 00 00 00 00
  bin $q/seed-spi-set-params 00 0b 18 00 00 00 00 00 00 00 00 00 00 00 40 00 00 00 01 00 00 10 00 00 00 01 00 00 ff ff 00 00
  bin $q/seed-change-baud 00 0f 08 00 00 00 00 00 00 10 0e 00 00 c2 01 00
  bin $q/seed-md5 00 13 10 00 00 00 00 00 00 00 00 00 00 10 00 00 00 00 00 00 00 00 00 00
  bin $q/seed-read-flash 00 d2 10 00 00 00 00 00 00 00 00 00 00 10 00 00 00 10 00 00 40 00 00 00

  # Text inputs: the reference config and the documented formats.
  cp config/flashline.toml $c/config_parser/seed-flashline.toml
  cat > $c/config_parser/seed-minimal.toml <<'EOF'
station = "s1"
[image]
flasher_args = "build/flasher_args.json"
chip = "ESP32-S3"
[flash]
baud_fallback = [460800]
reset = "no-reset"
[slots]
X = "/devices/pci0000:00/0000:00:14.0/usb1/1-2/1-2.3"
EOF
  cat > $c/manifest_parser/seed-manifest.toml <<'EOF'
format = 1
chip = "esp32"
flash_size = "4MB"

[capture]
source_mac = "24:0a:c4:12:34:56"
date = "2026-11-22T01:02:03Z"
read_length = "4MB"

[[region]]
offset = "0x1000"
file = "bootloader.bin"
sha256 = "1b045c75f74b6425888da62284cb52a484ad4199300e9cbba17793fccfcadc98"
length = 26352

[[region]]
offset = 65536
file = "app.bin"
EOF
  cat > $c/flasher_args_parser/seed-flasher_args.json <<'EOF'
{
    "write_flash_args" : [ "--flash_mode", "dio", "--flash_size", "4MB", "--flash_freq", "40m" ],
    "flash_settings" : { "flash_mode": "dio", "flash_size": "4MB", "flash_freq": "40m" },
    "flash_files" : {
        "0x1000" : "bootloader/bootloader.bin",
        "0x8000" : "partition_table/partition-table.bin",
        "0x10000" : "app.bin"
    },
    "bootloader" : { "offset" : "0x1000", "file" : "bootloader/bootloader.bin", "encrypted" : "false" },
    "app" : { "offset" : "0x10000", "file" : "app.bin", "encrypted" : "false" },
    "extra_esptool_args" : { "after" : "hard_reset", "before" : "default_reset", "stub" : true, "chip" : "esp32" }
}
EOF
}

dict_for() {
  case "$1" in
    config_parser) echo fuzz/dict/config.dict ;;
    manifest_parser) echo fuzz/dict/manifest.dict ;;
    flasher_args_parser) echo fuzz/dict/flasher_args.dict ;;
  esac
}

# --- fuzzing ---------------------------------------------------------------------------

work="$(mktemp -d "${TMPDIR:-/tmp}/flashline-fuzz.XXXXXX")"
trap 'rm -rf "$work"' EXIT
if [ "$mode" = ci ]; then
  corpus_root="$work/corpus"
  jobs="${FUZZ_JOBS:-$(nproc)}"
  [ -n "${FUZZ_JOBS:-}" ] || [ "$jobs" -le 2 ] || jobs=2
else
  corpus_root=fuzz/corpus
  jobs="${FUZZ_JOBS:-1}"
fi
seed_corpora "$corpus_root"

# Fuzzes target $1 for $seconds; its output goes to $work/$1.log (and the terminal when
# the targets run one at a time), its exit status to $work/$1.rc.
fuzz_one() {
  local t="$1" dict rc=0 t0=$SECONDS
  local args=(-max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1
    -artifact_prefix="fuzz/artifacts/$t/")
  dict="$(dict_for "$t")"
  [ -z "$dict" ] || args+=(-dict="$dict")
  mkdir -p "fuzz/artifacts/$t"
  if [ "$jobs" -eq 1 ]; then
    "$(binary_for "$t")" "${args[@]}" "$corpus_root/$t" 2>&1 | tee "$work/$t.log" || rc=$?
  else
    "$(binary_for "$t")" "${args[@]}" "$corpus_root/$t" > "$work/$t.log" 2>&1 || rc=$?
  fi
  echo "$rc" > "$work/$t.rc"
  echo "$((SECONDS - t0))" > "$work/$t.time"
}

# The artifacts present before the run, to report only the new ones.
for t in "${targets[@]}"; do
  mkdir -p "fuzz/artifacts/$t"
  ls -1 "fuzz/artifacts/$t" > "$work/$t.before"
done

run_start=$SECONDS
echo "fuzz: ${targets[*]}: ${seconds} s each, $jobs at a time, sanitizer: $sanitizer"
for t in "${targets[@]}"; do
  while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do wait -n || true; done
  fuzz_one "$t" &
done
wait

failed=()
for t in "${targets[@]}"; do
  rc="$(cat "$work/$t.rc")"
  stats="$(grep -E '^stat::(number_of_executed_units|average_exec_per_sec|peak_rss_mb):' "$work/$t.log" |
    sed 's/^stat:://' | tr -s ' \n' ' ' || true)"
  cov="$(grep -Eo 'cov: [0-9]+ ft: [0-9]+ corp: [0-9]+/[0-9]+[a-zA-Z]*' "$work/$t.log" | tail -n 1 || true)"
  if [ "$rc" -eq 0 ]; then
    echo "fuzz: $t ok in $(cat "$work/$t.time") s: ${cov:-?}; ${stats:-no stats}"
    continue
  fi
  failed+=("$t")
  if [ "$jobs" -gt 1 ]; then
    # The report: from the panic message or sanitizer/libFuzzer error to the end (at most
    # 200 lines), or the last 60 lines if there is no such marker.
    echo "fuzz: ---- $t output ----" >&2
    awk '!s && /panicked at|ERROR: |==ERROR|^SUMMARY:/ { s = NR }
         { line[NR] = $0 }
         END {
           if (!s) s = NR > 60 ? NR - 59 : 1
           n = 0
           for (i = s; i <= NR; i++) {
             if (++n > 200 && i <= NR - 12) { if (!cut) print "[...]"; cut = 1; continue }
             print line[i]
           }
         }' "$work/$t.log" >&2
    echo "fuzz: ---- end of $t output ----" >&2
  fi
  echo "fuzz: $t FAILED (exit status $rc) after $(cat "$work/$t.time") s" >&2
  new="$(ls -1 "fuzz/artifacts/$t" | grep -vxF -f "$work/$t.before" || true)"
  if [ -n "$new" ]; then
    for a in $new; do
      echo "fuzz:   input: fuzz/artifacts/$t/$a" >&2
      echo "fuzz:   reproduce: scripts/fuzz.sh --repro $t fuzz/artifacts/$t/$a" >&2
    done
  else
    echo "fuzz:   no input saved (see the output above)" >&2
  fi
done

echo "fuzz: fuzzing took $((SECONDS - run_start)) s, $((SECONDS - start)) s in all"
if [ "${#failed[@]}" -gt 0 ]; then
  echo "fuzz: crashes in: ${failed[*]}" >&2
  exit 1
fi
echo "fuzz: no crashes"
