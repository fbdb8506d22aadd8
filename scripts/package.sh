#!/usr/bin/env bash
# Builds the Debian package: target/debian/flashline_<version>_<arch>.deb (release build).
# Installs the pinned cargo-deb on first use. The completions and man pages are rendered
# by the release binary itself (`flashline generate`), so they always match its command
# line. Prints the path of the .deb on its last line. Extra arguments go to cargo-deb.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"

cargo_deb_version="3.8.0"
if ! cargo deb --version 2>/dev/null | grep -qF "$cargo_deb_version"; then
  echo "installing cargo-deb $cargo_deb_version (once per machine)"
  cargo install cargo-deb --version "$cargo_deb_version" --locked
fi

# FLASHLINE_DEB_PROFILE=dev packages the debug build instead (CI checks the packaging
# with the binary its tests already built; a line PC gets the release build).
profile="${FLASHLINE_DEB_PROFILE:-release}"
case "$profile" in
  release) profile_dir=release ;;
  dev) profile_dir=debug ;;
  *) echo "package.sh: FLASHLINE_DEB_PROFILE must be release or dev" >&2; exit 2 ;;
esac
target_dir="${CARGO_TARGET_DIR:-$root/target}"
cargo build --profile "$profile" -p flashline --bin flashline
assets="$target_dir/$profile_dir/flashline-assets"
rm -rf "$assets"
"$target_dir/$profile_dir/flashline" generate completions --out "$assets/completions" >/dev/null
"$target_dir/$profile_dir/flashline" generate man --out "$assets/man" >/dev/null
gzip -9n "$assets"/man/*.1

cargo deb -p flashline --no-build --profile "$profile" "$@"
