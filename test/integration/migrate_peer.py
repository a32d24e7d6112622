# Test helper for the live migration tests (test_frontend_vhost_user_migrate.sh,
# test_passt_migrate.sh): both ends of one TCP connection that carries data
# both ways at once, paced, so that a migration happens in the middle.
#
#   migrate_peer.py serve ADDR PORT BYTES RATE READY [GATE]
#       accepts one connection on ADDR:PORT (touches READY once listening),
#       then sends BYTES and receives BYTES at the same time
#   migrate_peer.py connect ADDR PORT BYTES RATE [GATE]
#       connects (retrying for 10 s) and does the same
#
# Sending: BYTES of a deterministic stream (SHA-256 in counter mode over
# the port number and the role: the two directions differ), RATE bytes per second (0: as fast as possible).
# Receiving: with GATE, nothing is read until the file GATE exists (a peer
# that stops reading, so that data waits in the queues), then everything.
# At the end, one line: "sent BYTES SHA recv BYTES SHA", exit 0; a
# connection error (a reset, an early end of file) prints it and exits 1.
import hashlib, os, socket, sys, threading, time

CHUNK = 65536


def stream_chunk(port, i):
    out = b""
    for k in range(CHUNK // 32):
        out += hashlib.sha256(b"%d:%d:%d" % (port, i, k)).digest()
    return out


def run(s, seed, nbytes, rate, gate):
    result = {}

    def sender():
        h = hashlib.sha256()
        sent, i, t0 = 0, 0, time.monotonic()
        try:
            while sent < nbytes:
                c = stream_chunk(seed, i)[: nbytes - sent]
                s.sendall(c)
                h.update(c)
                sent += len(c)
                i += 1
                if rate:
                    ahead = sent / rate - (time.monotonic() - t0)
                    if ahead > 0:
                        time.sleep(ahead)
            s.shutdown(socket.SHUT_WR)
        except OSError as e:
            result["error"] = "send: %s" % e
        result["sent"] = (sent, h.hexdigest())

    t = threading.Thread(target=sender)
    t.start()
    h = hashlib.sha256()
    got = 0
    try:
        if gate:
            while not os.path.exists(gate):
                time.sleep(0.02)
        while True:
            b = s.recv(1 << 20)
            if not b:
                break
            h.update(b)
            got += len(b)
    except OSError as e:
        result["error"] = "recv: %s" % e
    t.join()
    s.close()
    sent, ssha = result["sent"]
    print("sent %d %s recv %d %s" % (sent, ssha, got, h.hexdigest()), flush=True)
    if "error" in result:
        print(result["error"], file=sys.stderr, flush=True)
        sys.exit(1)
    if got != nbytes:
        print("recv: %d bytes of %d" % (got, nbytes), file=sys.stderr, flush=True)
        sys.exit(1)


def main():
    mode, addr, port, nbytes, rate = sys.argv[1:6]
    port, nbytes, rate = int(port), int(nbytes), float(rate)
    fam = socket.AF_INET6 if ":" in addr else socket.AF_INET
    if mode == "serve":
        ready = sys.argv[6]
        gate = sys.argv[7] if len(sys.argv) > 7 else None
        ls = socket.socket(fam, socket.SOCK_STREAM)
        ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        ls.bind((addr, port))
        ls.listen(1)
        open(ready, "w").close()
        s, _ = ls.accept()
        ls.close()
    else:
        gate = sys.argv[6] if len(sys.argv) > 6 else None
        end = time.monotonic() + 10
        while True:
            try:
                s = socket.create_connection((addr, port), timeout=5)
                s.settimeout(None)
                break
            except OSError:
                if time.monotonic() > end:
                    raise
                time.sleep(0.1)
    run(s, port * 2 + (mode == "serve"), nbytes, rate, gate)


main()
