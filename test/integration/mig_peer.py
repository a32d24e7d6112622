#!/usr/bin/env python3
"""Host-side peers of test_passt_migrate.sh: TCP connections from a guest
that must survive a live migration of the guest and its passt.

    mig_peer.py DIR BYTES RATE STALL_AT

Listens on (the guest reaches them through passt's gateway addresses):
  127.0.0.1:5000 and [::1]:5000  duplex: for each connection, receive until
      end of file and send BYTES random bytes, both at once, each direction
      paced at RATE bytes a second (so that the migration falls
      mid-transfer), then close. While the file DIR/quiet exists, neither
      direction sends or reads (the socket sends nothing then). Prints
      DUPLEX FAM rx BYTES MD5 tx BYTES MD5 err ERROR (ERROR "none" if the
      socket never failed).
  127.0.0.1:5001  stall: receive until end of file, but stop reading after
      STALL_AT bytes (prints STALLED FAM BYTES) until the file DIR/resume
      exists; then STALL FAM rx BYTES MD5 err ERROR.
  127.0.0.1:5002  echo: one connection (the guest echoes). Each line
      "echo NAME BYTES" written to the FIFO DIR/ctl sends BYTES random bytes
      and checks that the same come back: ECHO NAME ok BYTES MD5, or
      ECHO NAME bad DETAIL. "close" closes the connection (ECHO-CLOSED).
DIR/status is rewritten every 0.1 s with one line per connection:
  duplex4|duplex6 RX TX, stall4 RX. READY is printed once listening.
"""

import hashlib
import os
import socket
import sys
import threading
import time

DIR = sys.argv[1]
BYTES = int(sys.argv[2])
RATE = float(sys.argv[3])
STALL_AT = int(sys.argv[4])
CHUNK = 1 << 16
TIMEOUT = 120

out_lock = threading.Lock()
progress = {}


def say(*words):
    with out_lock:
        print(*words, flush=True)


def pace(start, done):
    """Sleep until `done` bytes are due at RATE since `start`, and while
    DIR/quiet exists. Returns the (shifted) start."""
    quiet = os.path.join(DIR, "quiet")
    if os.path.exists(quiet):
        t0 = time.monotonic()
        while os.path.exists(quiet) and time.monotonic() - t0 < TIMEOUT:
            time.sleep(0.02)
        start += time.monotonic() - t0
    due = start + done / RATE
    delay = due - time.monotonic()
    if delay > 0:
        time.sleep(delay)
    return start


def listener(fam, addr, port):
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((addr, port))
    s.listen(4)
    return s


def fam_name(c):
    return "4" if c.family == socket.AF_INET else "6"


def duplex(c):
    fam = fam_name(c)
    key = "duplex" + fam
    progress[key] = [0, 0]
    c.settimeout(TIMEOUT)
    errs = []
    rx_md5, tx_md5 = hashlib.md5(), hashlib.md5()

    def sender():
        data = os.urandom(BYTES)
        tx_md5.update(data)
        start, off = time.monotonic(), 0
        try:
            while off < BYTES:
                n = c.send(data[off:off + CHUNK])
                off += n
                progress[key][1] = off
                start = pace(start, off)
        except OSError as e:
            errs.append("send: %s" % e)

    t = threading.Thread(target=sender)
    t.start()
    start, n = time.monotonic(), 0
    try:
        while True:
            b = c.recv(CHUNK)
            if not b:
                break
            n += len(b)
            rx_md5.update(b)
            progress[key][0] = n
            start = pace(start, n)
    except OSError as e:
        errs.append("recv: %s" % e)
    t.join()
    err = "; ".join(errs) or "none"
    try:
        c.close()
    except OSError as e:
        err = "close: %s" % e
    say("DUPLEX", fam, "rx", n, rx_md5.hexdigest(), "tx", progress[key][1],
        tx_md5.hexdigest(), "err", err)


def stall(c):
    fam = fam_name(c)
    key = "stall" + fam
    progress[key] = [0]
    c.settimeout(TIMEOUT)
    h, n, err, stalled = hashlib.md5(), 0, "none", False
    try:
        while True:
            if not stalled and n >= STALL_AT:
                stalled = True
                say("STALLED", fam, n)
                end = time.monotonic() + TIMEOUT
                while not os.path.exists(os.path.join(DIR, "resume")):
                    if time.monotonic() > end:
                        raise OSError("never told to resume")
                    time.sleep(0.05)
                say("RESUMED", fam, n)
            b = c.recv(min(CHUNK, STALL_AT - n) if not stalled else CHUNK)
            if not b:
                break
            n += len(b)
            h.update(b)
            progress[key][0] = n
    except OSError as e:
        err = "recv: %s" % e
    try:
        c.close()
    except OSError as e:
        err = "close: %s" % e
    say("STALL", fam, "rx", n, h.hexdigest(), "err", err)


def echo_one(c, name, nbytes):
    data = os.urandom(nbytes)
    errs = []

    def sender():
        try:
            c.sendall(data)
        except OSError as e:
            errs.append("send: %s" % e)

    t = threading.Thread(target=sender)
    t.start()
    got = bytearray()
    try:
        while len(got) < nbytes:
            b = c.recv(CHUNK)
            if not b:
                errs.append("end of file after %d bytes" % len(got))
                break
            got += b
    except OSError as e:
        errs.append("recv: %s" % e)
    t.join()
    if errs:
        say("ECHO", name, "bad", "; ".join(errs))
    elif bytes(got) != data:
        say("ECHO", name, "bad", "data differs")
    else:
        say("ECHO", name, "ok", nbytes, hashlib.md5(data).hexdigest())


def echo(ls):
    ls.settimeout(300)
    c, _ = ls.accept()
    c.settimeout(60)
    say("ECHO-ACCEPT", fam_name(c))
    # O_RDWR: the FIFO never reports end of file between writers.
    ctl = os.fdopen(os.open(os.path.join(DIR, "ctl"), os.O_RDWR), "r")
    for line in ctl:
        w = line.split()
        if w[:1] == ["echo"] and len(w) == 3:
            echo_one(c, w[1], int(w[2]))
        elif w == ["close"]:
            c.close()
            say("ECHO-CLOSED")
            return


def serve(ls, handler):
    while True:
        c, _ = ls.accept()
        threading.Thread(target=handler, args=(c,), daemon=True).start()


def status():
    path = os.path.join(DIR, "status")
    while True:
        with open(path + ".new", "w") as f:
            for k, v in sorted(progress.items()):
                f.write(" ".join([k] + [str(x) for x in v]) + "\n")
        os.replace(path + ".new", path)
        time.sleep(0.1)


def main():
    ls = [(listener(socket.AF_INET, "127.0.0.1", 5000), duplex),
          (listener(socket.AF_INET6, "::1", 5000), duplex),
          (listener(socket.AF_INET, "127.0.0.1", 5001), stall)]
    e = listener(socket.AF_INET, "127.0.0.1", 5002)
    for s, h in ls:
        threading.Thread(target=serve, args=(s, h), daemon=True).start()
    threading.Thread(target=status, daemon=True).start()
    say("READY")
    echo(e)
    threading.Event().wait()


main()
