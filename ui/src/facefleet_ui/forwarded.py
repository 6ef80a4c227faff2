"""The browser's address, for the recognizer's per-client 1:N limit.

Every browser reaches the recognizer through the ui, so the ui says whom it is asking for in
`X-Forwarded-For`. The address comes from the page's websocket connection; behind an ingress
that connection is the ingress's, so the ui believes the ingress's own `X-Forwarded-For` only when
the connection comes from one of FACEFLEET_TRUSTED_PROXIES (walking the chain from the right, as
uvicorn and Traefik do). A browser cannot invent an address: a header it sends through an
untrusted hop is ignored."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

LOOPBACK = "127.0.0.1"


def _trusted(address: str, networks: Sequence[str]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in ipaddress.ip_network(net, strict=False) for net in networks)


def client_address(remote_ip: str | None, forwarded_for: str | None, trusted: Sequence[str]) -> str:
    """The first untrusted address from the right of `forwarded_for, remote_ip`.

    remote_ip None means a local connection (Streamlit reports loopback as None)."""
    chain = [part.strip() for part in (forwarded_for or "").split(",") if part.strip()]
    chain.append(remote_ip or LOOPBACK)
    for address in reversed(chain):
        if not _trusted(address, trusted):
            return address
    return chain[0]  # every hop is trusted: the first one is the client
