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
BIN_DIR=$(realpath ${BIN_DIR:-target/profiling/examples}); out=$(realpath -m $out)
W=$(mktemp -d); cd $W
random_hex() { od -An -N16 -tx1 /dev/urandom | tr -d ' \n'; }
random_hex > certificate; chmod 600 certificate
KEY="agtk_bench_$(random_hex)"
if [[ $mode == demo || $mode == minimal ]]; then
: > agtoken.toml; HDR=""
elif [[ $mode == key ]]; then
cat > agtoken.toml <<T
[[apps]]
app_id = "$(random_hex)"
app_certificate_file = "certificate"
auth = "api_key"
[[apps.api_keys]]
name = "bench"
sha256 = "$(printf %s "$KEY" | sha256sum | cut -d' ' -f1)"
[[apps.policy]]
name = "bench"
api_keys = ["bench"]
services = ["rtc"]
channels = ["bench"]
rate_limit = "1000000/s"
T
HDR="wrk.headers[\"X-Api-Key\"] = \"$KEY\""
else
if [[ $mode == rs256 ]]; then openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out idp.key 2>/dev/null
else openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out idp.key 2>/dev/null; fi
$BIN_DIR/bench_jwts $mode idp.key 20000 $W 1
cat > agtoken.toml <<T
[[apps]]
app_id = "$(random_hex)"
app_certificate_file = "certificate"
auth = "jwt"
[apps.jwt]
issuer = "https://bench.invalid/"
audience = "agtoken-bench"
jwks_file = "jwks.json"
[[apps.policy]]
name = "bench"
claims = { scope = "agtoken" }
services = ["rtc"]
channels = ["bench"]
rate_limit = "1000000/s"
T
HDR="local tokens = {}
for line in io.lines(\"$W/tokens.txt\") do tokens[#tokens + 1] = \"Bearer \" .. line end
local next_token = 0
request = function()
    next_token = next_token % #tokens + 1
    wrk.headers[\"Authorization\"] = tokens[next_token]
    return wrk.format()
end"
fi
cat > fetch.lua <<T
wrk.method = "POST"
wrk.body   = '{"uid":1234,"ChannelName":"bench","role":1}'
wrk.headers["Content-Type"] = "application/json"
$HDR
T

PORT=${PORT:-18111}
case $mode in
  minimal) CMD="$BIN_DIR/minimal --port $PORT";;
  demo) CMD="$BIN_DIR/serve --host 127.0.0.1 --port $PORT";;
  *) CMD="$BIN_DIR/serve --host 127.0.0.1 --port $PORT --config agtoken.toml";;
esac
RUST_LOG=info valgrind --tool=callgrind --callgrind-out-file=$out $CMD >/dev/null 2>$W/err.log &
P=$!
for i in $(seq 1 100); do (exec 3<>/dev/tcp/127.0.0.1/$PORT) 2>/dev/null && break; sleep 0.3; done; sleep 1
wrk -t1 -c4 -d${DUR:-15}s -s fetch.lua http://127.0.0.1:$PORT/fetch_rtc_token | grep -E "requests in|Non-2xx"
kill -TERM $P; wait $P || true
rm -rf $W
