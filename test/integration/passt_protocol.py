#!/usr/bin/env python3
"""Speaks passt's qemu stream protocol (4-byte big-endian length, then an
Ethernet frame) as a fake guest, for test_passt_protocol.sh and
test_ll_gateway.sh.

  passt_protocol.py SOCKET full PORT OUR_MAC
      ARP request for the gateway 192.0.2.1: the reply must come from
      OUR_MAC (the daemon's MAC) with the gateway's address. DHCP DISCOVER
      asking for mask, router, DNS and MTU: the OFFER must give yiaddr
      192.0.2.2, router 192.0.2.1, mask /24 and MTU 65520. TCP SYN to
      192.0.2.1:PORT (a host listener on 127.0.0.1:PORT, run here): the
      SYN-ACK must acknowledge our ISN + 1 and carry an MSS option, and
      checksums must be right; then the handshake's ACK and a few bytes,
      which the listener must receive and which the daemon must ACK.
      Finally a frame with length 0: the daemon must close the stream.
  passt_protocol.py SOCKET ll6 PORT OUR_MAC OUR_LL HOST_SEES
      IPv6 to our link-local address OUR_LL, as a guest configured by SLAAC
      does with its router: a neighbour solicitation for OUR_LL must get an
      advertisement from OUR_MAC; a TCP SYN from our link-local address to
      [OUR_LL]:PORT must be answered from OUR_LL and OUR_MAC with right
      checksums, and after the handshake our bytes must reach a listener
      run here on [::]:PORT, which must see the connection arrive at (and
      come from) its address HOST_SEES.
  passt_protocol.py SOCKET badlen LENGTH
      Only sends the length word LENGTH (e.g. 65550): the daemon must close
      the stream without waiting for a frame body.
Prints one line per check; exit status 0 if all passed.
"""
import select, socket, struct, sys, threading, time

GUEST_MAC = bytes.fromhex("525400123456")
GUEST_IP = socket.inet_aton("192.0.2.2")
GW_IP = socket.inet_aton("192.0.2.1")
BCAST = b"\xff" * 6
TIMEOUT = 10
failures = 0


def check(cond, what):
    global failures
    print(("PASS " if cond else "FAIL ") + what, flush=True)
    if not cond:
        failures += 1
    return cond


def csum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def ipv4(src, dst, proto, payload, ident=1):
    h = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), ident, 0x4000, 64,
                    proto, 0, src, dst)
    h = h[:10] + struct.pack("!H", csum(h)) + h[12:]
    return h + payload


def l4_csum(src, dst, proto, seg):
    return csum(src + dst + struct.pack("!BBH", 0, proto, len(seg)) + seg)


def eth(dst, src, etype, payload):
    return dst + src + struct.pack("!H", etype) + payload


class Stream:
    def __init__(self, path):
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.s.connect(path)
        self.buf = b""

    def send(self, frame):
        self.s.sendall(struct.pack("!I", len(frame)) + frame)

    def _fill(self, deadline):
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([self.s], [], [], left)[0]:
            return False
        b = self.s.recv(65536)
        if not b:
            raise EOFError
        self.buf += b
        return True

    def recv_frame(self, deadline):
        while len(self.buf) < 4 or len(self.buf) < 4 + struct.unpack("!I", self.buf[:4])[0]:
            if not self._fill(deadline):
                return None
        n = struct.unpack("!I", self.buf[:4])[0]
        f, self.buf = self.buf[4:4 + n], self.buf[4 + n:]
        return f

    def wait_for(self, pred, what, tmo=TIMEOUT):
        """First frame for which pred returns a value; frames the daemon
        sends on its own (RAs, ARP announcements) are skipped."""
        deadline = time.monotonic() + tmo
        while True:
            f = self.recv_frame(deadline)
            if f is None:
                check(False, what + ": nothing within %d s" % tmo)
                return None
            r = pred(f)
            if r is not None:
                return r

    def closed_by_peer(self, tmo=TIMEOUT):
        deadline = time.monotonic() + tmo
        try:
            while True:
                if not self._fill(deadline):
                    return False
                self.buf = b""
        except (EOFError, ConnectionResetError):
            return True


def parse_ipv4(f, proto):
    """(ip header, l4 segment) of an IPv4 frame of protocol proto, or None."""
    if len(f) < 34 or f[12:14] != b"\x08\x00":
        return None
    ip = f[14:]
    ihl = (ip[0] & 15) * 4
    tot = struct.unpack("!H", ip[2:4])[0]
    if ip[0] >> 4 != 4 or ihl < 20 or tot > len(ip) or ip[9] != proto:
        return None
    return ip[:ihl], ip[ihl:tot]


def test_arp(st, our_mac):
    req = struct.pack("!HHBBH6s4s6s4s", 1, 0x0800, 6, 4, 1, GUEST_MAC, GUEST_IP,
                      b"\0" * 6, GW_IP)
    st.send(eth(BCAST, GUEST_MAC, 0x0806, req))

    def is_reply(f):
        if f[12:14] != b"\x08\x06" or len(f) < 42:
            return None
        a = struct.unpack("!HHBBH6s4s6s4s", f[14:42])
        return (f, a) if a[4] == 2 and a[6] == GW_IP else None
    r = st.wait_for(is_reply, "ARP reply for 192.0.2.1")
    if not r:
        return
    f, a = r
    check(a[5] == our_mac, "ARP reply: sender MAC %s is the daemon's %s" % (a[5].hex(":"), our_mac.hex(":")))
    check(f[6:12] == our_mac and f[0:6] == GUEST_MAC, "ARP reply: Ethernet addresses")
    check(a[7] == GUEST_MAC and a[8] == GUEST_IP, "ARP reply: target is us")


def test_dhcp(st):
    xid = 0x12345678
    bootp = struct.pack("!BBBBIHH4s4s4s4s16s64s128s", 1, 1, 6, 0, xid, 0, 0x8000,
                        b"\0" * 4, b"\0" * 4, b"\0" * 4, b"\0" * 4,
                        GUEST_MAC + b"\0" * 10, b"", b"")
    opts = b"\x63\x82\x53\x63" + bytes([53, 1, 1, 55, 4, 1, 3, 6, 26, 255])
    udp_payload = bootp + opts
    udp = struct.pack("!HHHH", 68, 67, 8 + len(udp_payload), 0) + udp_payload
    zero, bc = b"\0" * 4, b"\xff" * 4
    c = l4_csum(zero, bc, 17, udp)
    udp = udp[:6] + struct.pack("!H", c or 0xFFFF) + udp[8:]
    st.send(eth(BCAST, GUEST_MAC, 0x0800, ipv4(zero, bc, 17, udp)))

    def is_offer(f):
        p = parse_ipv4(f, 17)
        if not p or len(p[1]) < 8 + 240 or p[1][0:4] != struct.pack("!HH", 67, 68):
            return None
        b = p[1][8:]
        if struct.unpack("!I", b[4:8])[0] != xid or b[236:240] != b"\x63\x82\x53\x63":
            return None
        opts, i = {}, 240
        while i < len(b) and b[i] != 255:
            if b[i] == 0:
                i += 1
                continue
            if i + 2 > len(b) or i + 2 + b[i + 1] > len(b):
                return (b, None)
            opts[b[i]] = b[i + 2:i + 2 + b[i + 1]]
            i += 2 + b[i + 1]
        return (b, opts)
    r = st.wait_for(is_offer, "DHCP OFFER")
    if not r:
        return
    b, o = r
    if not check(o is not None, "DHCP OFFER: options well formed"):
        return
    check(b[0] == 2, "DHCP OFFER: BOOTREPLY")
    check(o.get(53) == b"\x02", "DHCP OFFER: message type OFFER (got %r)" % o.get(53))
    check(b[16:20] == GUEST_IP, "DHCP OFFER: yiaddr %s" % socket.inet_ntoa(b[16:20]))
    check(b[28:34] == GUEST_MAC, "DHCP OFFER: chaddr is ours")
    check(o.get(3, b"")[:4] == GW_IP, "DHCP OFFER: router 192.0.2.1 (got %r)" % o.get(3))
    check(o.get(1) == socket.inet_aton("255.255.255.0"), "DHCP OFFER: mask /24")
    check(o.get(26) == struct.pack("!H", 65520), "DHCP OFFER: MTU 65520 (got %r)" % o.get(26))
    check(54 in o, "DHCP OFFER: server identifier present")


def serve_one(lst, want, got, seen=None):
    """Accepts one connection on lst and appends the first want bytes it
    sends to got (or the error); seen, if given, gets (local, peer)."""
    try:
        c, peer = lst.accept()
        if seen is not None:
            seen.append((c.getsockname()[0].split("%")[0], peer[0].split("%")[0]))
        c.settimeout(TIMEOUT)
        data = b""
        while len(data) < want:
            b = c.recv(100)
            if not b:
                break
            data += b
        got.append(data)
        c.close()
    except OSError as e:
        got.append(repr(e).encode())


def tcp_seg(sport, dport, seq, ack, flags, payload=b"", opts=b"", win=65535):
    hl = 20 + len(opts)
    t = struct.pack("!HHIIBBHHH", sport, dport, seq, ack, (hl // 4) << 4, flags, win, 0, 0)
    t += opts + payload
    c = l4_csum(GUEST_IP, GW_IP, 6, t)
    t = t[:16] + struct.pack("!H", c) + t[18:]
    return eth(st_gw_mac, GUEST_MAC, 0x0800, ipv4(GUEST_IP, GW_IP, 6, t))


def test_tcp(st, port):
    got = []
    lst = socket.socket()
    lst.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    lst.bind(("127.0.0.1", port))
    lst.listen(1)
    lst.settimeout(TIMEOUT)

    msg = b"hello from the fake guest\n"
    th = threading.Thread(target=serve_one, args=(lst, len(msg), got))
    th.start()

    sport, isn = 40000, 1000000
    st.send(tcp_seg(sport, port, isn, 0, 0x02, opts=struct.pack("!BBH", 2, 4, 1460)))

    def is_ours(f):
        p = parse_ipv4(f, 6)
        if not p or len(p[1]) < 20:
            return None
        if struct.unpack("!HH", p[1][0:4]) != (port, sport):
            return None
        return f, p[0], p[1]

    r = st.wait_for(is_ours, "TCP SYN-ACK")
    if r:
        f, iph, seg = r
        sp, dp, seq, ack, off, flags, win = struct.unpack("!HHIIBBH", seg[:16])
        hl = (off >> 4) * 4
        check(flags & 0x3F == 0x12, "SYN-ACK: flags SYN|ACK (got 0x%02x)" % flags)
        check(ack == isn + 1, "SYN-ACK: ack = our ISN + 1 (got %d, want %d)" % (ack, isn + 1))
        check(iph[12:16] == GW_IP and iph[16:20] == GUEST_IP, "SYN-ACK: addresses")
        check(csum(iph) == 0, "SYN-ACK: IPv4 header checksum")
        check(l4_csum(iph[12:16], iph[16:20], 6, seg) == 0, "SYN-ACK: TCP checksum")
        mss, o = None, seg[20:hl]
        i = 0
        while i < len(o):
            if o[i] == 0:
                break
            if o[i] == 1:
                i += 1
                continue
            if i + 1 >= len(o) or o[i + 1] < 2:
                break
            if o[i] == 2 and o[i + 1] == 4:
                mss = struct.unpack("!H", o[i + 2:i + 4])[0]
            i += o[i + 1]
        check(mss is not None and 536 <= mss <= 65495,
              "SYN-ACK: MSS option (got %r)" % mss)
        # Handshake, then data.
        st.send(tcp_seg(sport, port, isn + 1, seq + 1, 0x10))
        st.send(tcp_seg(sport, port, isn + 1, seq + 1, 0x18, msg))

        def acks_data(fr):
            x = is_ours(fr)
            if not x:
                return None
            a = struct.unpack("!I", x[2][8:12])[0]
            return a if x[2][13] & 0x10 and a == isn + 1 + len(msg) else None
        check(st.wait_for(acks_data, "ACK of our data") is not None,
              "daemon ACKed our %d bytes" % len(msg))
    th.join(TIMEOUT + 1)
    check(got == [msg], "host listener received %r (got %r)" % (msg, got))
    # Leave the connection with a reset so nothing lingers.
    if r:
        st.send(tcp_seg(sport, port, isn + 1 + len(msg), 0, 0x04))
    lst.close()


GUEST_LL = socket.inet_pton(socket.AF_INET6, "fe80::5054:ff:fe12:3456")


def ipv6(src, dst, nh, payload, hop=64):
    return struct.pack("!IHBB16s16s", 6 << 28, len(payload), nh, hop, src, dst) + payload


def parse_ipv6(f, nh):
    """(ip header, l4 payload) of an IPv6 frame with next header nh, or None."""
    if len(f) < 54 or f[12:14] != b"\x86\xdd" or f[14] >> 4 != 6:
        return None
    plen = struct.unpack("!H", f[18:20])[0]
    if f[20] != nh or 54 + plen > len(f):
        return None
    return f[14:54], f[54:54 + plen]


def test_ll6(st, port, our_mac, our_ll, host_sees):
    ll = socket.inet_pton(socket.AF_INET6, our_ll)
    # Neighbour solicitation for our_ll, to its solicited-node group.
    snm = socket.inet_pton(socket.AF_INET6, "ff02::1:ff00:0")[:13] + ll[13:]
    ns = struct.pack("!BBHI16s", 135, 0, 0, 0, ll) + struct.pack("!BB6s", 1, 1, GUEST_MAC)
    c = l4_csum(GUEST_LL, snm, 58, ns)
    ns = ns[:2] + struct.pack("!H", c) + ns[4:]
    st.send(eth(b"\x33\x33" + snm[12:], GUEST_MAC, 0x86DD, ipv6(GUEST_LL, snm, 58, ns, 255)))

    def is_na(f):
        p = parse_ipv6(f, 58)
        if not p or len(p[1]) < 24 or p[1][0] != 136 or p[1][8:24] != ll:
            return None
        return f, p[0], p[1]
    r = st.wait_for(is_na, "NA for " + our_ll)
    if r:
        f, iph, na = r
        check(f[6:12] == our_mac, "NA: from the daemon's MAC")
        opts, tll = na[24:], None
        while len(opts) >= 8 and opts[1]:
            if opts[0] == 2:
                tll = opts[2:8]
            opts = opts[opts[1] * 8:]
        check(tll == our_mac, "NA: target link-layer address is the daemon's MAC")

    got, seen = [], []
    lst = socket.socket(socket.AF_INET6)
    lst.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    lst.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
    lst.bind(("::", port))
    lst.listen(1)
    lst.settimeout(TIMEOUT)
    msg = b"hello to the router's link-local address\n"
    th = threading.Thread(target=serve_one, args=(lst, len(msg), got, seen))
    th.start()

    def seg6(seq, ack, flags, payload=b"", opts=b""):
        hl = 20 + len(opts)
        t = struct.pack("!HHIIBBHHH", sport, port, seq, ack, (hl // 4) << 4, flags, 65535, 0, 0)
        t += opts + payload
        t = t[:16] + struct.pack("!H", l4_csum(GUEST_LL, ll, 6, t)) + t[18:]
        return eth(our_mac, GUEST_MAC, 0x86DD, ipv6(GUEST_LL, ll, 6, t))

    sport, isn = 40002, 3000000
    st.send(seg6(isn, 0, 0x02, opts=struct.pack("!BBH", 2, 4, 1440)))

    def is_ours(f):
        p = parse_ipv6(f, 6)
        if not p or len(p[1]) < 20 or struct.unpack("!HH", p[1][0:4]) != (port, sport):
            return None
        return f, p[0], p[1]
    r = st.wait_for(is_ours, "TCP SYN-ACK from " + our_ll)
    if r:
        f, iph, seg = r
        seq, ack, flags = struct.unpack("!I", seg[4:8])[0], struct.unpack("!I", seg[8:12])[0], seg[13]
        check(flags & 0x3F == 0x12, "SYN-ACK: flags SYN|ACK (got 0x%02x)" % flags)
        check(ack == isn + 1, "SYN-ACK: ack = our ISN + 1")
        check(iph[8:24] == ll and iph[24:40] == GUEST_LL,
              "SYN-ACK: from %s to our link-local address" % our_ll)
        check(f[6:12] == our_mac and f[0:6] == GUEST_MAC, "SYN-ACK: Ethernet addresses")
        check(l4_csum(iph[8:24], iph[24:40], 6, seg) == 0, "SYN-ACK: TCP checksum")
        st.send(seg6(isn + 1, seq + 1, 0x10))
        st.send(seg6(isn + 1, seq + 1, 0x18, msg))

        def acks_data(fr):
            x = is_ours(fr)
            if not x:
                return None
            a = struct.unpack("!I", x[2][8:12])[0]
            return a if x[2][13] & 0x10 and a == isn + 1 + len(msg) else None
        check(st.wait_for(acks_data, "ACK of our data") is not None,
              "daemon ACKed our %d bytes" % len(msg))
    th.join(TIMEOUT + 1)
    check(got == [msg], "host listener on [::] received %r (got %r)" % (msg, got))
    check(seen == [(host_sees, host_sees)],
          "host saw the connection at and from %s (got %r)" % (host_sees, seen))
    if r:
        st.send(seg6(isn + 1 + len(msg), 0, 0x04))
    lst.close()


def test_tcp_gone(st, port):
    """Handshake, then the guest disconnects: the host end must be reset."""
    lst = socket.socket()
    lst.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    lst.bind(("127.0.0.1", port))
    lst.listen(1)
    lst.settimeout(TIMEOUT)
    sport, isn = 40001, 2000000
    st.send(tcp_seg(sport, port, isn, 0, 0x02, opts=struct.pack("!BBH", 2, 4, 1460)))

    def syn_ack(f):
        p = parse_ipv4(f, 6)
        if not p or len(p[1]) < 20 or struct.unpack("!HH", p[1][0:4]) != (port, sport):
            return None
        return p[1] if p[1][13] & 0x3F == 0x12 else None
    seg = st.wait_for(syn_ack, "TCP SYN-ACK")
    check(seg is not None, "gone: SYN-ACK")
    if seg is None:
        lst.close()
        return
    seq = struct.unpack("!I", seg[4:8])[0]
    st.send(tcp_seg(sport, port, isn + 1, seq + 1, 0x10))
    try:
        c, _ = lst.accept()
    except OSError as e:
        check(False, "gone: host accepted the connection (%r)" % e)
        lst.close()
        return
    # The guest vanishes without a word.
    st.s.close()
    c.settimeout(TIMEOUT)
    start = time.monotonic()
    try:
        data = c.recv(100)
        outcome = "EOF" if data == b"" else "data %r" % data
    except ConnectionResetError:
        outcome = "reset"
    except OSError as e:
        outcome = repr(e)
    took = time.monotonic() - start
    check(outcome == "reset" and took < 3,
          "gone: host end reset when the guest disconnected (got %s after %.1f s)"
          % (outcome, took))
    c.close()
    lst.close()


def main():
    global st_gw_mac
    path, mode = sys.argv[1], sys.argv[2]
    st = Stream(path)
    if mode == "full":
        port, our_mac = int(sys.argv[3]), bytes.fromhex(sys.argv[4].replace(":", ""))
        st_gw_mac = our_mac
        test_arp(st, our_mac)
        test_dhcp(st)
        test_tcp(st, port)
        st.s.sendall(b"\0\0\0\0")
        check(st.closed_by_peer(), "stream closed after a frame of length 0")
    elif mode == "gone":
        test_tcp_gone(st, int(sys.argv[3]))
    elif mode == "ll6":
        port, our_mac = int(sys.argv[3]), bytes.fromhex(sys.argv[4].replace(":", ""))
        test_ll6(st, port, our_mac, sys.argv[5], sys.argv[6])
    elif mode == "badlen":
        st.s.sendall(struct.pack("!I", int(sys.argv[3])))
        check(st.closed_by_peer(), "stream closed after length %s" % sys.argv[3])
    else:
        sys.exit("unknown mode " + mode)
    print("RESULT", "FAIL" if failures else "PASS", failures, flush=True)
    sys.exit(1 if failures else 0)


st_gw_mac = b"\0" * 6
if __name__ == "__main__":
    main()
