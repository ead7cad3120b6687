#!/usr/bin/env python3
"""Opens N idle TCP connections to 127.0.0.1:PORT, holds them HOLD seconds, closes them.

The reproduction of the "connections are not bounded" issue (crates/agtoken-server/README.md,
"Connections"):

    python3 scripts/idle-connections.py PORT N HOLD

Connections are opened 50 every 50 ms with non-blocking connects, so that the server can accept
them as they come: a burst all at once overflows a 128-entry listen backlog, and the kernel then
drops or half-opens the rest without the server ever seeing them. Needs N open files (ulimit -n).
"""

import selectors
import socket
import sys
import time


def main():
    port, n, hold = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
    socks = []
    start = time.time()
    for i in range(n):
        s = socket.socket()
        s.setblocking(False)
        s.connect_ex(("127.0.0.1", port))
        socks.append(s)
        if i % 50 == 49:
            time.sleep(0.05)
    sel = selectors.DefaultSelector()
    for s in socks:
        sel.register(s, selectors.EVENT_WRITE)
    connected = 0
    deadline = time.time() + 10
    while connected < n and time.time() < deadline:
        for key, _ in sel.select(timeout=0.2):
            sel.unregister(key.fileobj)
            if key.fileobj.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0:
                connected += 1
    print(f"{connected}/{n} connected in {time.time() - start:.2f} s; holding {hold:.0f} s", flush=True)
    time.sleep(hold)
    for s in socks:
        s.close()
    print("closed", flush=True)


if __name__ == "__main__":
    main()
