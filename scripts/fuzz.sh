#!/usr/bin/env bash
# Fuzzes flashline's parsers of untrusted input with cargo-fuzz (libFuzzer): each target
# runs for SECONDS (default 10). Exits non-zero if any target crashes (panic, failed
# invariant, sanitizer report, leak, timeout or out-of-memory); the input that did it is
# saved under fuzz/artifacts/TARGET/. See docs/FUZZING.md.
#
#   scripts/fuzz.sh                 # short run, as CI does (about 10 s per target)
#   scripts/fuzz.sh 600             # the long run: 10 minutes per target
#   FUZZ_TARGETS="slip_decoder response_parser" scripts/fuzz.sh 600
#
# Environment: FUZZ_TARGETS (names, space separated; default all), FUZZ_SANITIZER
# (address, the default, or none), CARGO_TARGET_DIR (default fuzz/target).
#
# cargo-fuzz passes nightly-only flags (-Zsanitizer, -Cpasses=sancov-module) to rustc.
# RUSTC_BOOTSTRAP=1 lets the stable toolchain accept them; no nightly is needed.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"

seconds="${1:-10}"
case "$seconds" in
  '' | *[!0-9]*) echo "usage: scripts/fuzz.sh [SECONDS]" >&2; exit 2 ;;
esac
all_targets=(slip_decoder response_parser request_parser config_parser manifest_parser flasher_args_parser)
read -r -a targets <<< "${FUZZ_TARGETS:-${all_targets[*]}}"
export RUSTC_BOOTSTRAP=1

if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "installing cargo-fuzz"
  cargo install cargo-fuzz --locked
fi

# ASan is cheap insurance for the dependencies' unsafe code; our crates have none.
# --codegen-units 16 roughly halves the build time for a small loss in executions/s.
build_args=(--sanitizer "${FUZZ_SANITIZER:-address}" --codegen-units 16
  --target-dir "${CARGO_TARGET_DIR:-$root/fuzz/target}")
# The file-format targets need the `flashline` crate and its whole dependency tree; when
# only protocol targets are asked for, leave it out (a much shorter build).
case " ${targets[*]} " in
  *" config_parser "* | *" manifest_parser "* | *" flasher_args_parser "*) ;;
  *) build_args+=(--no-default-features) ;;
esac

# --- seed corpora: real frames and files, regenerated on every run -----------------------

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

seed_corpora() {
  local c=fuzz/corpus
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

seed_corpora

start=$SECONDS
cargo fuzz build "${build_args[@]}"
echo "fuzz: build took $((SECONDS - start)) s"

failed=()
for t in "${targets[@]}"; do
  echo "fuzz: $t for ${seconds} s"
  args=(-max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1)
  dict="$(dict_for "$t")"
  [ -z "$dict" ] || args+=(-dict="$dict")
  t0=$SECONDS
  if ! cargo fuzz run "${build_args[@]}" "$t" "fuzz/corpus/$t" -- "${args[@]}"; then
    failed+=("$t")
    echo "fuzz: $t FAILED; the input is in fuzz/artifacts/$t/ (reproduce: cargo fuzz run $t FILE)" >&2
  fi
  echo "fuzz: $t took $((SECONDS - t0)) s"
done

echo "fuzz: total $((SECONDS - start)) s"
if [ "${#failed[@]}" -gt 0 ]; then
  echo "fuzz: crashes in: ${failed[*]}" >&2
  exit 1
fi
echo "fuzz: no crashes"
