#!/usr/bin/env bash
# Installs the flashline .deb on this machine, checks what the package promises
# (docs/PACKAGING.md), then purges it and checks it is gone. CI runs it from
# scripts/test.sh as root on a fresh machine.
#
#   scripts/deb-check.sh [FILE.deb]     (without FILE: scripts/package.sh builds one)
#
# Refuses to run where flashline is already installed or /var/lib/flashline exists: the
# purge at the end would delete that station's audit database.
set -uo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"

if [ "$(id -u)" -ne 0 ]; then
  echo "deb-check: needs root (dpkg -i, dpkg --purge); run it with sudo" >&2
  exit 2
fi
if dpkg-query -W -f='${Status}' flashline 2>/dev/null | grep -q "installed" || [ -e /var/lib/flashline ]; then
  echo "deb-check: flashline is installed here (or /var/lib/flashline exists); the check would purge it. Run it on a machine without a station." >&2
  exit 2
fi

deb="${1:-}"
if [ -z "$deb" ]; then
  deb="$(scripts/package.sh | tail -n 1)" || { echo "deb-check: scripts/package.sh failed" >&2; exit 1; }
fi
[ -f "$deb" ] || { echo "deb-check: no package at '$deb'" >&2; exit 1; }
deb_version="$(dpkg-deb -f "$deb" Version)"
version="${deb_version%-*}" # without the Debian revision: what `flashline --version` says

passed=0
failed=0
check() {
  local name="$1"
  shift
  local out
  if out="$("$@" 2>&1)"; then
    passed=$((passed + 1))
    echo "ok   $name"
  else
    failed=$((failed + 1))
    echo "FAIL $name"
    printf '%s\n' "$out" | tail -n 20 | sed 's/^/     /'
  fi
}

installs() { dpkg -i "$deb"; }
prints_version() { /usr/bin/flashline --version | grep -qx "flashline $version"; }
demo_runs() {
  local dir
  dir="$(mktemp -d)"
  (cd "$dir" && /usr/bin/flashline demo --boards 4 --timing off --interval-ms 20 --db "$dir/flashline-demo.db" </dev/null >demo.out 2>&1)
  local rc=$?
  cat "$dir/demo.out"
  [ $rc -eq 0 ] && [ -s "$dir/flashline-demo.db" ] && grep -q "4 passed, 0 unexpected" "$dir/demo.out"
  local ok=$?
  rm -rf "$dir"
  return $ok
}
user_and_group() {
  getent group flashline && getent passwd flashline \
    && [ "$(id -gn flashline)" = flashline ] \
    && [ "$(getent passwd flashline | cut -d: -f7)" = /usr/sbin/nologin ] \
    && [ "$(id -u flashline)" -lt 1000 ]
}
state_dir() { [ "$(stat -c '%U:%G %a' /var/lib/flashline)" = "flashline:flashline 750" ]; }
unit_installed() {
  grep -qx "Type=notify" /lib/systemd/system/flashline.service \
    && grep -q "^WatchdogSec=" /lib/systemd/system/flashline.service \
    && grep -q "^ExecStart=/usr/bin/flashline run" /lib/systemd/system/flashline.service \
    && { ! command -v systemd-analyze >/dev/null || systemd-analyze verify /lib/systemd/system/flashline.service; }
}
udev_rules_installed() { grep -q 'GROUP="flashline"' /lib/udev/rules.d/99-flashline.rules; }
config_is_conffile() {
  [ -f /etc/flashline/flashline.toml ] && dpkg-query -W -f='${Conffiles}' flashline | grep -q "/etc/flashline/flashline.toml"
}
docs_installed() {
  local f
  for f in /usr/share/man/man1/flashline.1.gz /usr/share/man/man1/flashline-run.1.gz \
    /usr/share/bash-completion/completions/flashline /usr/share/zsh/vendor-completions/_flashline \
    /usr/share/fish/vendor_completions.d/flashline.fish /usr/share/doc/flashline/copyright \
    /usr/share/doc/flashline/stubs/LICENSE-APACHE /usr/share/doc/flashline/stubs/LICENSE-MIT \
    /usr/share/doc/flashline/stubs/README.md; do
    [ -s "$f" ] || { echo "missing: $f"; return 1; }
  done
}
purge_keeps_an_audit_database() {
  # A station's audit record survives a purge, with the user that owns it.
  install -d -o flashline -g flashline -m 0750 /var/lib/flashline || return 1
  (cd /var/lib/flashline && runuser -u flashline -- /usr/bin/flashline demo --boards 1 --timing off \
    --interval-ms 20 --db /var/lib/flashline/audit.db </dev/null >/dev/null 2>&1)
  [ -s /var/lib/flashline/audit.db ] || { echo "no database was created"; return 1; }
  dpkg --purge flashline || return 1
  local ok=0
  [ -s /var/lib/flashline/audit.db ] || { echo "the purge deleted the audit database"; ok=1; }
  getent passwd flashline >/dev/null || { echo "the purge deleted the owner of the kept database"; ok=1; }
  [ ! -e /etc/flashline ] || { echo "left behind: /etc/flashline"; ok=1; }
  # Clean up by hand, as the purge's message tells an operator to.
  rm -rf /var/lib/flashline
  userdel flashline 2>/dev/null
  groupdel flashline 2>/dev/null
  return $ok
}
purge_removes_everything() {
  dpkg --purge flashline || return 1
  if dpkg-query -W -f='${Status}' flashline 2>/dev/null | grep -q "installed"; then echo "still installed"; return 1; fi
  local p
  for p in /usr/bin/flashline /etc/flashline /var/lib/flashline /lib/systemd/system/flashline.service \
    /lib/udev/rules.d/99-flashline.rules; do
    [ ! -e "$p" ] || { echo "left behind: $p"; return 1; }
  done
  ! getent passwd flashline && ! getent group flashline
}

check "dpkg -i $(basename "$deb")" installs
check "flashline --version is $version" prints_version
check "flashline demo --boards 4 --timing off" demo_runs
check "flashline system user and group" user_and_group
check "/var/lib/flashline is flashline:flashline 0750" state_dir
check "systemd unit (Type=notify, watchdog, systemd-analyze verify)" unit_installed
check "udev rules" udev_rules_installed
check "example config is a conffile" config_is_conffile
check "man pages, completions, licences" docs_installed
check "dpkg --purge keeps an audit database and its owner" purge_keeps_an_audit_database
check "dpkg -i again" installs
check "dpkg --purge removes package, empty state dir, user" purge_removes_everything

echo "deb: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
