#!/usr/bin/env bash
# What each part of the demo-mode request path costs, natively: agtoken serve with parts of it
# taken out, one at a time and cumulatively, against examples/minimal (the floor of
# scripts/bench-server.sh), in interleaved rounds (scripts/interleave.py).
#
#   scripts/bench-ablation.sh            # ROUNDS=20 rounds of ROUND_SECONDS=2 s per server
#
# The parts are taken out by scripts/ablation.patch, applied to a throwaway worktree of HEAD and
# built there (release, into target/ablation: the first run builds every dependency once): the
# variable AGTOKEN_ABLATE=judge+edge skips the judging of built tokens (grants, maximum
# lifetime, and so the audit line and the issued count that need it) and the edge layer (CORS
# headers, metrics, request timeout). The audit line is taken out with RUST_LOG=warn. No build
# of the project has these switches. (Until commit 7de37bd the patch also took out hyper's
# header-read timer, which the server no longer uses.)
#
# Servers: minimal; serve (everything on); -audit; -audit -judge; -audit -judge -edge. Prints
# per server the median user/system µs per request and the median of the per-round ratio to
# minimal.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
ROUNDS="${ROUNDS:-20}"
ROUND_SECONDS="${ROUND_SECONDS:-2}"

if ! command -v wrk >/dev/null 2>&1; then
    echo "installing wrk (Debian package)…" >&2
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null
fi

WORK="$(mktemp -d)"
TREE="$WORK/tree"
cleanup() {
    git -C "$ROOT" worktree remove --force "$TREE" 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

git -C "$ROOT" worktree add --quiet --detach "$TREE" HEAD
git -C "$TREE" apply "$ROOT/scripts/ablation.patch"
echo "building the floor (release) and the ablation build (release, target/ablation)…" >&2
(cd "$ROOT" && cargo build --release -q -p agtoken-server --example minimal)
(cd "$TREE" && CARGO_TARGET_DIR="$ROOT/target/ablation" cargo build --release -q -p agtoken-server --example serve)
MINIMAL="$ROOT/target/release/examples/minimal"
SERVE="$ROOT/target/ablation/release/examples/serve --host 127.0.0.1 --port {port}"

python3 "$ROOT/scripts/interleave.py" "$ROUNDS" "$ROUND_SECONDS" \
    "minimal=$MINIMAL --port {port}" \
    "serve=$SERVE" \
    "-audit%RUST_LOG:warn=$SERVE" \
    "-judge%RUST_LOG:warn,AGTOKEN_ABLATE:judge=$SERVE" \
    "-edge%RUST_LOG:warn,AGTOKEN_ABLATE:judge+edge=$SERVE"
