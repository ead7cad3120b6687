#!/usr/bin/env bash
# A configuration reload under load (issue 13's proof): two wrk runs hammer
# POST /fetch_rtc_token on one `agtoken serve`, one with the API key that stays ("keep"), one
# with the key that a reload revokes ("revoke"). A third of the way through, a broken
# configuration is written and SIGHUP sent (it must be refused, the old one serving on); two
# thirds through, the configuration without "revoke" is swapped in (rename) and SIGHUP sent.
# Prints the answers by status for each key, wrk's socket errors, and the reload log lines.
#
#   scripts/reload-under-load.sh                   # 12 s, 16 connections per key
#   DURATION=30 CONNECTIONS=32 scripts/reload-under-load.sh
#
# Expected: "keep" gets only 200s; "revoke" gets 200s, then only 401s after the reload; no
# other status and no socket error for either; exit 0. Environment: DURATION (s, default 12),
# CONNECTIONS (per key, 16), PORT (18091), PROFILE (release (default) or debug: the build of
# `agtoken` to run).
set -euo pipefail

DURATION="${DURATION:-12}"
CONNECTIONS="${CONNECTIONS:-16}"
PORT="${PORT:-18091}"
PROFILE="${PROFILE:-release}"
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
# shellcheck source=scripts/bench-lib.sh
. "$ROOT/scripts/bench-lib.sh"

if ! command -v wrk >/dev/null 2>&1; then
    echo "installing wrk (Debian package)…" >&2
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null
fi

echo "building agtoken ($PROFILE)…" >&2
if [[ "$PROFILE" == release ]]; then
    (cd "$ROOT" && cargo build --release -q -p agtoken-cli)
else
    (cd "$ROOT" && cargo build -q -p agtoken-cli)
fi
BIN="$TARGET_DIR/$PROFILE/agtoken"

WORK="$(mktemp -d)"
SERVER_PID=""
cleanup() {
    if [[ -n "$SERVER_PID" ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
        kill -TERM "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT

random_hex() { od -An -N16 -tx1 /dev/urandom | tr -d ' \n'; }
KEEP="agtk_keep_$(random_hex)"
REVOKE="agtk_revoke_$(random_hex)"
APP_ID="$(random_hex)"
random_hex >"$WORK/certificate"
chmod 600 "$WORK/certificate"

# The configuration with the API keys named in $@, written next to the live file and renamed
# over it (as an editor or a deployment tool does).
write_config() {
    {
        echo "[[apps]]"
        echo "app_id = \"$APP_ID\""
        echo "app_certificate_file = \"certificate\""
        echo "auth = \"api_key\""
        for name in "$@"; do
            local key
            if [[ "$name" == keep ]]; then key="$KEEP"; else key="$REVOKE"; fi
            echo "[[apps.api_keys]]"
            echo "name = \"$name\""
            echo "sha256 = \"$(printf %s "$key" | sha256sum | cut -d' ' -f1)\""
        done
        echo "[[apps.policy]]"
        echo "name = \"any-key\""
        echo "services = [\"rtc\"]"
    } >"$WORK/agtoken.toml.new"
    mv "$WORK/agtoken.toml.new" "$WORK/agtoken.toml"
}

# Counts the answers by status, per wrk thread, and prints them at the end.
lua() {
    cat <<EOF
wrk.method = "POST"
wrk.body   = '{"uid":1234,"ChannelName":"reload","role":1}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["X-Api-Key"] = "$1"
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args) statuses = {} end
function response(status, headers, body) statuses[status] = (statuses[status] or 0) + 1 end
function done(summary, latency, requests)
    local total = {}
    for _, thread in ipairs(threads) do
        for status, n in pairs(thread:get("statuses")) do total[status] = (total[status] or 0) + n end
    end
    local line = "statuses:"
    for status, n in pairs(total) do line = line .. " " .. status .. "=" .. n end
    print(line)
end
EOF
}
lua "$KEEP" >"$WORK/keep.lua"
lua "$REVOKE" >"$WORK/revoke.lua"

write_config keep revoke
(cd "$WORK" && exec env -u APP_ID -u APP_CERTIFICATE -u AGORA_APP_ID -u AGORA_APP_CERTIFICATE -u AGTOKEN_CONFIG \
    RUST_LOG=info "$BIN" serve --host 127.0.0.1 --port "$PORT" --config agtoken.toml --log-json \
    >"$WORK/server.log" 2>&1) &
SERVER_PID=$!
wait_http "http://127.0.0.1:$PORT/readyz" 100

echo "wrk -t1 -c$CONNECTIONS -d${DURATION}s per key, $(nproc) cores; agtoken $PROFILE build" >&2
wrk -t1 -c"$CONNECTIONS" -d"${DURATION}s" -s "$WORK/keep.lua" "http://127.0.0.1:$PORT/fetch_rtc_token" >"$WORK/keep.txt" &
KEEP_WRK=$!
wrk -t1 -c"$CONNECTIONS" -d"${DURATION}s" -s "$WORK/revoke.lua" "http://127.0.0.1:$PORT/fetch_rtc_token" >"$WORK/revoke.txt" &
REVOKE_WRK=$!

sleep "$(awk -v d="$DURATION" 'BEGIN {print d / 3}')"
echo "t = 1/3: a broken configuration (invalid TOML), SIGHUP" >&2
printf '[[apps]\napp_id = \n' >"$WORK/agtoken.toml.new"
mv "$WORK/agtoken.toml.new" "$WORK/agtoken.toml"
kill -HUP "$SERVER_PID"
sleep "$(awk -v d="$DURATION" 'BEGIN {print d / 3}')"
echo "t = 2/3: the configuration without the key \"revoke\", SIGHUP" >&2
write_config keep
kill -HUP "$SERVER_PID"
wait "$KEEP_WRK" "$REVOKE_WRK"

report() {
    local name="$1"
    local file="$WORK/$name.txt"
    printf '%-7s %s requests; %s; non-2xx %s; %s\n' "$name" \
        "$(awk '/requests in/ {print $1}' "$file")" \
        "$(grep '^statuses:' "$file")" \
        "$(awk '/Non-2xx/ {print $NF}' "$file" | grep . || echo 0)" \
        "$(grep 'Socket errors' "$file" | sed 's/^ *//' || echo 'no socket errors')"
}
report keep
report revoke
echo "after the reload, the revoked key gets: $(curl -s -o /dev/null -w '%{http_code}' -X POST \
    -H 'Content-Type: application/json' -H "X-Api-Key: $REVOKE" \
    -d '{"uid":1,"ChannelName":"reload","role":1}' "http://127.0.0.1:$PORT/fetch_rtc_token")"
echo "reload log lines:"
grep -E '"message":"(configuration reload|SIGHUP)' "$WORK/server.log" | sed 's/^/  /'
curl -fsS "http://127.0.0.1:$PORT/metrics" | grep -E '^agtoken_config_' | sed 's/^/  /'

# The verdict: keep saw 200s only, revoke 200s and 401s only, nobody a socket error.
fail=0
grep -q '^statuses: 200=[0-9]*$' "$WORK/keep.txt" || { echo "FAIL: keep got a status other than 200" >&2; fail=1; }
if grep '^statuses:' "$WORK/revoke.txt" | tr ' ' '\n' | grep -E '^[0-9]+=' | grep -vqE '^(200|401)='; then
    echo "FAIL: revoke got a status other than 200 or 401" >&2
    fail=1
fi
grep -q '401=' "$WORK/revoke.txt" || { echo "FAIL: the revoked key was never refused" >&2; fail=1; }
if grep -q 'Socket errors' "$WORK/keep.txt" "$WORK/revoke.txt"; then
    echo "FAIL: socket errors" >&2
    fail=1
fi
kill -TERM "$SERVER_PID"
wait "$SERVER_PID" || fail=1
SERVER_PID=""
exit "$fail"
