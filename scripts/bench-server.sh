#!/usr/bin/env bash
# Load benchmark of the token server: requests/s and p50/p99 latency of
# POST /fetch_rtc_token and POST /v1/tokens, and the server's resident memory after the runs.
#
#   scripts/bench-server.sh            # 30 s per route, 32 connections, 1 wrk thread
#   DURATION=10 scripts/bench-server.sh
#
# Environment: DURATION (s per route, default 30), CONNECTIONS (32), PORT (18089),
# BENCH_LOG=null|file|off (server logs: formatted and discarded (default), written to a file
# in the temp dir, or turned off with RUST_LOG=warn),
# BENCH_LIMITS=none|local|redis (default none: demo mode, anonymous; local: one app with
# API-key auth and a per-caller rule limit of 1000000/s, so nothing is refused, counted in
# memory; redis: the same counted in a redis-server this script starts on REDIS_PORT (18090)
# of 127.0.0.1 with no persistence, and stops at the end; jwt-rs256 / jwt-es256: the same app
# and rule with auth = "jwt" and a JWKS file instead of the API key, every request with
# another of JWT_COUNT (50000) distinct JWTs (each its own jti) made beforehand by the
# bench_jwts example with a fresh openssl key, cycled by the wrk script; JWT_SUBJECTS (default
# 1: one caller, as in the API-key modes) distinct subs among them, e.g. JWT_SUBJECTS=50000 for
# a caller per JWT, which adds the per-caller limiter's work for 50,000 callers).
# CPU per request is read from /proc (the server's user + system time / tokens issued): on a
# shared machine compare modes by that figure, run in the same session, not by req/s.
#
# The server runs on 127.0.0.1, beside wrk on the same machine (demo mode unless
# BENCH_LIMITS is set); it is stopped with SIGTERM at the end and must exit 0 (graceful
# shutdown).
#
# Then the comparison with the floor: examples/minimal.rs, a bare axum server that parses the
# same /fetch_rtc_token body and builds the same token with the same library (no logging, CORS,
# limits, metrics, auth, policy or parse-back). COMPARE_ROUNDS (default 11) rounds of
# COMPARE_DURATION (default 3) s each, agtoken serve and minimal interleaved (the order
# alternating), each a new process every round (warmed up with 1 s of the same load), measured
# as CPU time of the server process (user + system, from /proc) per completed request; prints
# each round and the median ratio with its quartiles. COMPARE_ROUNDS=0 skips it. (A new process
# each round because one process of a binary can be faster or slower than another process of
# the same binary by up to ~5 % for its whole life: where its code and data land.) In the JWT
# modes the reference is not minimal but the same server with API-key auth (the local mode's app and rule), interleaved
# the same way: the ratio is JWT-authenticated over API-key-authenticated issuance.
set -euo pipefail

DURATION="${DURATION:-30}"
CONNECTIONS="${CONNECTIONS:-32}"
PORT="${PORT:-18089}"
BENCH_LOG="${BENCH_LOG:-null}"
BENCH_LIMITS="${BENCH_LIMITS:-none}"
REDIS_PORT="${REDIS_PORT:-18090}"
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"

if ! command -v wrk >/dev/null 2>&1; then
    echo "installing wrk (Debian package)…" >&2
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null
fi

echo "building the server (release)…" >&2
(cd "$ROOT" && cargo build --release -q -p agtoken-server --example serve --example minimal)
BIN="$TARGET_DIR/release/examples/serve"
MINIMAL_BIN="$TARGET_DIR/release/examples/minimal"
COMPARE_ROUNDS="${COMPARE_ROUNDS:-11}"
COMPARE_DURATION="${COMPARE_DURATION:-3}"
MINIMAL_PORT="${MINIMAL_PORT:-18088}"

# PIN=1 (the default with 2 or more cores): the server (and the floor) on CPU 1, wrk on CPU 0,
# so the load generator's own work (a Lua request function per request in the JWT modes) does
# not land on the server's core. PIN=0 lets the scheduler place both.
PIN="${PIN:-$(( $(nproc) >= 2 ? 1 : 0 ))}"
SERVER_PIN=()
WRK_PIN=()
if [[ "$PIN" == 1 ]]; then
    SERVER_PIN=(taskset -c 1)
    WRK_PIN=(taskset -c 0)
fi

WORK="$(mktemp -d)"
SERVER_PID=""
REDIS_PID=""
MINIMAL_PID=""
cleanup() {
    if [[ -n "$MINIMAL_PID" ]] && kill -0 "$MINIMAL_PID" 2>/dev/null; then
        kill -TERM "$MINIMAL_PID" 2>/dev/null || true
        wait "$MINIMAL_PID" 2>/dev/null || true
    fi
    if [[ -n "$SERVER_PID" ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
        kill -TERM "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
    fi
    if [[ -n "$REDIS_PID" ]] && kill -0 "$REDIS_PID" 2>/dev/null; then
        kill -TERM "$REDIS_PID" 2>/dev/null || true
        wait "$REDIS_PID" 2>/dev/null || true
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT

# shellcheck source=scripts/bench-lib.sh
. "$ROOT/scripts/bench-lib.sh"
# An API key for the BENCH_LIMITS runs (a throwaway: the configuration holds its SHA-256).
BENCH_KEY="agtk_bench_$(random_hex)"
KEY_HEADER=""
JWT_LUA=""
case "$BENCH_LIMITS" in
    none) ;;
    jwt-rs256 | jwt-es256)
        JWT_COUNT="${JWT_COUNT:-50000}"
        alg="${BENCH_LIMITS#jwt-}"
        echo "signing $JWT_COUNT distinct $alg JWTs…" >&2
        (cd "$ROOT" && cargo build --release -q -p agtoken-server --example bench_jwts)
        signed_jwts "$TARGET_DIR/release/examples/bench_jwts" "$alg" "$JWT_COUNT" "$WORK" "${JWT_SUBJECTS:-1}"
        JWT_LUA="$(jwt_lua "$WORK/tokens.txt")"
        ;;
    *) KEY_HEADER="wrk.headers[\"X-Api-Key\"] = \"$BENCH_KEY\"" ;;
esac
lua_scripts "$WORK" "$KEY_HEADER
$JWT_LUA"

CONFIG_ARGS=()
case "$BENCH_LIMITS" in
    none) ;;
    local | redis)
        STORE=""
        if [[ "$BENCH_LIMITS" == redis ]]; then
            if ! command -v redis-server >/dev/null 2>&1; then
                echo "installing redis-server (Debian package)…" >&2
                apt-get update -qq >/dev/null
                DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null
            fi
            redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no --loglevel warning \
                >"$WORK/redis.log" 2>&1 &
            REDIS_PID=$!
            for _ in $(seq 1 50); do
                if (exec 3<>"/dev/tcp/127.0.0.1/$REDIS_PORT") 2>/dev/null; then break; fi
                sleep 0.1
            done
            STORE="limits_store = \"redis://127.0.0.1:$REDIS_PORT\""
        fi
        random_hex >"$WORK/certificate"
        chmod 600 "$WORK/certificate"
        api_key_config "$BENCH_KEY" "$STORE" >"$WORK/agtoken.toml"
        CONFIG_ARGS=(--config "$WORK/agtoken.toml")
        ;;
    jwt-rs256 | jwt-es256)
        random_hex >"$WORK/certificate"
        chmod 600 "$WORK/certificate"
        jwt_config >"$WORK/agtoken.toml"
        CONFIG_ARGS=(--config "$WORK/agtoken.toml")
        ;;
    *) echo "BENCH_LIMITS must be none, local, redis, jwt-rs256 or jwt-es256" >&2; exit 2 ;;
esac

case "$BENCH_LOG" in
    null) LOG_TARGET=/dev/null; RUST_LOG_VALUE=info ;;
    file) LOG_TARGET="$WORK/server.log"; RUST_LOG_VALUE=info ;;
    off) LOG_TARGET=/dev/null; RUST_LOG_VALUE=warn ;;
    *) echo "BENCH_LOG must be null, file or off" >&2; exit 2 ;;
esac

# start_serve DIR PORT CONFIG_ARGS...: agtoken serve in DIR on PORT (demo mode: no app configured
# anywhere, no env credentials, no .env in the working dir), its pid in STARTED_PID once it
# answers /healthz.
start_serve() {
    local dir="$1" port="$2"
    shift 2
    (cd "$dir" && exec env -u APP_ID -u APP_CERTIFICATE -u AGORA_APP_ID -u AGORA_APP_CERTIFICATE -u AGTOKEN_CONFIG \
        RUST_LOG="$RUST_LOG_VALUE" ${SERVER_PIN[@]+"${SERVER_PIN[@]}"} "$BIN" --host 127.0.0.1 --port "$port" "$@" \
        >"$LOG_TARGET" 2>>"$dir/stderr.log") &
    STARTED_PID=$!
    wait_http "http://127.0.0.1:$port/healthz"
}
start_serve "$WORK" "$PORT" "${CONFIG_ARGS[@]}"
SERVER_PID=$STARTED_PID

rss_kib() { awk '/^VmRSS/ {print $2}' "/proc/$SERVER_PID/status"; }
# CPU time (user + system) of a process so far, in clock ticks.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
TICKS="$(getconf CLK_TCK)"
hwm_kib() { awk '/^VmHWM/ {print $2}' "/proc/$SERVER_PID/status"; }

run() {
    local name="$1" path="$2" script="$3"
    local out
    out="$(${WRK_PIN[@]+"${WRK_PIN[@]}"} wrk -t1 -c"$CONNECTIONS" -d"${DURATION}s" --latency -s "$script" "http://127.0.0.1:$PORT$path")"
    echo "$out" >"$WORK/$name.txt"
    local rps p50 p99 non2xx errors
    rps="$(awk '/^Requests\/sec/ {print $2}' <<<"$out")"
    p50="$(awk '$1 == "50%" {print $2}' <<<"$out")"
    p99="$(awk '$1 == "99%" {print $2}' <<<"$out")"
    non2xx="$(awk '/Non-2xx/ {print $NF}' <<<"$out")"
    errors="$(awk '/Socket errors/ {print}' <<<"$out")"
    printf '%-18s %12s req/s   p50 %8s   p99 %8s   non-2xx %s %s\n' "$path" "$rps" "$p50" "$p99" "${non2xx:-0}" "$errors"
}

echo "machine: $(nproc) cores; wrk -t1 -c$CONNECTIONS -d${DURATION}s --latency; server logs: $BENCH_LOG; limits: $BENCH_LIMITS" >&2
echo "RSS at start: $(( $(rss_kib) / 1024 )) MiB"
run fetch /fetch_rtc_token "$WORK/fetch.lua"
run v1 /v1/tokens "$WORK/v1.lua"
echo "RSS after $((2 * DURATION)) s of load: $(( $(rss_kib) / 1024 )) MiB (peak $(( $(hwm_kib) / 1024 )) MiB)"
issued="$(curl -fsS "http://127.0.0.1:$PORT/metrics" | awk '/^agtoken_tokens_issued_total\{service="rtc",version="007"\}/ {print $2}')"
echo "tokens issued (from /metrics): $issued"
per_request() { awk -v t="$1" -v hz="$TICKS" -v n="$issued" 'BEGIN {printf "%.1f s of CPU, %.1f us per token request", t / hz, t / hz / n * 1e6}'; }
echo "server: $(per_request "$(cpu_ticks "$SERVER_PID")")"
if [[ -n "$REDIS_PID" ]]; then
    echo "redis-server: $(per_request "$(cpu_ticks "$REDIS_PID")")"
fi
if [[ "$BENCH_LIMITS" != none ]]; then
    curl -fsS "http://127.0.0.1:$PORT/metrics" | grep -E '^agtoken_(rate_limit_decisions|limits_store)' || true
fi

# ---- the comparison, interleaved: agtoken serve vs examples/minimal (the floor), or in the JWT
# modes vs the same server with an API key ----
# cpu_per_request PID URL SCRIPT: "<req/s> <µs of the process's CPU per completed request>".
cpu_per_request() {
    local pid="$1" url="$2" script="$3" before after out requests rps
    before="$(cpu_ticks "$pid")"
    out="$(${WRK_PIN[@]+"${WRK_PIN[@]}"} wrk -t1 -c"$CONNECTIONS" -d"${COMPARE_DURATION}s" -s "$script" "$url")"
    after="$(cpu_ticks "$pid")"
    requests="$(awk '/requests in/ {print $1}' <<<"$out")"
    rps="$(awk '/^Requests\/sec/ {print $2}' <<<"$out")"
    if grep -q 'Non-2xx' <<<"$out"; then
        echo "non-2xx answers from $url:" >&2
        echo "$out" >&2
        return 1
    fi
    awk -v a="$after" -v b="$before" -v hz="$TICKS" -v n="$requests" -v rps="$rps" \
        'BEGIN {printf "%s %.2f\n", rps, (a - b) / hz / n * 1e6}'
}
kill -TERM "$SERVER_PID"
status=0
wait "$SERVER_PID" || status=$?
SERVER_PID=""
echo "server stopped on SIGTERM, exit status $status"

if ((COMPARE_ROUNDS > 0)); then
    case "$BENCH_LIMITS" in
        jwt-*)
            # The JWT modes' reference is API-key issuance (issue 13's target is the ratio of
            # the two): the same app and rule with auth = "api_key", on the floor's port.
            REF_NAME="api key"
            REF_TITLE="agtoken serve with JWT ($BENCH_LIMITS) vs with an API key"
            mkdir "$WORK/ref"
            random_hex >"$WORK/ref/certificate"
            chmod 600 "$WORK/ref/certificate"
            api_key_config "$BENCH_KEY" >"$WORK/ref/agtoken.toml"
            lua_scripts "$WORK/ref" "wrk.headers[\"X-Api-Key\"] = \"$BENCH_KEY\""
            start_ref() { start_serve "$WORK/ref" "$MINIMAL_PORT" --config "$WORK/ref/agtoken.toml"; }
            REF_SCRIPT="$WORK/ref/fetch.lua"
            ;;
        *)
            REF_NAME="minimal"
            REF_TITLE="the floor: agtoken serve vs examples/minimal"
            start_ref() {
                ${SERVER_PIN[@]+"${SERVER_PIN[@]}"} "$MINIMAL_BIN" --port "$MINIMAL_PORT" >/dev/null 2>>"$WORK/minimal.log" &
                STARTED_PID=$!
                for _ in $(seq 1 50); do
                    if (exec 3<>"/dev/tcp/127.0.0.1/$MINIMAL_PORT") 2>/dev/null; then break; fi
                    sleep 0.1
                done
            }
            REF_SCRIPT="$WORK/fetch.lua"
            ;;
    esac
    # measure_fresh serve|ref: starts a new process of that server (see the top of this file for
    # why), loads it for 1 s (warm-up), then sets RPS and US (µs per request) from
    # COMPARE_DURATION s, and stops it. Run in this shell, not a subshell, so that cleanup knows
    # the process (MINIMAL_PID) if the script is stopped meanwhile.
    measure_fresh() {
        local pid url script
        if [[ "$1" == serve ]]; then
            start_serve "$WORK" "$PORT" "${CONFIG_ARGS[@]}"
            url="http://127.0.0.1:$PORT/fetch_rtc_token" script="$WORK/fetch.lua"
        else
            start_ref
            url="http://127.0.0.1:$MINIMAL_PORT/fetch_rtc_token" script="$REF_SCRIPT"
        fi
        pid=$STARTED_PID
        MINIMAL_PID=$pid
        ${WRK_PIN[@]+"${WRK_PIN[@]}"} wrk -t1 -c"$CONNECTIONS" -d1s -s "$script" "$url" >/dev/null
        read -r RPS US < <(cpu_per_request "$pid" "$url" "$script")
        kill -TERM "$pid"
        wait "$pid" || true
        MINIMAL_PID=""
    }
    echo "$REF_TITLE: POST /fetch_rtc_token, $COMPARE_ROUNDS rounds of ${COMPARE_DURATION}s each (a new process of each server every round, the order alternating), CPU per request"
    ratios=()
    for round in $(seq 1 "$COMPARE_ROUNDS"); do
        order=(serve ref)
        ((round % 2)) || order=(ref serve)
        for which in "${order[@]}"; do
            measure_fresh "$which"
            if [[ "$which" == serve ]]; then serve_rps=$RPS serve_us=$US; else min_rps=$RPS min_us=$US; fi
        done
        ratio="$(awk -v s="$serve_us" -v m="$min_us" 'BEGIN {printf "%.2f", s / m}')"
        ratios+=("$ratio")
        printf 'round %d: agtoken serve %8.2f us/req (%s req/s)   %s %8.2f us/req (%s req/s)   ratio %s\n' \
            "$round" "$serve_us" "$serve_rps" "$REF_NAME" "$min_us" "$min_rps" "$ratio"
    done
    median="$(printf '%s\n' "${ratios[@]}" | sort -n | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}')"
    quartiles="$(printf '%s\n' "${ratios[@]}" | sort -n | awk '{a[NR] = $1} END {print a[int((NR + 3) / 4)] " - " a[int((3 * NR + 3) / 4)]}')"
    echo "CPU per request, agtoken serve / $REF_NAME (median of $COMPARE_ROUNDS): $median (quartiles $quartiles)"
fi
exit "$status"
