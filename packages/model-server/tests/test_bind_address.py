"""By default the server listens on loopback only: both ports, as the kernel reports them."""

from __future__ import annotations

import ipaddress
import json
import os
import socket
import urllib.request
from typing import Any

import pytest
from model_factory import push

from headwater.model_server import ModelConfig, ModelServer, ServerOptions
from headwater.model_server.cli import options_from_args, parser

pytestmark = pytest.mark.integration

_LISTEN = "0A"
"""TCP state LISTEN in /proc/net/tcp."""


def _socket_inodes() -> set[str]:
    """Inodes of the sockets this process holds open."""
    inodes = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[len("socket:[") : -1])
    return inodes


def _address(hex_address: str) -> str:
    """An address as /proc/net/tcp{,6} writes it (32-bit words, little-endian) in plain text.

    An IPv4-mapped IPv6 address (`::ffff:127.0.0.1`, what gRPC binds for an IPv4 host) is
    written as its IPv4 address: such a socket accepts connections to that address only.
    """
    words = [hex_address[i : i + 8] for i in range(0, len(hex_address), 8)]
    packed = b"".join(bytes.fromhex(word)[::-1] for word in words)
    if len(packed) == 4:
        return str(ipaddress.IPv4Address(packed))
    address = ipaddress.IPv6Address(packed)
    return str(address.ipv4_mapped or address)


def _listening(ports: set[int]) -> list[tuple[str, str, int]]:
    """(table, address, port) of this process's LISTEN sockets on `ports`, IPv4 and IPv6."""
    ours = _socket_inodes()
    found = []
    for table in ("tcp", "tcp6"):
        with open(f"/proc/self/net/{table}") as f:
            rows = f.read().splitlines()[1:]
        for row in rows:
            fields = row.split()
            address, port = fields[1].split(":")
            if fields[3] != _LISTEN or fields[9] not in ours or int(port, 16) not in ports:
                continue
            found.append((table, _address(address), int(port, 16)))
    return sorted(found)


def test_the_server_listens_on_loopback_only_by_default(
    templates: dict[int, str], tmp_path: Any
) -> None:
    base = str(tmp_path / "m")
    push(templates[1], base, 1)
    # Only the ports differ from the defaults (0: free ones, so parallel tests never collide).
    options = ServerOptions(models=[ModelConfig(name="m", base_path=base)], port=0, rest_api_port=0)
    assert options.host == "127.0.0.1"
    with ModelServer(options) as server:
        assert server.rest_port is not None
        ports = {server.grpc_port, server.rest_port}
        assert len(ports) == 2
        # REST binds an IPv4 socket; gRPC an IPv6 one on 127.0.0.1 mapped (::ffff:127.0.0.1).
        assert _listening(ports) == sorted(
            [("tcp", "127.0.0.1", server.rest_port), ("tcp6", "127.0.0.1", server.grpc_port)]
        )
        request = urllib.request.Request(
            f"http://127.0.0.1:{server.rest_port}/v1/models/m:predict",
            data=json.dumps({"instances": [[1.0, 2.0]]}).encode(),
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            answer = json.loads(response.read())
        assert answer == {"predictions": [{"y": 103.0, "version": 1}]}
    assert _listening(ports) == []


def test_the_command_line_binds_loopback_unless_told_otherwise(tmp_path: Any) -> None:
    args = parser().parse_args(["--model_name=m", f"--model_base_path={tmp_path}"])
    options = options_from_args(args)
    assert isinstance(options, ServerOptions)
    assert options.host == "127.0.0.1"


def test_the_probe_reads_the_kernels_addresses() -> None:
    assert _address("0100007F") == "127.0.0.1"
    assert _address("00000000") == "0.0.0.0"
    assert _address("00000000000000000000000000000000") == "::"
    assert _address("0000000000000000FFFF00000100007F") == "127.0.0.1"
    with socket.socket(socket.AF_INET6) as v6, socket.socket() as v4:
        v6.bind(("::1", 0))
        v4.bind(("127.0.0.1", 0))
        v6.listen()
        v4.listen()
        ports = {v6.getsockname()[1], v4.getsockname()[1]}
        assert _listening(ports) == sorted(
            [("tcp", "127.0.0.1", v4.getsockname()[1]), ("tcp6", "::1", v6.getsockname()[1])]
        )
