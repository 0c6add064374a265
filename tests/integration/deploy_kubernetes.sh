#!/bin/bash
# The Kubernetes manifests (make k8s-manifests, scripts/shards.sh k8s) for
# several TEST_COUNT and SHARDS and both ways of collecting the shards'
# results. No cluster runs here: they are parsed with python3-yaml and
# checked for what a cluster would need and what the workflow promises:
# every object's required fields; the notifier a Deployment with libnprof
# in dev mode behind a ClusterIP Service, its debug port exposed nowhere
# else, NPROF_ALLOWED_HOSTS naming the Service; the loadgen an Indexed Job
# (parallelism = completions = SHARDS, never retried) whose shards share
# the users of TEST_COUNT and a volume (or wait for kubectl cp); the
# coordinator's Job with the same flags plus its own. (That the Job's flags
# are the native shards' is workflow_shards.sh's, against a real run.)
# Bad knobs are refused before anything is written.
set -uo pipefail
cd "$(dirname "$0")/../.."

. tests/lib/checks.sh
TMP=$(mktemp -d /tmp/nprof-k8s.XXXXXX)
trap 'rm -rf "$TMP"' EXIT

render() { # OUT KNOB=VALUE...
  local out=$1
  shift
  env "$@" scripts/shards.sh k8s "$out"
}

check() { # DIR COUNT SHARDS COLLECT
  /usr/bin/python3 - "$@" <<'PY'
import sys, yaml, glob, os
d, n, k, collect = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
docs = {}
for f in sorted(glob.glob(d + "/*.yaml")):
    for doc in yaml.safe_load_all(open(f)):
        assert doc["apiVersion"] and doc["kind"] and doc["metadata"]["name"], f
        docs[(doc["kind"], doc["metadata"]["name"])] = doc
want = {("Deployment", "notifier"), ("Service", "notifier"), ("Job", "nprof-loadgen")}
if collect == "volume":
    want |= {("Job", "nprof-coordinator"), ("PersistentVolumeClaim", "nprof-snapshots"),
             ("Pod", "nprof-collector")}
assert set(docs) == want, sorted(docs)

def env(c):
    return {e["name"]: e.get("value") for e in c.get("env", [])}

dep = docs[("Deployment", "notifier")]
sel = dep["spec"]["selector"]["matchLabels"]
tmpl = dep["spec"]["template"]
assert all(tmpl["metadata"]["labels"][k] == v for k, v in sel.items())
nc = tmpl["spec"]["containers"][0]
e = env(nc)
assert e["NOTIFIER_MODE"] == "dev"  # libnprof's endpoints on
assert "notifier" in e["NPROF_ALLOWED_HOSTS"].split(",")
names = [x["name"] for x in nc["env"]]
assert names.index("POD_NAMESPACE") < names.index("NPROF_ALLOWED_HOSTS")  # $(POD_NAMESPACE) resolves
assert int(e["NOTIFIER_MAX_STREAMS"]) >= n
assert {p["containerPort"] for p in nc["ports"]} == {50051, 8086}
assert not any("hostPort" in p for p in nc["ports"])  # nothing on the node
assert not tmpl["spec"].get("hostNetwork")
svc = docs[("Service", "notifier")]
assert svc["spec"]["type"] == "ClusterIP"  # never outside the cluster
assert svc["spec"]["selector"] == sel
assert all("nodePort" not in p for p in svc["spec"]["ports"])
assert {p["port"] for p in svc["spec"]["ports"]} == {50051, 8086}
assert not any(x["kind"] in ("Ingress",) or x.get("spec", {}).get("type") in ("NodePort", "LoadBalancer")
               for x in docs.values())

job = docs[("Job", "nprof-loadgen")]
js = job["spec"]
assert js["completionMode"] == "Indexed"
assert js["completions"] == js["parallelism"] == k
assert js["backoffLimit"] == 0  # a retried shard would hold its users twice
pod = js["template"]["spec"]
assert pod["restartPolicy"] == "Never"
c = pod["containers"][0]
assert c["image"].endswith("nprof/loadgen:dev")
a = c["args"]
def value(args, flag):
    v = [args[i + 1] for i in range(len(args) - 1) if args[i] == flag]
    assert len(v) == 1, (flag, args)
    return v[0]
assert value(a, "--streams") == str(n)  # every shard is told the whole run
assert value(a, "--shard-count") == str(k)
assert "--shard-index" not in a  # the index is JOB_COMPLETION_INDEX's
assert value(a, "--target") == "notifier:50051"
run_id = value(a, "--run-id")
assert job["metadata"]["labels"]["nprof/run-id"] == run_id
vols = {v["name"]: v for v in pod["volumes"]}
mounts = {m["name"]: m["mountPath"] for m in c["volumeMounts"]}
if collect == "volume":
    assert value(a, "--run-dir") == "/snapshots/" + run_id
    assert vols["snapshots"]["persistentVolumeClaim"]["claimName"] == "nprof-snapshots"
    assert mounts["snapshots"] == "/snapshots"
    pvc = docs[("PersistentVolumeClaim", "nprof-snapshots")]
    assert pvc["spec"]["accessModes"] == ["ReadWriteMany"]  # pods on any node
    co = docs[("Job", "nprof-coordinator")]["spec"]
    assert co.get("completionMode") != "Indexed" and co["backoffLimit"] == 0
    ca = co["template"]["spec"]["containers"][0]["args"]
    assert ca[:len(a) - 1] == a[:-1] and a[-1] == "--quiet", (ca, a)
    assert "--coordinate" in ca and value(ca, "--snapshot-url") == "http://notifier:8086"
    col = docs[("Pod", "nprof-collector")]["spec"]
    assert col["volumes"][0]["persistentVolumeClaim"]["claimName"] == "nprof-snapshots"
else:
    assert "--run-dir" not in a and "--coordinate" not in a
    cmd = c["command"]
    assert cmd[:2] == ["/bin/sh", "-c"] and "--json /out/shard-$JOB_COMPLETION_INDEX.json" in cmd[2]
    assert "$(" not in cmd[2]  # Kubernetes would expand it
    assert "emptyDir" in vols["out"] and mounts["out"] == "/out"
print("ok: %d users, %d shards, collect %s" % (n, k, collect))
PY
}

# The templates themselves are manifests a reader (and kubectl's parser)
# reads: their placeholders sit where a scalar may stand.
if /usr/bin/python3 -c '
import glob, yaml
files = sorted(glob.glob("deploy/kubernetes/*.yaml"))
assert len(files) == 6, files
for f in files:
    assert all(d["kind"] for d in yaml.safe_load_all(open(f))), f' >"$TMP/out" 2>&1; then
  ok "deploy/kubernetes/'s templates parse as YAML"
else bad "deploy/kubernetes/'s templates parse as YAML"; tail -5 "$TMP/out"; fi

for spec in "100 1 volume" "2000 4 volume" "200000 4 volume" "1000 7 cp" "50 2 cp"; do
  read -r n k collect <<<"$spec"
  out=$TMP/k8s-$n-$k-$collect
  if render "$out" TEST_COUNT=$n SHARDS=$k STREAMS_PER_CONN=100 HOLD=30s \
      K8S_COLLECT=$collect >"$TMP/out" 2>&1 && check "$out" "$n" "$k" "$collect" >>"$TMP/out" 2>&1; then
    ok "manifests: $n users over $k shards, collected by $collect"
  else
    bad "manifests: $n users over $k shards, collected by $collect"; tail -15 "$TMP/out"
  fi
done
# The pods' open-file limit is the cluster's, not this machine's (20,000):
# 50,000 connections a shard render, and the flags are still judged.
expect "1,000,000 users over 20 shards, one connection each (this machine's file limit is not the pods')" \
  render "$TMP/big" TEST_COUNT=1000000 SHARDS=20 STREAMS_PER_CONN=1
expect "a registry prefix and another Service name" render "$TMP/reg" TEST_COUNT=10 SHARDS=2 \
  K8S_IMAGE_REGISTRY=registry.example:5000/team K8S_SERVICE=notif K8S_RUN_ID=r-1
grep -q "image: registry.example:5000/team/nprof/loadgen:dev" "$TMP/reg/loadgen.yaml" &&
  grep -q '"--target", "notif:50051"' "$TMP/reg/loadgen.yaml" &&
  grep -q 'value: "notif,notif' "$TMP/reg/notifier.yaml" &&
  grep -q '"--run-id", "r-1"' "$TMP/reg/loadgen.yaml" &&
  ok "  ...in the images, the target, the allowed hosts, the run id" || bad "  ...registry and Service name"

# A knob's text reaches the manifests as it is: '&', '\' and '"' are not
# bash's replacement syntax nor broken YAML.
hdr='x-note: r&d say "hi" a\b'
if render "$TMP/text" TEST_COUNT=10 SHARDS=2 HEADERS="$hdr" >"$TMP/out" 2>&1 &&
  /usr/bin/python3 - "$TMP/text" "$hdr" <<'PY' >>"$TMP/out" 2>&1; then
import sys, yaml
d, hdr = sys.argv[1], sys.argv[2]
for f in ("loadgen", "coordinator"):
    a = yaml.safe_load(open("%s/%s.yaml" % (d, f)))["spec"]["template"]["spec"]["containers"][0]["args"]
    v = [a[i + 1] for i in range(len(a) - 1) if a[i] == "--headers"]
    assert v == [hdr], (f, v)
PY
  ok "a header value with '&', '\\' and '\"' reaches both Jobs' flags unchanged"
else bad "a header value with '&', '\\' and '\"' in the manifests"; tail -5 "$TMP/out"; fi

expect_fail "SHARDS=0 refused" "SHARDS=0: expected 1..1000" render "$TMP/bad" SHARDS=0
expect_fail "more shards than users refused" "fewer users than --shard-count 9" \
  render "$TMP/bad" TEST_COUNT=8 SHARDS=9
expect_fail "PUBLISH without the shared volume refused" "PUBLISH needs the coordinator" \
  render "$TMP/bad" SHARDS=2 PUBLISH=1 K8S_COLLECT=cp
expect_fail "K8S_COLLECT=ftp refused" "expected volume or cp" render "$TMP/bad" K8S_COLLECT=ftp
expect_fail "a bad HOLD refused, in the loadgen's words" "a duration is a number with a unit" \
  render "$TMP/bad" SHARDS=2 HOLD=5
expect_fail "a bad run id refused" "K8S_RUN_ID=a/b" render "$TMP/bad" K8S_RUN_ID=a/b
[ ! -e "$TMP/bad" ] || [ -z "$(ls "$TMP/bad")" ] && ok "  ...nothing written" || bad "  ...nothing written"
tally deploy_kubernetes
