#!/usr/bin/env python3
"""A small QMP client for the tests that drive qemu (test_passt_migrate.sh).

    qmp.py SOCK cmd NAME [JSON_ARGUMENTS]
        Runs one command; prints its "return" as JSON. Exit 1 on an error
        reply (printed as "error: CLASS: DESC").
    qmp.py SOCK migrate URI TIMEOUT_S
        Starts an outgoing migration to URI and polls query-migrate every
        0.1 s until it is completed, failed or cancelled. Prints one line:
        MIGRATE STATUS total_ms=N downtime_ms=N setup_ms=N ram_mb=N
        error=DESC. Exit 0 if completed, 1 otherwise (2 on timeout).
    qmp.py SOCK wait-status STATE TIMEOUT_S
        Polls query-status until the run state is STATE (running,
        postmigrate, inmigrate, ...). Prints the last state; exit 0 if
        reached, 2 on timeout.
Every socket operation is bounded (10 s); connecting retries until qemu
has created SOCK (10 s).
"""

import json
import socket
import sys
import time


class Qmp:
    def __init__(self, path):
        end = time.monotonic() + 10
        while True:
            try:
                self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                self.s.settimeout(10)
                self.s.connect(path)
                break
            except OSError:
                self.s.close()
                if time.monotonic() > end:
                    raise
                time.sleep(0.1)
        self.f = self.s.makefile("rb")
        self.read()  # greeting
        self.cmd("qmp_capabilities")

    def read(self):
        line = self.f.readline()
        if not line:
            raise OSError("QMP connection closed")
        return json.loads(line)

    def cmd(self, name, args=None):
        msg = {"execute": name}
        if args:
            msg["arguments"] = args
        self.s.sendall(json.dumps(msg).encode() + b"\n")
        while True:
            r = self.read()
            if "event" in r:
                continue
            if "error" in r:
                raise RuntimeError("%s: %s" % (r["error"].get("class"),
                                               r["error"].get("desc")))
            return r.get("return")


def main():
    path, op = sys.argv[1], sys.argv[2]
    q = Qmp(path)
    if op == "cmd":
        args = json.loads(sys.argv[4]) if len(sys.argv) > 4 else None
        try:
            print(json.dumps(q.cmd(sys.argv[3], args)))
        except RuntimeError as e:
            print("error:", e)
            return 1
        return 0
    if op == "migrate":
        tmo = float(sys.argv[4])
        try:
            q.cmd("migrate", {"uri": sys.argv[3]})
        except RuntimeError as e:
            print("MIGRATE refused error=%s" % e)
            return 1
        end = time.monotonic() + tmo
        while True:
            r = q.cmd("query-migrate")
            st = r.get("status", "none")
            if st in ("completed", "failed", "cancelled"):
                break
            if time.monotonic() > end:
                print("MIGRATE timeout status=%s" % st)
                return 2
            time.sleep(0.1)
        ram = r.get("ram", {})
        print("MIGRATE %s total_ms=%s downtime_ms=%s setup_ms=%s ram_mb=%s error=%s" % (
            st, r.get("total-time", "-"), r.get("downtime", "-"), r.get("setup-time", "-"),
            ram.get("transferred", 0) >> 20, r.get("error-desc", "none")))
        return 0 if st == "completed" else 1
    if op == "wait-status":
        want, tmo = sys.argv[3], float(sys.argv[4])
        end = time.monotonic() + tmo
        while True:
            st = q.cmd("query-status").get("status")
            if st == want:
                print(st)
                return 0
            if time.monotonic() > end:
                print(st)
                return 2
            time.sleep(0.1)
    print("unknown operation %s" % op, file=sys.stderr)
    return 2


sys.exit(main())
