#!/bin/bash
# --target NAME:PORT where NAME resolves to several addresses, as
# "localhost" does on a Debian install (/etc/hosts lists ::1 and
# 127.0.0.1): the loadgen uses the first address that accepts a
# connection, as curl and Go's dialer do, rather than the first listed, so
# a service listening on 127.0.0.1 alone is reached by name. The names
# come from a hosts file of the test's own, bind-mounted over /etc/hosts
# in a mount namespace of the loadgen's own (unshare -m): this machine's
# /etc/hosts is never touched. A coordinator, which connects no users,
# still dials the target for --publish, and finds it the same way.
set -u
cd "$(dirname "$0")/../.."
. tests/loadgen/lib.sh
[ -x "$LOADGEN" ] || fail "$LOADGEN not built"
if ! unshare -m true 2>/dev/null; then
  echo "SKIP: unshare -m is not permitted here (needs root)"
  exit 0
fi
printf '127.0.0.1\tlocalhost\n::1\tdualhost\n127.0.0.1\tdualhost\n::1\tv6only\n' \
  >"$TMP/hosts"
# with_hosts CMD...: CMD with $TMP/hosts as /etc/hosts.
with_hosts() {
  unshare -m sh -c 'mount --bind "$0" /etc/hosts && exec "$@"' "$TMP/hosts" "$@"
}
with_hosts getent ahosts dualhost | grep -q '^::1' ||
  fail "the test's hosts file is not in effect: $(with_hosts getent ahosts dualhost | head -2)"

start_notifier || fail "build/bin/notifier not built"

note "dualhost lists ::1 first; the notifier listens on 127.0.0.1 only"
with_hosts timeout 60 "$LOADGEN" --target "dualhost:$NOTIFIER_GRPC" --streams 20 \
  --hold 200ms --settle 50ms --json "$TMP/a.json" --quiet >"$TMP/a.out" 2>&1
rc=$?
cat "$TMP/a.out"
[ $rc -eq 0 ] || fail "dualhost: exit $rc, want 0"
check_json "$TMP/a.json" 'j["streams_established"] == 20' \
  'sum(j["errors"].values()) == 0'

note "a coordinator's --publish dials the target too: the address that accepts"
with_hosts timeout 60 "$LOADGEN" --target "dualhost:$NOTIFIER_GRPC" --coordinate \
  --shard-count 1 --run-id r1 --run-dir "$TMP/r1" --streams 4 --publish 1 \
  --hold 300ms --settle 50ms --shard-timeout 5s --quiet >"$TMP/c.out" 2>&1 &
cpid=$!
PIDS+=($cpid)
with_hosts timeout 60 "$LOADGEN" --target "dualhost:$NOTIFIER_GRPC" --shard-index 0 \
  --shard-count 1 --run-id r1 --run-dir "$TMP/r1" --streams 4 --publish 1 \
  --hold 300ms --settle 50ms --shard-timeout 5s --quiet >"$TMP/s.out" 2>&1
src=$?
wait $cpid
crc=$?
cat "$TMP/c.out" "$TMP/s.out"
[ $crc -eq 0 ] && [ $src -eq 0 ] || fail "coordinated dualhost: exit $crc (coordinator), $src (shard), want 0"
check_json "$TMP/r1/coordinator.json" 'j["publish"]["ok"] == 1' \
  'j["publish"]["delivered_to_all"] == 1'

note "a name whose only address refuses: the run fails in bounded time, naming the target"
with_hosts timeout 60 "$LOADGEN" --target "v6only:$NOTIFIER_GRPC" --streams 2 \
  --hold 200ms --connect-timeout 2s --ramp-timeout 3s --quiet >"$TMP/b.out" 2>&1
rc=$?
cat "$TMP/b.out"
[ $rc -ne 0 ] && [ $rc -ne 124 ] || fail "v6only: exit $rc, want a failure of its own"
echo "PASS loadgen_resolve"
