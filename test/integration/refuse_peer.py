# Test helper for test_refuse_nofile.sh.
#
#   refuse_peer.py echo PORT READY
#       UDP echo servers on 0.0.0.0:PORT and [::]:PORT; touch READY; run
#       until killed.
#   refuse_peer.py flows ADDR PORT COUNT
#       COUNT connected UDP sockets to ADDR:PORT, one after the other (each
#       a new flow for pasta, from its own source port, which outlives the
#       socket); each sends one datagram and waits up to 3 s for the echo or
#       an error. Paced at 2 ms a flow: pasta sends at most 1000 ICMP
#       errors a second (flow/refuse.h), and this must not test that. Prints "echo=N <ERRNO NAME>=N ...
#       timeout=N" on one line.
#   refuse_peer.py connect ADDR PORT
#       One TCP connection attempt (5 s at most): prints "connected", the
#       errno name, or "timeout", and how long it took in milliseconds.
import errno
import os
import select
import socket
import sys
import time


def family(addr):
    return socket.AF_INET6 if ":" in addr else socket.AF_INET


def echo(port, ready):
    socks = []
    for fam, addr in ((socket.AF_INET, "0.0.0.0"), (socket.AF_INET6, "::")):
        s = socket.socket(fam, socket.SOCK_DGRAM)
        if fam == socket.AF_INET6:
            s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        s.bind((addr, port))
        socks.append(s)
    open(ready, "w").close()
    while True:
        r, _, _ = select.select(socks, [], [])
        for s in r:
            data, peer = s.recvfrom(65536)
            s.sendto(data, peer)


def flows(addr, port, count):
    results = {}
    for i in range(count):
        s = socket.socket(family(addr), socket.SOCK_DGRAM)
        s.connect((addr, port))
        s.settimeout(3)
        payload = b"flow %d" % i
        try:
            s.send(payload)
            data = s.recv(65536)
            what = "echo" if data == payload else "corrupt"
        except socket.timeout:
            what = "timeout"
        except OSError as e:
            what = errno.errorcode.get(e.errno, str(e.errno))
        s.close()
        time.sleep(0.002)
        results[what] = results.get(what, 0) + 1
        if results.get("timeout", 0) >= 5:
            break  # unanswered: no need to wait 3 s for each of the rest
    print(" ".join("%s=%d" % kv for kv in sorted(results.items())))
    sys.stdout.flush()


def connect(addr, port):
    s = socket.socket(family(addr), socket.SOCK_STREAM)
    s.settimeout(5)
    t = time.monotonic()
    try:
        s.connect((addr, port))
        what = "connected"
    except socket.timeout:
        what = "timeout"
    except OSError as e:
        what = errno.errorcode.get(e.errno, str(e.errno))
    print("%s %d" % (what, (time.monotonic() - t) * 1000))


cmd = sys.argv[1]
if cmd == "echo":
    echo(int(sys.argv[2]), sys.argv[3])
elif cmd == "flows":
    flows(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
elif cmd == "connect":
    connect(sys.argv[2], int(sys.argv[3]))
else:
    sys.exit("unknown command " + cmd)
