"""The watcher of a vLLM group spanning hosts, run as each member's first process (stdlib only: it runs inside the
vLLM image, which has no taustack; the compose file carries this file's text).

vLLM does not recover a multi-node group: when a follower dies the head keeps answering /health and hangs every
request; when the head dies the followers hang. So every member holds a heartbeat connection to the head's watcher
(ADDRESS:PORT on the private network) and the whole group goes down together: a member whose engine exits, whose
peer's connection closes, or who hears nothing for TIMEOUT seconds stops its engine and exits 1; Docker's restart
policy starts each member again, and the followers join the new head before starting their engines. A member
stopped on purpose (docker stop, taustack down) stays down, and the others wait for it.

Usage: vllm_group.py --role head|follower --address ADDR --head ADDR --port PORT --members N -- vllm serve ...
The engine's pid is written to STATE/taustack-engine.pid; a follower marks STATE/taustack-group-joined once it joined
(--state-dir STATE, default /tmp).
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import os
import select
import signal
import socket
import struct
import subprocess
import sys
import time
from collections.abc import Sequence

PING_S = 1.0
TIMEOUT_S = 10.0
JOINED = "taustack-group-joined"
PID_FILE = "taustack-engine.pid"
SIOCGIFADDR = 0x8915


def say(message: str) -> None:
    print(f"[taustack vllm-group] {message}", file=sys.stderr, flush=True)


def interface_of(address: str) -> str | None:
    """The network interface holding `address` (for GLOO_SOCKET_IFNAME / NCCL_SOCKET_IFNAME)."""
    if ":" in address:
        packed = socket.inet_pton(socket.AF_INET6, address).hex()
        with contextlib.suppress(OSError), open("/proc/net/if_inet6", encoding="ascii") as table:
            for line in table:
                fields = line.split()
                if fields and fields[0] == packed:
                    return fields[-1]
        return None
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        for _, name in socket.if_nameindex():
            try:
                answer = fcntl.ioctl(probe.fileno(), SIOCGIFADDR, struct.pack("256s", name[:15].encode()))
            except OSError:
                continue
            if socket.inet_ntoa(answer[20:24]) == address:
                return name
    finally:
        probe.close()
    return None


def engine_environment(address: str) -> dict[str, str]:
    """The interface variables vLLM, Gloo and NCCL read, from this host's private address."""
    environment = dict(os.environ)
    environment.setdefault("VLLM_HOST_IP", address)
    name = interface_of(address)
    if name is None:
        say(f"no interface holds {address}: Gloo and NCCL pick one themselves")
    else:
        environment.setdefault("GLOO_SOCKET_IFNAME", name)
        environment.setdefault("NCCL_SOCKET_IFNAME", name)
    return environment


class Engine:
    """The vLLM process tree, in a session of its own so that the whole tree can be stopped."""

    def __init__(self, argv: Sequence[str], environment: dict[str, str], state: str) -> None:
        self.process = subprocess.Popen(list(argv), env=environment, start_new_session=True)
        with open(os.path.join(state, PID_FILE), "w", encoding="ascii") as pid:
            pid.write(f"{self.process.pid}\n")

    def exited(self) -> int | None:
        return self.process.poll()

    def stop(self) -> None:
        if self.process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()


class Peer:
    """One heartbeat connection: lines in, the time of the last one."""

    def __init__(self, connection: socket.socket, name: str) -> None:
        self.connection, self.name, self.heard, self.buffer = connection, name, time.monotonic(), b""

    def read(self) -> bool:
        """Take what arrived; False when the peer closed the connection."""
        try:
            data = self.connection.recv(4096)
        except OSError:
            return False
        if not data:
            return False
        self.heard, self.buffer = time.monotonic(), (self.buffer + data)[-4096:]
        return True

    def send(self, line: str) -> bool:
        try:
            self.connection.sendall(line.encode() + b"\n")
        except OSError:
            return False
        return True


def head(args: argparse.Namespace, engine_argv: Sequence[str]) -> str:
    """Start the engine, take the followers' heartbeats; the reason the group must go down."""
    listener = socket.socket(socket.AF_INET6 if ":" in args.address else socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind((args.address, args.port))
    listener.listen(16)
    engine = Engine(engine_argv, engine_environment(args.address), args.state_dir)
    peers: list[Peer] = []
    reason = ""
    try:
        last_ping = 0.0
        while not reason:
            ready, _, _ = select.select([listener, *(p.connection for p in peers)], [], [], PING_S / 2)
            if listener in ready:
                connection, (peer_address, *_) = listener.accept()
                peers.append(Peer(connection, peer_address))
                say(f"follower {peer_address} joined ({len(peers)} of {args.members - 1})")
            for peer in peers:
                if peer.connection in ready and not peer.read():
                    reason = f"follower {peer.name} left the group"
            now = time.monotonic()
            if now - last_ping >= PING_S:
                last_ping = now
                for peer in peers:
                    if not peer.send("ping") or now - peer.heard > TIMEOUT_S:
                        reason = reason or f"follower {peer.name} silent for {TIMEOUT_S:.0f}s"
            code = engine.exited()
            if code is not None:
                reason = reason or f"the engine exited ({code})"
    finally:
        listener.close()
        for peer in peers:
            peer.connection.close()
        engine.stop()
    return reason


def follower(args: argparse.Namespace, engine_argv: Sequence[str]) -> str:
    """Join the head's watcher (waiting for it), then start the engine; the reason the group must go down."""
    family = socket.AF_INET6 if ":" in args.head else socket.AF_INET
    while True:
        connection = socket.socket(family, socket.SOCK_STREAM)
        try:
            connection.settimeout(3)
            connection.connect((args.head, args.port))
            connection.settimeout(None)
            break
        except OSError:
            connection.close()
            time.sleep(1)
    peer = Peer(connection, args.head)
    peer.send("join")
    say(f"joined the head at {args.head}:{args.port}")
    joined = os.path.join(args.state_dir, JOINED)
    with open(joined, "w", encoding="ascii"):
        pass
    engine = Engine(engine_argv, engine_environment(args.address), args.state_dir)
    reason = ""
    try:
        while not reason:
            ready, _, _ = select.select([connection], [], [], PING_S / 2)
            if ready and not peer.read():
                reason = "the head left the group"
            elif time.monotonic() - peer.heard > TIMEOUT_S:
                reason = f"the head silent for {TIMEOUT_S:.0f}s"
            elif ready and not peer.send("pong"):
                reason = "the head left the group"
            code = engine.exited()
            if code is not None:
                reason = reason or f"the engine exited ({code})"
    finally:
        connection.close()
        with contextlib.suppress(OSError):
            os.unlink(joined)
        engine.stop()
    return reason


def parse(argv: Sequence[str]) -> tuple[argparse.Namespace, list[str]]:
    if "--" not in argv:
        raise SystemExit("usage: vllm_group.py --role head|follower --address A --head A --port P --members N -- CMD")
    split = list(argv).index("--")
    parser = argparse.ArgumentParser(prog="vllm_group.py")
    parser.add_argument("--role", choices=("head", "follower"), required=True)
    parser.add_argument("--address", required=True)
    parser.add_argument("--head", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--members", type=int, required=True)
    parser.add_argument("--state-dir", default="/tmp")
    return parser.parse_args(list(argv)[:split]), list(argv)[split + 1:]


def main(argv: Sequence[str] | None = None) -> int:
    args, engine_argv = parse(sys.argv[1:] if argv is None else argv)
    stopping: list[int] = []

    def stop(signum: int, _frame: object) -> None:  # docker stop: the engine stops, the member stays down
        stopping.append(signum)
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    try:
        reason = head(args, engine_argv) if args.role == "head" else follower(args, engine_argv)
    except KeyboardInterrupt:
        say("stopped")
        return 0
    say(f"{reason}: the whole group restarts (this member exits 1; Docker's restart policy starts it again)")
    return 1


if __name__ == "__main__":
    sys.exit(main())
