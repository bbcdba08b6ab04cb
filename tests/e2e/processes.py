"""A server's processes and the TCP sockets they hold, read from Linux's /proc."""

import contextlib
from dataclasses import dataclass
from pathlib import Path

PROC = Path("/proc")
LISTEN = "0A"  # /proc/net/tcp's state of a listening socket


@dataclass(frozen=True)
class TcpSocket:
    local_port: int
    remote_port: int
    state: str
    inode: int


def children(pid: int) -> list[int]:
    found = []
    for stat in PROC.glob("[0-9]*/stat"):
        with contextlib.suppress(OSError):
            # "pid (name) state ppid ...": the name may hold spaces and parentheses.
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[1]) == pid:
                found.append(int(stat.parent.name))
    return sorted(found)


def tcp_sockets(pid: int) -> list[TcpSocket]:
    """The IPv4 TCP sockets this process holds open."""
    held = _socket_inodes(pid)
    return [socket for socket in _tcp_table() if socket.inode in held]


def is_running(pid: int) -> bool:
    return (PROC / str(pid)).exists()


def _socket_inodes(pid: int) -> set[int]:
    inodes = set()
    for fd in (PROC / str(pid) / "fd").iterdir():
        with contextlib.suppress(OSError):
            target = fd.readlink().name
            if target.startswith("socket:["):
                inodes.add(int(target[len("socket:[") : -1]))
    return inodes


def _tcp_table() -> list[TcpSocket]:
    rows = (PROC / "net" / "tcp").read_text().splitlines()[1:]
    sockets = []
    for row in rows:
        fields = row.split()
        sockets.append(
            TcpSocket(
                local_port=int(fields[1].split(":")[1], 16),
                remote_port=int(fields[2].split(":")[1], 16),
                state=fields[3],
                inode=int(fields[9]),
            )
        )
    return sockets
