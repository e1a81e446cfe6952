#!/usr/bin/env bash
# Lint the protobuf APIs under proto/ with buf (config: proto/buf.yaml).
#
#   scripts/lint-protos.sh
#
# Installs @bufbuild/buf from npm into <repo>/.tools (cached; gitignored) and
# runs `buf lint` in proto/. Exits non-zero on compile or lint errors.
# Needs only node/npm. Overrides: BUF_VERSION, PROTO_DIR (a dir with a buf.yaml).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TOOLS="$ROOT/.tools"
PROTO_DIR="${PROTO_DIR:-$ROOT/proto}"
BUF_VERSION="${BUF_VERSION:-1.75.0}"
BUF_DIR="$TOOLS/buf-$BUF_VERSION"
BUF="$BUF_DIR/node_modules/.bin/buf"

die() { echo "lint-protos: ERROR: $*" >&2; exit 1; }

command -v npm >/dev/null 2>&1 || die "'npm' (node) is required but not installed"
[[ -f "$PROTO_DIR/buf.yaml" ]] || die "missing $PROTO_DIR/buf.yaml"

if [[ ! -x "$BUF" ]] || ! "$BUF" --version >/dev/null 2>&1; then
  echo "lint-protos: installing @bufbuild/buf@$BUF_VERSION into ${BUF_DIR#"$ROOT"/} ..." >&2
  mkdir -p "$BUF_DIR"
  # A package.json of its own keeps npm from walking up to another project.
  [[ -f "$BUF_DIR/package.json" ]] || echo '{"name":"kompass-tools-buf","private":true}' >"$BUF_DIR/package.json"
  # --ignore-scripts: the binary comes from the platform package
  # (@bufbuild/buf-<os>-<arch>); the postinstall step is only an optimisation.
  npm install --prefix "$BUF_DIR" --no-audit --no-fund --ignore-scripts --loglevel=error \
    "@bufbuild/buf@$BUF_VERSION" >/dev/null \
    || die "npm install @bufbuild/buf@$BUF_VERSION failed"
  "$BUF" --version >/dev/null 2>&1 || die "buf $BUF_VERSION does not run on this machine"
fi

# Keep buf's cache out of $HOME.
export BUF_CACHE_DIR="$TOOLS/buf-cache"

shopt -s globstar nullglob
protos=("$PROTO_DIR"/**/*.proto)
shopt -u globstar nullglob
if [[ ${#protos[@]} -eq 0 ]]; then
  echo "lint-protos: no .proto files under ${PROTO_DIR#"$ROOT"/}; nothing to lint"
  exit 0
fi

echo "lint-protos: buf $("$BUF" --version) lint on ${#protos[@]} file(s) in ${PROTO_DIR#"$ROOT"/}" >&2
status=0
(cd "$PROTO_DIR" && "$BUF" lint) || status=$?
if [[ $status -ne 0 ]]; then
  echo "lint-protos: FAILED (buf lint exit code $status)" >&2
  exit "$status"
fi
echo "lint-protos: OK (${#protos[@]} file(s), no lint errors)"
