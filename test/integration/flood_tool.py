# Flood and probe helpers for test_flood.sh (python3, standard library).
#
#   udp-flood DST PORT COUNT   COUNT UDP datagrams to DST:PORT, each from
#                              a different source in 198.51.100.0/24 (raw
#                              socket: the test routes that prefix to lo)
#   syn-flood SRC DST PORT COUNT  COUNT TCP SYNs SRC:random -> DST:PORT
#   hold-listener ADDR PORT STOP  listen (backlog 1), never accept, until
#                              the file STOP exists
#   probe ADDR PORT DEADLINE [BYTES]  connect (retrying) and echo BYTES
#                              (default 256 KiB) through the peer, compare; prints the seconds until
#                              the first connection that worked, exit 1 if
#                              none did within DEADLINE seconds
import os, random, socket, struct, sys, time

def csum(b):
    if len(b) & 1:
        b += b'\0'
    s = sum(struct.unpack('!%dH' % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xffff) + (s >> 16)
    return s

def ip4(src, dst, proto, payload):
    return struct.pack('!BBHHHBBH4s4s', 0x45, 0, 20 + len(payload), 0, 0x4000, 64, proto,
                       0, socket.inet_aton(src), socket.inet_aton(dst)) + payload

def raw():
    s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
    s.setsockopt(socket.IPPROTO_IP, socket.IP_HDRINCL, 1)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)
    return s

def send_all(s, pkt, dst):
    while True:
        try:
            s.sendto(pkt, (dst, 0))
            return
        except (BlockingIOError, OSError) as e:
            if getattr(e, 'errno', 0) not in (11, 105):
                raise
            time.sleep(0.001)

cmd = sys.argv[1]
if cmd == 'udp-flood':
    dst, port, count = sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    s = raw()
    t0 = time.time()
    for n in range(count):
        src = '198.51.100.%d' % (1 + n % 250)
        sport = 1024 + n // 250
        udp = struct.pack('!HHHH', sport, port, 8 + 4, 0) + b'ping'
        send_all(s, ip4(src, dst, 17, udp), dst)
    print('%d datagrams in %.1f s' % (count, time.time() - t0))
elif cmd == 'syn-flood':
    src, dst, port, count = sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
    s = raw()
    pseudo = socket.inet_aton(src) + socket.inet_aton(dst) + struct.pack('!BBH', 0, 6, 20)
    t0 = time.time()
    for n in range(count):
        sport = random.randint(1024, 65535)
        seq = random.getrandbits(32)
        tcp = struct.pack('!HHIIBBHHH', sport, port, seq, 0, 5 << 4, 0x02, 64240, 0, 0)
        c = 0xffff - csum(pseudo + tcp)
        tcp = tcp[:16] + struct.pack('!H', c) + tcp[18:]
        send_all(s, ip4(src, dst, 6, tcp), dst)
    print('%d SYNs in %.1f s' % (count, time.time() - t0))
elif cmd == 'hold-listener':
    addr, port, stop = sys.argv[2], int(sys.argv[3]), sys.argv[4]
    ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind((addr, port))
    ls.listen(1)
    while not os.path.exists(stop):
        time.sleep(0.2)
elif cmd == 'probe':
    addr, port, limit = sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
    data = os.urandom(int(sys.argv[5]) if len(sys.argv) > 5 else 256 << 10)
    t0 = time.time()
    last = ''
    while time.time() - t0 < limit:
        try:
            c = socket.create_connection((addr, port), timeout=max(0.2, limit - (time.time() - t0)))
            c.settimeout(10)
            c.sendall(data)
            c.shutdown(socket.SHUT_WR)
            got = bytearray()
            while True:
                b = c.recv(65536)
                if not b:
                    break
                got += b
            c.close()
            if bytes(got) == data:
                print('%.2f' % (time.time() - t0))
                sys.exit(0)
            last = 'echo differs (%d of %d bytes)' % (len(got), len(data))
        except OSError as e:
            last = str(e)
        time.sleep(0.1)
    print('none within %.0f s (%s)' % (limit, last))
    sys.exit(1)
