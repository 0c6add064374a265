# The setting of the workflow tests that run `make local` on this machine
# (sourced after checks.sh, with a NAME): a folder of their own, TMP
# (/tmp/nprof-NAME.XXXXXX), holding the local state, the snapshots and HOME
# (go's caches and pprof's files too); a free DEBUG_PORT; and an exit trap
# that calls the script's workflow_stop (what it started itself), stops
# what `make local` started, kills anything still carrying TMP on its
# command line (started here and forgotten), and removes TMP.
#   . tests/lib/workflow.sh NAME
TMP=$(mktemp -d "/tmp/nprof-$1.XXXXXX")
export LOCAL_STATE=$TMP/state SNAPSHOT_ROOT=$TMP/snapshots
export DEBUG_PORT=$(free_port)
export HOME=$TMP GOCACHE=$TMP/gocache PPROF_TMPDIR=$TMP

workflow_stop() { :; } # a script redefines it for what it starts itself

workflow_cleanup() {
  local left
  workflow_stop
  scripts/local.sh down >/dev/null 2>&1
  left=$(pgrep -f -- "$TMP" | tr '\n' ' ')
  # shellcheck disable=SC2086
  [ -n "$left" ] && kill -9 $left 2>/dev/null
  rm -rf "$TMP"
}
trap workflow_cleanup EXIT
