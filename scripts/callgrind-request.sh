#!/usr/bin/env bash
# Instructions per request of the token server (or of examples/minimal), under callgrind:
#
#   cargo build --profile profiling -p agtoken-server --example serve --example minimal --example bench_jwts
#   scripts/callgrind-request.sh demo|key|rs256|es256|minimal OUT.cg
#   callgrind_annotate --inclusive=yes OUT.cg | head -60
#
# Runs BIN_DIR/serve (default target/profiling/examples; or minimal) under valgrind's callgrind
# on 127.0.0.1:PORT (18111), drives POST /fetch_rtc_token with wrk -t1 -c4 for DUR (15) s and
# prints the requests served; instructions per request = the program total / requests (start-up
# included, the same each time). demo: no configuration; key: an app with auth = "api_key" and a
# policy rule with a rate limit; rs256/es256: the same rule with auth = "jwt", 20,000 distinct
# JWTs from the bench_jwts example; minimal: examples/minimal. Counts are repeatable whatever
# else the machine does; SHA-256 runs in software under valgrind (no SHA-NI).
set -euo pipefail
mode=$1; out=$2
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
# shellcheck source=scripts/bench-lib.sh
. "$ROOT/scripts/bench-lib.sh"
BIN_DIR=$(realpath "${BIN_DIR:-$ROOT/target/profiling/examples}"); out=$(realpath -m "$out")
W=$(mktemp -d); cd "$W"
random_hex > certificate; chmod 600 certificate
KEY="agtk_bench_$(random_hex)"
HDR=""
case $mode in
    demo | minimal) ;;
    key)
        api_key_config "$KEY" > agtoken.toml
        HDR="wrk.headers[\"X-Api-Key\"] = \"$KEY\""
        ;;
    rs256 | es256)
        signed_jwts "$BIN_DIR/bench_jwts" "$mode" 20000 "$W" 1
        jwt_config > agtoken.toml
        HDR="$(jwt_lua "$W/tokens.txt")"
        ;;
    *) echo "mode must be demo, key, rs256, es256 or minimal" >&2; exit 2 ;;
esac
lua_scripts "$W" "$HDR"

PORT=${PORT:-18111}
case $mode in
  minimal) CMD="$BIN_DIR/minimal --port $PORT";;
  demo) CMD="$BIN_DIR/serve --host 127.0.0.1 --port $PORT";;
  *) CMD="$BIN_DIR/serve --host 127.0.0.1 --port $PORT --config agtoken.toml";;
esac
RUST_LOG=info valgrind --tool=callgrind --callgrind-out-file="$out" $CMD >/dev/null 2>"$W/err.log" &
P=$!
for _ in $(seq 1 100); do (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break; sleep 0.3; done; sleep 1
wrk -t1 -c4 -d"${DUR:-15}"s -s fetch.lua "http://127.0.0.1:$PORT/fetch_rtc_token" | grep -E "requests in|Non-2xx"
kill -TERM $P; wait $P || true
rm -rf "$W"
