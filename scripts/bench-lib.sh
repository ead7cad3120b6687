# Shared by scripts/bench-server.sh and scripts/callgrind-request.sh (sourced, not run): the
# benchmark configurations, signed JWTs and wrk scripts, so that both measure the same thing.

random_hex() { od -An -N16 -tx1 /dev/urandom | tr -d ' \n'; }

# api_key_config KEY [STORE_LINE]: one app (certificate in ./certificate), API-key auth with KEY,
# one policy rule with a per-caller limit high enough to refuse nothing; STORE_LINE first (e.g.
# a limits_store setting).
api_key_config() {
    cat <<EOF
${2:-}
[[apps]]
app_id = "$(random_hex)"
app_certificate_file = "certificate"
auth = "api_key"
[[apps.api_keys]]
name = "bench"
sha256 = "$(printf %s "$1" | sha256sum | cut -d' ' -f1)"
[[apps.policy]]
name = "bench"
api_keys = ["bench"]
services = ["rtc"]
channels = ["bench"]
rate_limit = "1000000/s"
EOF
}

# jwt_config: the same app and rule with auth = "jwt" and the keys of ./jwks.json.
jwt_config() {
    cat <<EOF
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
EOF
}

# signed_jwts BENCH_JWTS rs256|es256 COUNT DIR SUBJECTS: DIR/jwks.json and DIR/tokens.txt (COUNT
# distinct JWTs) from the bench_jwts example, with a fresh openssl key that is deleted after.
signed_jwts() {
    local bench_jwts="$1" alg="$2" count="$3" dir="$4" subjects="$5"
    if [[ "$alg" == rs256 ]]; then
        openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$dir/idp.key" 2>/dev/null
    else
        openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$dir/idp.key" 2>/dev/null
    fi
    "$bench_jwts" "$alg" "$dir/idp.key" "$count" "$dir" "$subjects"
    rm -f "$dir/idp.key"
}

# jwt_lua TOKENS_FILE: a wrk request function that sends the next JWT of the file with each
# request (wrk -t1: one Lua state, one cycle).
jwt_lua() {
    cat <<EOF
local tokens = {}
for line in io.lines("$1") do tokens[#tokens + 1] = "Bearer " .. line end
local next_token = 0
request = function()
    next_token = next_token % #tokens + 1
    wrk.headers["Authorization"] = tokens[next_token]
    return wrk.format()
end
EOF
}

# lua_scripts DIR HEADER_LUA: DIR/fetch.lua (POST /fetch_rtc_token) and DIR/v1.lua
# (POST /v1/tokens) with these credentials.
lua_scripts() {
    cat >"$1/fetch.lua" <<EOF
wrk.method = "POST"
wrk.body   = '{"uid":1234,"ChannelName":"bench","role":1}'
wrk.headers["Content-Type"] = "application/json"
$2
EOF
    cat >"$1/v1.lua" <<EOF
wrk.method = "POST"
wrk.body   = '{"service":"rtc","channel":"bench","uid":1234,"role":"publisher","expire":3600}'
wrk.headers["Content-Type"] = "application/json"
$2
EOF
}

# wait_http URL [TRIES]: waits (0.1 s apart, TRIES times, default 50) until URL answers 2xx;
# fails if it still does not.
wait_http() {
    local url="$1" tries="${2:-50}"
    for _ in $(seq 1 "$tries"); do
        if curl -fsS "$url" >/dev/null 2>&1; then return 0; fi
        sleep 0.1
    done
    curl -fsS "$url" >/dev/null
}
