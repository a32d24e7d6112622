# Test helper for the auto-forwarding tests (test_pasta_auto*.sh): connect
# to HOST:PORT within SECONDS (retrying refused attempts), send MSG, then
# keep the connection open: read lines from the FIFO CTL and send each one;
# exit at "quit". Exit 2 if no connection could be made.
# Usage: hold_conn.py HOST PORT SECONDS MSG CTL
import socket, sys, time
host, port, secs, msg, ctl = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), sys.argv[4], sys.argv[5]
end = time.time() + secs
while True:
    try:
        s = socket.create_connection((host, port), timeout=1)
        break
    except OSError:
        if time.time() > end:
            sys.exit(2)
        time.sleep(0.05)
s.sendall(msg.encode() + b"\n")
print("connected", flush=True)
with open(ctl) as f:
    for line in f:
        line = line.strip()
        if line == "quit":
            break
        s.sendall(line.encode() + b"\n")
        print("sent", line, flush=True)
s.close()
