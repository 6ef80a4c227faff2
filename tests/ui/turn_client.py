"""Just enough of a TURN client (RFC 5766 Allocate over UDP, long-term credentials) to ask a real
coturn whether it accepts a credential."""

from __future__ import annotations

import hashlib
import hmac
import os
import socket
import struct

MAGIC = 0x2112A442
ALLOCATE, ALLOCATE_OK, ALLOCATE_ERROR = 0x0003, 0x0103, 0x0113
USERNAME, MESSAGE_INTEGRITY, ERROR_CODE, REALM, NONCE, REQUESTED_TRANSPORT = (
    0x0006,
    0x0008,
    0x0009,
    0x0014,
    0x0015,
    0x0019,
)
UDP = bytes([17, 0, 0, 0])


def _attr(kind: int, value: bytes) -> bytes:
    return struct.pack("!HH", kind, len(value)) + value + b"\0" * ((4 - len(value) % 4) % 4)


def _message(kind: int, tid: bytes, attrs: bytes, key: bytes | None = None) -> bytes:
    if key is not None:  # MESSAGE-INTEGRITY covers the header with the length including itself
        header = struct.pack("!HHI", kind, len(attrs) + 24, MAGIC) + tid
        attrs += _attr(MESSAGE_INTEGRITY, hmac.new(key, header + attrs, hashlib.sha1).digest())
    return struct.pack("!HHI", kind, len(attrs), MAGIC) + tid + attrs


def _parse(data: bytes) -> tuple[int, dict[int, bytes]]:
    kind, length, _ = struct.unpack("!HHI", data[:8])
    attrs, i = {}, 20
    while i < 20 + length:
        t, n = struct.unpack("!HH", data[i : i + 4])
        attrs.setdefault(t, data[i + 4 : i + 4 + n])
        i += 4 + n + (4 - n % 4) % 4
    return kind, attrs


def _error(attrs: dict[int, bytes]) -> int:
    value = attrs.get(ERROR_CODE, b"\0\0\0\0")
    return (value[2] & 7) * 100 + value[3]


def allocate(host: str, port: int, username: str, password: str, timeout: float = 3.0) -> int:
    """200 when coturn allocated a relay for these credentials, else its error code (401, 438, ...)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(timeout)
        sock.sendto(_message(ALLOCATE, os.urandom(12), _attr(REQUESTED_TRANSPORT, UDP)), (host, port))
        kind, attrs = _parse(sock.recv(2048))
        if kind == ALLOCATE_OK:
            raise AssertionError("coturn allocated without any credential")
        if _error(attrs) != 401 or REALM not in attrs or NONCE not in attrs:
            return _error(attrs)
        realm, nonce = attrs[REALM], attrs[NONCE]
        key = hashlib.md5(f"{username}:{realm.decode()}:{password}".encode()).digest()
        body = (
            _attr(REQUESTED_TRANSPORT, UDP)
            + _attr(USERNAME, username.encode())
            + _attr(REALM, realm)
            + _attr(NONCE, nonce)
        )
        sock.sendto(_message(ALLOCATE, os.urandom(12), body, key), (host, port))
        kind, attrs = _parse(sock.recv(2048))
        return 200 if kind == ALLOCATE_OK else _error(attrs)
