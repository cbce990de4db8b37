"""Run one real Beam component in a fresh interpreter and report what it did on the network.

Usage: python beam_network_probe.py ROOT INPUT_BASE [BEAM_ARG ...]; prints one JSON line.

The probe watches with Python's audit hooks (urllib requests, socket connects, name lookups and
binds made from Python: each is recorded and, when it leaves the machine, refused so that no
test ever reaches the internet) and with the kernel's socket tables (/proc/net/tcp and tcp6,
matched against this process's file descriptors: listening sockets bound by C code such as
gRPC), sampled every few milliseconds and at every audited network event.
"""

from __future__ import annotations

import json
import os
import sys
import threading

LOOPBACK_HOSTS = {"localhost", "127.0.0.1", "::1", "ip6-localhost"}
TCP_LISTEN = "0A"

events: list[list[str]] = []
listening: set[str] = set()


def _own_socket_inodes() -> set[str]:
    inodes = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:  # closed between listdir and readlink
            continue
        if target.startswith("socket:["):
            inodes.add(target[len("socket:[") : -1])
    return inodes


def _is_loopback(hex_addr: str) -> bool:
    """Whether a /proc/net/tcp{,6} local address (hex, host byte order per word) is loopback."""
    if len(hex_addr) == 8:  # IPv4, little-endian: 127.x.x.x ends in "7F"
        return hex_addr.endswith("7F")
    words = [hex_addr[i : i + 8] for i in range(0, 32, 8)]
    if words == ["00000000", "00000000", "00000000", "01000000"]:  # ::1
        return True
    mapped_v4 = words[:2] == ["00000000", "00000000"] and words[2] == "FFFF0000"
    return mapped_v4 and words[3].endswith("7F")  # ::ffff:127.x.x.x


def snapshot_listening() -> None:
    """Record this process's listening TCP sockets that are not bound to loopback."""
    inodes = _own_socket_inodes()
    for table in ("/proc/self/net/tcp", "/proc/self/net/tcp6"):
        with open(table) as f:
            next(f)
            for line in f:
                cols = line.split()
                addr, port = cols[1].split(":")
                if cols[3] == TCP_LISTEN and cols[9] in inodes and not _is_loopback(addr):
                    listening.add(f"{os.path.basename(table)} {addr}:{int(port, 16)}")


def _host_of(address: object) -> str:
    return str(address[0]) if isinstance(address, tuple) and address else str(address)


def audit(event: str, args: tuple) -> None:
    """Record network events; refuse those that would leave the machine."""
    if event == "urllib.Request":
        events.append([event, str(args[0])])
        snapshot_listening()
        raise OSError(f"beam_network_probe: network access refused: {args[0]}")
    if event in ("socket.connect", "socket.getaddrinfo", "socket.bind"):
        host = _host_of(args[1] if event != "socket.getaddrinfo" else args[0])
        if host and host not in LOOPBACK_HOSTS and not host.startswith("/"):
            events.append([event, host])
            snapshot_listening()
            if event != "socket.bind":
                raise OSError(f"beam_network_probe: network access refused: {host}")


def main() -> None:
    root, input_base, *beam_args = sys.argv[1:]
    sys.addaudithook(audit)
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.005):
            snapshot_listening()

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    from headwater.orchestration import CsvExampleGen, LocalDagRunner, Pipeline

    gen = CsvExampleGen(input_base=input_base, use_beam=True)
    result = LocalDagRunner(quiet=True).run(
        Pipeline("probe", root, [gen], beam_pipeline_args=beam_args)
    )
    done.set()
    sampler.join()
    examples = result.output("CsvExampleGen", "examples")
    rows = sum(b.num_rows for s in ("train", "eval") for b in examples.split(s).read_batches())
    report = {
        "rows": rows,
        "events": events,
        "listening": sorted(listening),
        "prism_imported": "apache_beam.runners.portability.prism_runner" in sys.modules,
        "beam_cache_created": os.path.exists(os.path.expanduser("~/.apache_beam")),
    }
    print(json.dumps(report))


if __name__ == "__main__":
    main()
