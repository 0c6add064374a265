#!/bin/bash
# The README's two commands on a fresh Debian bookworm: a minimal
# debootstrapped chroot with only git and make added, a clean clone of this
# repository at REV, then COMMAND (default: the load test). Not part of
# `make test` (it downloads hundreds of MB); run it before resolving a change
# to what the project installs.
#   tests/fresh/check.sh [REV] [COMMAND...]
#   tests/fresh/check.sh HEAD make notifier-load-test TEST_COUNT=1000
#   tests/fresh/check.sh HEAD make test
# Prints how long the installs and the command took and how much apt
# installed. Needs root. FRESH_BASE caches the pristine chroot as a tarball
# (default /var/tmp/nprof-fresh-base.tar).
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
rev=${1:-HEAD}
shift || true
[ $# -gt 0 ] || set -- make notifier-load-test TEST_COUNT=1000
[ "$(id -u)" = 0 ] || { echo "fresh: needs root (debootstrap, chroot)" >&2; exit 2; }
command -v debootstrap >/dev/null || { apt-get update -qq && apt-get install -y -qq debootstrap; }
base=${FRESH_BASE:-/var/tmp/nprof-fresh-base.tar}
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
if [ ! -s "$base" ]; then
  tmp=$(mktemp -d /var/tmp/nprof-fresh-mk.XXXXXX)
  echo "fresh: debootstrap --variant=minbase bookworm (once; cached in $base)"
  debootstrap --variant=minbase --include=git,make,ca-certificates bookworm "$tmp" "$mirror" >"$tmp.log" 2>&1 ||
    { tail -20 "$tmp.log" >&2; exit 1; }
  tar -C "$tmp" -cf "$base.part" . && mv "$base.part" "$base"
  rm -rf "$tmp" "$tmp.log"
fi
root=$(mktemp -d /var/tmp/nprof-fresh.XXXXXX)
cleanup() {
  for m in dev/pts dev proc sys; do umount -l "$root/$m" 2>/dev/null || true; done
  # Anything the command left running inside the chroot.
  for p in /proc/[0-9]*; do
    [ "$(readlink "$p/root" 2>/dev/null)" = "$root" ] && kill -9 "${p#/proc/}" 2>/dev/null || true
  done
  rm -rf "$root"
}
trap cleanup EXIT
tar -C "$root" -xf "$base"
cp /etc/resolv.conf "$root/etc/resolv.conf"
# debootstrap writes no /etc/hosts (Debian's installer does, as docker
# does in a container): without it "localhost" does not resolve.
[ -e "$root/etc/hosts" ] || printf '127.0.0.1\tlocalhost\n::1\t\tlocalhost ip6-localhost ip6-loopback\n' >"$root/etc/hosts"
for m in proc sys dev dev/pts; do mount --bind "/$m" "$root/$m"; done
git -C "$repo" bundle create "$root/repo.bundle" "$rev" --quiet 2>/dev/null ||
  git -C "$repo" bundle create "$root/repo.bundle" HEAD
commit=$(git -C "$repo" rev-parse "$rev")
before=$(chroot "$root" dpkg-query -W -f '${Installed-Size}\n' | awk '{s+=$1} END {print s}')
npkg_before=$(chroot "$root" dpkg-query -W -f '.\n' | wc -l)
start=$(date +%s)
set +e
chroot "$root" /bin/bash -c "cd / && git clone -q /repo.bundle /src && cd /src && git checkout -q $commit && $(printf '%q ' "$@")" 2>&1 |
  tee "$root.out" | grep -E '^deps:|^load-test:|^[0-9]+ users|passed|FAIL|Error' | cut -c1-300
rc=${PIPESTATUS[0]}
set -e
end=$(date +%s)
after=$(chroot "$root" dpkg-query -W -f '${Installed-Size}\n' | awk '{s+=$1} END {print s}')
npkg_after=$(chroot "$root" dpkg-query -W -f '.\n' | wc -l)
deps_s=$(grep -o 'deps: done in [0-9]*s' "$root.out" | grep -o '[0-9]*' | paste -sd+ | bc 2>/dev/null || echo "?")
echo "fresh: $* at ${commit:0:10}: exit $rc after $((end - start))s;" \
  "apt installed $((npkg_after - npkg_before)) packages, $(((after - before) / 1024)) MiB" \
  "(deps.sh's own timing: ${deps_s:-?}s)"
mv "$root.out" "/var/tmp/nprof-fresh-last.log"
exit $rc
