# Test helper for test_soak.sh: both ends of a connection churn.
#
#   soak_peer.py serve PORT READY
#       TCP and UDP echo on PORT, IPv4 and IPv6, any address; touches the
#       file READY once listening; runs until killed.
#   soak_peer.py tcp HOST PORT COUNT [PARALLEL]
#       COUNT short connections to HOST:PORT, PARALLEL at a time: each sends
#       one byte, reads its echo and closes. Exit 1 if any failed.
#   soak_peer.py udp HOST PORT COUNT
#       COUNT sockets, each from its own source port: one datagram each,
#       each echoed. Exit 1 if any echo is missing.
# Prints one line of counts on stdout.
import asyncio, os, socket, sys


async def serve(port, ready):
    async def echo(reader, writer):
        try:
            while data := await reader.read(4096):
                writer.write(data)
                await writer.drain()
        except OSError:
            pass
        finally:
            writer.close()

    class UdpEcho(asyncio.DatagramProtocol):
        def connection_made(self, transport):
            self.transport = transport

        def datagram_received(self, data, addr):
            self.transport.sendto(data, addr)

    loop = asyncio.get_running_loop()
    servers = []
    for fam, any_addr in ((socket.AF_INET, "0.0.0.0"), (socket.AF_INET6, "::")):
        s = socket.socket(fam, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if fam == socket.AF_INET6:
            s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        s.bind((any_addr, port))
        s.listen(1024)
        servers.append(await asyncio.start_server(echo, sock=s))
        u = socket.socket(fam, socket.SOCK_DGRAM)
        if fam == socket.AF_INET6:
            u.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        u.bind((any_addr, port))
        await loop.create_datagram_endpoint(UdpEcho, sock=u)
    open(ready, "w").close()
    await asyncio.Event().wait()


async def tcp_churn(host, port, count, parallel):
    ok = failed = 0
    todo = iter(range(count))

    async def worker():
        nonlocal ok, failed
        for _ in todo:
            try:
                r, w = await asyncio.wait_for(asyncio.open_connection(host, port), 10)
                w.write(b"x")
                await w.drain()
                got = await asyncio.wait_for(r.readexactly(1), 10)
                w.close()
                await w.wait_closed()
                if got == b"x":
                    ok += 1
                else:
                    failed += 1
            except (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError):
                failed += 1

    await asyncio.gather(*(worker() for _ in range(parallel)))
    print(f"tcp {host} {port}: {ok} ok, {failed} failed", flush=True)
    return failed == 0 and ok == count


def udp_flows(host, port, count):
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    ok = 0
    batch = 100
    for start in range(0, count, batch):
        socks = []
        for i in range(start, min(count, start + batch)):
            s = socket.socket(fam, socket.SOCK_DGRAM)
            s.settimeout(5)
            s.sendto(b"u%d" % i, (host, port))
            socks.append((i, s))
        for i, s in socks:
            try:
                data, _ = s.recvfrom(100)
                ok += data == b"u%d" % i
            except OSError:
                pass
            s.close()
    print(f"udp {host} {port}: {ok} of {count} echoed", flush=True)
    return ok == count


def main():
    mode = sys.argv[1]
    if mode == "serve":
        asyncio.run(serve(int(sys.argv[2]), sys.argv[3]))
    elif mode == "tcp":
        parallel = int(sys.argv[5]) if len(sys.argv) > 5 else 8
        ok = asyncio.run(tcp_churn(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), parallel))
        sys.exit(0 if ok else 1)
    elif mode == "udp":
        sys.exit(0 if udp_flows(sys.argv[2], int(sys.argv[3]), int(sys.argv[4])) else 1)
    sys.exit(f"unknown mode {mode}")


if __name__ == "__main__":
    main()
