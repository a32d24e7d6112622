# Test helper for test_accept_emfile.sh: open COUNT TCP connections to
# HOST:PORT (non-blocking, whether or not they complete), touch the file
# MARK, and keep them open until the file STOP exists.
# Usage: hold_many.py HOST PORT COUNT MARK STOP
import os, socket, sys, time

host, port, count, mark, stop = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5]
socks = []
for _ in range(count):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setblocking(False)
    s.connect_ex((host, port))
    socks.append(s)
open(mark, "w").close()
while not os.path.exists(stop):
    time.sleep(0.1)
for s in socks:
    s.close()
