# The one place the workflow's knobs become loadgen flags (sourced): the
# native run (scripts/load-test.sh), its shards, their compose services and
# the Kubernetes Job (scripts/shards.sh k8s) all take their flags from here, so
# a shard in a pod runs exactly what a shard on this machine runs.
#   loadgen_knob_args notifier|service   fills the array `args` (and TARGET)
# The loadgen judges the values (`loadgen --check`); this only spells them.

# A knob given (not empty) becomes its flag.
flag() { # FLAG VALUE
  if [ -n "$2" ]; then args+=("$1" "$2"); fi
}
switch() { # FLAG VALUE: a switch knob (1, yes, true)
  case "${2,,}" in
    ""|0|no|false) ;;
    1|yes|true) args+=("$1") ;;
    *) die "${1#--}: expected 1 or 0, not '$2'" ;;
  esac
}

# The flags of WHAT's users: the notifier's preset, or any service's.
# TARGET for the notifier is 127.0.0.1:$GRPC_PORT (callers that reach it
# elsewhere replace --target).
loadgen_knob_args() {
  args=()
  flag --streams "${TEST_COUNT:-1000}"
  flag --streams-per-conn "${STREAMS_PER_CONN:-}"
  flag --rate "${RATE:-}"
  flag --hold "${HOLD:-}"
  flag --threads "${LOADGEN_THREADS:-}"
  flag --publish "${PUBLISH:-}"
  flag --shard-timeout "${SHARD_TIMEOUT:-}"
  case "$1" in
    notifier)
      TARGET=127.0.0.1:${GRPC_PORT:-50051}
      args+=(--target "$TARGET" --users-var notifier.users)
      ;;
    service)
      [ -n "${TARGET:-}" ] || die "TARGET=HOST:PORT is needed (the gRPC address of your service)"
      [ -n "${CALL:-}" ] || die "CALL=PKG.SERVICE/METHOD is needed (with PROTO=FILE, or PROTOSET=FILE)"
      args+=(--target "$TARGET" --call "$CALL")
      flag --proto "${PROTO:-}"
      flag --protoset "${PROTOSET:-}"
      flag --import-path "${IMPORT_PATH:-}"
      flag --data "${DATA:-}"
      flag --data-file "${DATA_FILE:-}"
      flag --rps "${RPS:-}"
      flag --duration "${DURATION:-}"
      flag --concurrency "${CONCURRENCY:-}"
      flag --max-errors "${MAX_ERRORS:-}"
      flag --latency-field "${LATENCY_FIELD:-}"
      flag --users-var "${USERS_VAR:-}"
      ;;
    *) die "usage: scripts/load-test.sh notifier|service" ;;
  esac
  flag --headers "${HEADERS:-}"
  switch --tls "${TLS:-}"
  flag --cacert "${CACERT:-}"
  switch --insecure "${INSECURE:-}"
  flag --server-name "${SERVER_NAME:-}"
  if [ -n "${LOADGEN_ARGS:-}" ]; then
    # shellcheck disable=SC2206
    local extra=(${LOADGEN_ARGS})
    args+=("${extra[@]}")
  fi
}

# The same flags with --target's value replaced (a shard in a container
# reaches the service by its compose or Kubernetes name).
retarget() { # NEW_TARGET: args -> args
  local out=() i
  for ((i = 0; i < ${#args[@]}; i++)); do
    if [ "${args[i]}" = --target ]; then
      out+=(--target "$1")
      i=$((i + 1))
    else
      out+=("${args[i]}")
    fi
  done
  args=("${out[@]}")
}

# SHARDS: how many loadgen processes share the run (1: one, as always).
shard_count() {
  local k=${SHARDS:-1}
  [[ "$k" =~ ^[0-9]+$ ]] && ((k >= 1 && k <= 1000)) ||
    die "SHARDS=$k: expected 1..1000 loadgen processes"
  echo $((10#$k))
}

# A string as YAML (and JSON) writes it: double-quoted, escaped.
yaml_str() {
  local s=$1
  s=${s//\\/\\\\}
  s=${s//\"/\\\"}
  s=${s//$'\n'/\\n}
  s=${s//$'\t'/\\t}
  s=${s//$'\r'/\\r}
  if [[ "$s" =~ [[:cntrl:]] ]]; then
    die "a knob holds a control character that a manifest cannot carry"
  fi
  printf '"%s"' "$s"
}

# The words as a YAML flow sequence (also a JSON array).
yaml_list() {
  local out="" w
  for w in "$@"; do out+="${out:+, }$(yaml_str "$w")"; done
  printf '[%s]' "$out"
}
