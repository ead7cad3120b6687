#!/usr/bin/env python3
"""CPU per request of several token servers, measured in interleaved rounds.

    scripts/interleave.py ROUNDS SECONDS NAME=COMMAND [NAME=COMMAND ...]

Each COMMAND is a server command line with `{port}` where its port goes (18300, 18301, ...);
`NAME%VAR:VALUE,VAR:VALUE=COMMAND` sets environment variables for that server only (RUST_LOG is
`info` unless set so). Every server is started once, pinned to CPU 1, and each round drives every
one of them in turn (the order rotated each round) with `wrk -t1 -c32` on CPU 0, POST
/fetch_rtc_token with the body of scripts/bench-server.sh, for SECONDS. A server's cost in a
round is its CPU time (user + system, from /proc) over the requests completed.

Prints each round, then per server the median user and system time per request, the median of
its per-round costs and the median (and quartiles) of its per-round ratio to the first server:
the ratio is taken within a round, so a machine that is slower for a while slows both sides.
With three servers or more, also each one's per-round ratio to the one before it (e.g.
`minimal`, the server before a change, the server after it: the change's effect).
Any non-2xx answer is reported on stderr. Servers are stopped with SIGTERM at the end.

HEADER="Name: value" adds a request header (e.g. `X-Api-Key: ...` for servers configured with
that key); minimal ignores it.

FRESH=1: every server is started anew for each round (and warmed up with 1 s of the same load
before it is measured), so that the round-to-round spread includes what differs between two
processes of one binary (where its code and data land in memory and in the CPU's caches): one
process per server for a whole run can be lucky or unlucky by several per cent for the run.
"""
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time

BODY = '{"uid":1234,"ChannelName":"bench","role":1}'


def ticks(pid):
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return int(fields[11]), int(fields[12])


def main():
    if len(sys.argv) < 4:
        sys.exit(__doc__)
    rounds, seconds, specs = int(sys.argv[1]), sys.argv[2], sys.argv[3:]
    hz = os.sysconf("SC_CLK_TCK")
    work = tempfile.mkdtemp(prefix="interleave.")
    script = os.path.join(work, "fetch.lua")
    with open(script, "w") as f:
        f.write(f'wrk.method = "POST"\nwrk.body = \'{BODY}\'\nwrk.headers["Content-Type"] = "application/json"\n')
        # HEADER="Name: value": one more request header (e.g. an API key), for every server.
        if os.environ.get("HEADER"):
            name, value = (part.strip() for part in os.environ["HEADER"].split(":", 1))
            f.write(f'wrk.headers["{name}"] = "{value}"\n')
    base_env = {k: v for k, v in os.environ.items() if k not in ("APP_ID", "APP_CERTIFICATE", "AGTOKEN_CONFIG")}
    base_env.setdefault("RUST_LOG", "info")
    fresh = os.environ.get("FRESH") == "1"
    servers = []

    def start(name, port, command, env):
        stderr = open(os.path.join(work, f"{name}.err"), "a")
        return subprocess.Popen(
            ["taskset", "-c", "1"] + command.format(port=port).split(),
            stdout=subprocess.DEVNULL, stderr=stderr, env=env, cwd=work,
        )

    def load(port, secs):
        return subprocess.run(
            ["taskset", "-c", "0", "wrk", "-t1", "-c32", f"-d{secs}s", "-s", script,
             f"http://127.0.0.1:{port}/fetch_rtc_token"],
            capture_output=True, text=True, check=True,
        ).stdout

    def stop(process):
        process.send_signal(signal.SIGTERM)
        process.wait()

    try:
        for i, spec in enumerate(specs):
            name, command = spec.split("=", 1)
            env = dict(base_env)
            if "%" in name:
                name, extra = name.split("%", 1)
                for pair in extra.split(","):
                    key, value = pair.split(":", 1)
                    env[key] = value
            port = 18300 + i
            servers.append([name, port, None if fresh else start(name, port, command, env), command, env])
        time.sleep(1.5)
        cost = {s[0]: [] for s in servers}
        split = {s[0]: [] for s in servers}
        for r in range(rounds):
            shift = r % len(servers)
            for server in servers[shift:] + servers[:shift]:
                name, port, process, command, env = server
                if fresh:
                    process = server[2] = start(name, port, command, env)
                    time.sleep(0.5)
                    load(port, 1)
                user0, sys0 = ticks(process.pid)
                out = load(port, seconds)
                time.sleep(0.2)
                user1, sys1 = ticks(process.pid)
                if fresh:
                    stop(process)
                    server[2] = None
                requests = int(re.search(r"(\d+) requests in", out).group(1))
                refused = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
                if refused:
                    print(f"{name}: {refused.group(1)} non-2xx answers", file=sys.stderr)
                us = lambda t: t / hz / requests * 1e6
                cost[name].append(us(user1 - user0 + sys1 - sys0))
                split[name].append((us(user1 - user0), us(sys1 - sys0)))
            print(f"round {r + 1}: " + "  ".join(f"{s[0]} {cost[s[0]][-1]:.1f}" for s in servers), flush=True)
    finally:
        for server in servers:
            if server[2] is not None:
                stop(server[2])
    reference = servers[0][0]
    print(f"us of CPU per request (user, system, total) and the per-round ratio to {reference}:")
    for name in cost:
        median, q1, q3 = ratio_quartiles(cost[name], cost[reference])
        user = statistics.median(u for u, _ in split[name])
        system = statistics.median(s for _, s in split[name])
        print(f"{name:14s} user {user:5.1f}  sys {system:5.1f}  total {statistics.median(cost[name]):5.1f}"
              f"   ratio {median:.3f} (q1 {q1:.3f}, q3 {q3:.3f})")
    # Two builds of one server, e.g. before and after a change: their ratio within each round is
    # steadier than either one's ratio to the reference.
    names = list(cost)
    if len(names) > 2:
        print("each server's per-round ratio to the one before it:")
        for before, name in zip(names[1:], names[2:]):
            median, q1, q3 = ratio_quartiles(cost[name], cost[before])
            print(f"{name} / {before}: {median:.3f} (q1 {q1:.3f}, q3 {q3:.3f})")


def ratio_quartiles(costs, reference_costs):
    """The median and quartiles of the per-round ratios of `costs` to `reference_costs`."""
    ratios = sorted(a / b for a, b in zip(costs, reference_costs))
    q = statistics.quantiles(ratios, n=4) if len(ratios) > 1 else [ratios[0]] * 3
    return statistics.median(ratios), q[0], q[2]


if __name__ == "__main__":
    main()
