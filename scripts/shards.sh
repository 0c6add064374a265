#!/bin/bash
# One load test, several loadgen processes: K shards (each its share of the
# users, `loadgen --shard-index I --shard-count K`, the index from
# JOB_COMPLETION_INDEX as a Kubernetes Indexed Job gives it) and one
# coordinator (`loadgen --coordinate`) that takes each snapshot once for the
# run, all keeping in step through the run folder; then `nprof merge` turns
# the shards' results into the run's loadgen.json.
#   scripts/shards.sh run RUN K -- LOADGEN_FLAGS...
#       the run in folder RUN (its name is the run id): natively, or with
#       DOCKER=1 as compose services next to the notifier, one service per
#       shard rendered into RUN/compose.shards.yml (compose gives replicas
#       no index of their own; each service carries its JOB_COMPLETION_INDEX).
#       DEBUG_URL (none: no snapshots), RUN_MODE and RUN_SERVICE are for the
#       coordinator's run.json. Exit 0 when the merged run met its goal.
#   scripts/shards.sh merge RUN
#       nprof merge of RUN's shard results (and coordinator.json) into
#       RUN/loadgen.json.
#   scripts/shards.sh k8s OUTDIR
#       the Kubernetes manifests for the workflow's knobs (make
#       k8s-manifests): deploy/kubernetes/'s templates filled in (the
#       notifier's Deployment and Service, the shards as an Indexed Job,
#       the coordinator, the volume they share).
# The loadgen's flags come from scripts/loadgen-args.sh, the one place the
# knobs become flags, whichever of the three runs them.
set -euo pipefail
cd "$(dirname "$0")/.."

LOADGEN=build/bin/loadgen
NPROF=build/bin/nprof
die() { printf 'shards: %s\n' "$*" >&2; exit 2; }
. scripts/loadgen-args.sh

pids=()
containers=()
cleanup() {
  local p
  for p in "${pids[@]+"${pids[@]}"}"; do kill "$p" 2>/dev/null || true; done
  for p in "${containers[@]+"${containers[@]}"}"; do
    docker rm -f "$p" >/dev/null 2>&1 || true
  done
}

# Waits for pid $1 through signals (Ctrl-C reaches the loadgens, which
# drain and report; this script must still merge). Its status in $waited.
wait_for() {
  while :; do
    waited=0
    wait "$1" || waited=$?
    kill -0 "$1" 2>/dev/null || return 0
  done
}

# The shards must end once the coordinator has: it waited for them (or
# declared them dead). A straggler gets 15 s, then is stopped.
wait_shards() {
  local p deadline=$((SECONDS + 15)) rc=0
  for p in "${shard_pids[@]}"; do
    while kill -0 "$p" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.2; done
    if kill -0 "$p" 2>/dev/null; then
      echo "shards: shard process $p did not end after the coordinator; stopping it" >&2
      kill "$p" 2>/dev/null || true
    fi
    wait_for "$p"
    ((waited == 0)) || rc=1
  done
  return $rc
}

merge() { # RUN
  local run=$1 files=("$1"/shard-[0-9]*.json) co=()
  [ -e "${files[0]}" ] || { echo "shards: no shard results in $run" >&2; return 1; }
  [ -s "$run/coordinator.json" ] && co=(--coordinator "$run/coordinator.json")
  "$NPROF" merge -o "$run/loadgen.json" "${co[@]}" "${files[@]}" || return 1
  grep -q '^  "ok": true,$' "$run/loadgen.json"
}

# One compose service per shard, and the coordinator: the same image and
# flags as the native run, each shard's index in its environment.
render_compose() { # FILE K
  local file=$1 k=$2 i
  {
    echo "# Rendered by scripts/shards.sh for run $run_id: $k loadgen shards and their"
    echo "# coordinator, next to the notifier of docker-compose.yml. Compose gives"
    echo "# replicas no index, so each shard is a service of its own with its"
    echo "# JOB_COMPLETION_INDEX, as a Kubernetes Indexed Job gives it."
    echo "services:"
    for ((i = -1; i < k; i++)); do
      if ((i < 0)); then
        echo "  loadgen-coordinator:"
      else
        echo "  loadgen-shard-$i:"
      fi
      echo "    image: nprof/loadgen:dev"
      echo "    profiles: [\"shards\"]"
      echo "    user: \"$(id -u):$(id -g)\""
      echo "    volumes:"
      echo "      - $(yaml_str "$PWD/snapshots:/snapshots")"
      echo "    ulimits:"
      echo "      nofile: {soft: 20000, hard: 20000}"
      if ((i < 0)); then
        echo "    command: $(yaml_list "${common[@]}" --coordinate "${coord[@]}")"
      else
        echo "    environment:"
        echo "      JOB_COMPLETION_INDEX: \"$i\""
        echo "    command: $(yaml_list "${common[@]}" --quiet)"
      fi
    done
  } >"$file"
}

run() { # RUN K -- FLAGS...
  run=$1 k=$2
  shift 2
  [ "${1:-}" = -- ] && shift
  args=("$@")
  run_id=$(basename "$run")
  trap cleanup EXIT
  local inside=$run
  coord=(--run-mode "${RUN_MODE:-external}")
  [ -n "${RUN_SERVICE:-}" ] && coord+=(--run-service "$RUN_SERVICE")
  if [ -n "${DOCKER:-}" ]; then
    [[ "$run" == snapshots/* ]] || die "the docker path writes under ./snapshots"
    inside=/snapshots/${run#snapshots/}
    retarget notifier:50051
    [ "${DEBUG_URL:-none}" != none ] &&
      coord+=(--snapshot-url http://notifier:8086 --debug-url "$DEBUG_URL")
  elif [ "${DEBUG_URL:-none}" != none ]; then
    coord+=(--snapshot-url "$DEBUG_URL" --debug-url "$DEBUG_URL")
  fi
  common=("${args[@]}" --shard-count "$k" --run-id "$run_id" --run-dir "$inside")
  mkdir -p "$run"
  # What every shard runs, for people and for the manifests' test.
  yaml_list "${common[@]}" >"$run/shard-args.json"

  local cpid i
  shard_pids=()
  if [ -n "${DOCKER:-}" ]; then
    local file=$run/compose.shards.yml
    render_compose "$file" "$k"
    local base build
    base=$(scripts/docker-base.sh --name)
    build=$(scripts/docker-base.sh --build-name)
    BASE_IMAGE=$base BUILD_IMAGE=$build scripts/compose.sh build loadgen >/dev/null ||
      die "building the loadgen's image failed (scripts/compose.sh build loadgen)"
    dc() { BASE_IMAGE=$base BUILD_IMAGE=$build scripts/compose.sh -f docker-compose.yml -f "$file" "$@"; }
    local name=nprof-$run_id
    containers+=("$name-coordinator")
    dc run --rm -T --no-deps --name "$name-coordinator" loadgen-coordinator &
    cpid=$!
    pids+=("$cpid")
    for ((i = 0; i < k; i++)); do
      containers+=("$name-shard-$i")
      dc run --rm -T --no-deps --name "$name-shard-$i" "loadgen-shard-$i" \
        >"$run/shard-$i.log" 2>&1 &
      shard_pids+=($!)
      pids+=($!)
    done
  else
    "$LOADGEN" "${common[@]}" --coordinate "${coord[@]}" &
    cpid=$!
    pids+=("$cpid")
    for ((i = 0; i < k; i++)); do
      JOB_COMPLETION_INDEX=$i "$LOADGEN" "${common[@]}" --quiet \
        >"$run/shard-$i.log" 2>&1 </dev/null &
      shard_pids+=($!)
      pids+=($!)
    done
  fi
  # Ctrl-C reaches every loadgen of the terminal's group; a signal sent to
  # this script alone ends the run the same way, through the coordinator,
  # which tells the shards to drain.
  trap 'kill -INT "$cpid" 2>/dev/null; echo "shards: interrupted: the shards drain, then the report" >&2' INT TERM
  wait_for "$cpid"
  local crc=$waited rc=0
  wait_shards || rc=1
  trap - INT TERM
  ((crc == 0)) || rc=1
  for ((i = 0; i < k; i++)); do
    grep -h '^result:' "$run/shard-$i.log" 2>/dev/null | sed "s/^/shard $i: /" || true
  done
  merge "$run" || rc=1
  return $rc
}

# ---- Kubernetes ----

# deploy/kubernetes/NAME.yaml with each ${KEY} of the pairs filled in, into
# OUT/AS.yaml. A placeholder left unfilled is this script's mistake.
fill() { # NAME AS KEY=VALUE...
  local text kv
  text=$(<"deploy/kubernetes/$1.yaml")
  # The value quoted: bash 5.2 reads an unquoted replacement as a pattern
  # ('&' is the match, '\' escapes), which knobs' text may hold.
  for kv in "${@:3}"; do text=${text//"\${${kv%%=*}}"/"${kv#*=}"}; done
  [[ "$text" != *'${'* ]] || die "deploy/kubernetes/$1.yaml: a placeholder left unfilled"
  printf '%s\n' "$text" >"$out/$2.yaml"
}

k8s() { # OUTDIR
  out=$1
  local k
  k=$(shard_count)
  loadgen_knob_args notifier
  local svc=${K8S_SERVICE:-notifier} reg=${K8S_IMAGE_REGISTRY:-}
  [ -n "$reg" ] && reg=${reg%/}/
  [[ "$svc" =~ ^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$ ]] || die "K8S_SERVICE=$svc: a DNS label"
  [[ "$reg" =~ ^[A-Za-z0-9./:_-]*$ ]] || die "K8S_IMAGE_REGISTRY=$reg: not an image registry path"
  local collect=${K8S_COLLECT:-volume}
  case "$collect" in volume|cp) ;; *) die "K8S_COLLECT=$collect: expected volume or cp" ;; esac
  local linger=${K8S_LINGER:-3600}
  [[ "$linger" =~ ^[0-9]+$ ]] || die "K8S_LINGER=$linger: seconds"
  run_id=${K8S_RUN_ID:-$(date -u +%Y%m%dT%H%M%SZ)-${TEST_COUNT:-1000}}
  [[ "$run_id" =~ ^[A-Za-z0-9._-]{1,64}$ ]] || die "K8S_RUN_ID=$run_id: letters, digits, '.', '_', '-'"
  local shard=(--shard-count "$k" --run-id "$run_id")
  if [ "$collect" = volume ]; then
    shard+=(--run-dir "/snapshots/$run_id")
  else
    [ -z "${PUBLISH:-}" ] || [ "${PUBLISH}" = 0 ] ||
      die "PUBLISH needs the coordinator, which needs the shared volume: K8S_COLLECT=volume"
  fi
  local coord=(--coordinate --snapshot-url "http://$svc:8086" --run-mode external
    --run-service "${reg}nprof/notifier:dev")
  retarget "$svc:50051"
  common=("${args[@]}" "${shard[@]}")
  # The loadgen judges the very flags of the manifests before anything is
  # written, all but what only the cluster knows (the Service's name, the
  # pods' open-file limits).
  "$LOADGEN" --check-flags "${common[@]}" --shard-index $((k - 1)) >/dev/null || exit 2
  if [ "$collect" = volume ]; then
    "$LOADGEN" --check-flags "${common[@]}" "${coord[@]}" >/dev/null || exit 2
  fi
  local n=${TEST_COUNT:-1000}
  local keys=(SERVICE="$svc" REGISTRY="$reg" RUN_ID="$run_id" SHARDS="$k" USERS="$n"
    MAX_STREAMS="$((n > 100000 ? n : 100000))" LINGER="$linger"
    SHARD_ARGS="$(yaml_list "${common[@]}" --quiet)"
    COORDINATOR_ARGS="$(yaml_list "${common[@]}" "${coord[@]}")")
  mkdir -p "$out"
  rm -f "$out"/*.yaml
  fill notifier notifier "${keys[@]}"
  if [ "$collect" = volume ]; then
    fill volume volume "${keys[@]}"
    fill coordinator coordinator "${keys[@]}"
    fill collector collector "${keys[@]}"
    fill loadgen loadgen "${keys[@]}"
  else
    fill loadgen-cp loadgen "${keys[@]}"
  fi
  echo "shards: Kubernetes manifests for run $run_id ($k shards, $n users, collect: $collect) in $out:"
  ls "$out"/*.yaml | sed 's/^/  /'
}

case "${1:-}" in
  run) shift; run "$@" ;;
  merge) merge "$2" ;;
  k8s) k8s "${2:-build/k8s}" ;;
  *) die "usage: scripts/shards.sh run RUN K -- FLAGS... | merge RUN | k8s OUTDIR" ;;
esac
