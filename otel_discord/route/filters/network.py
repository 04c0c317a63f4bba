"""IP ranges: allow and deny lists (CIDR) on the client's address.

Config::

    filters:
      ip:
        deny: ["10.0.0.0/8", "192.168.0.0/16"]   # e.g. the office and the monitoring host
        allow: []                                # when set, only these ranges are posted

The address is read from ``client.address`` (or the older ``http.client_ip`` and
``net.peer.ip``). Notices without an address, or with one that is not an IP
address, are not affected.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from typing import Any, Final

from otel_discord.config.files import as_list, check_keys, config_error, mapping
from otel_discord.notice import Notice

ADDRESS_ATTRIBUTES: Final = ("client.address", "http.client_ip", "net.peer.ip")

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def address_of(attributes: Mapping[str, Any]) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    for key in ADDRESS_ATTRIBUTES:
        raw = attributes.get(key)
        if isinstance(raw, str) and raw.strip():
            try:
                address = ipaddress.ip_address(raw.strip().strip("[]"))
            except ValueError:
                return None
            # An IPv4 client seen through an IPv6 socket reads ::ffff:1.2.3.4.
            mapped = getattr(address, "ipv4_mapped", None)
            return mapped or address
    return None


class NetworkFilter:
    def __init__(self, allow: tuple[Network, ...] = (), deny: tuple[Network, ...] = ()) -> None:
        self.allow = allow
        self.deny = deny

    def __call__(self, notice: Notice, channel: str) -> str | None:
        if not (self.allow or self.deny):
            return None
        address = address_of(notice.attributes)
        if address is None:
            return None
        if any(address in network for network in self.deny):
            return "ip_denied"
        if self.allow and not any(address in network for network in self.allow):
            return "ip_not_allowed"
        return None

    def describe(self) -> dict[str, Any]:
        return {"allow": [str(n) for n in self.allow], "deny": [str(n) for n in self.deny]}


def _networks(raw: Any, path: str) -> tuple[Network, ...]:
    networks = []
    for i, item in enumerate(as_list(raw)):
        try:
            networks.append(ipaddress.ip_network(str(item).strip(), strict=False))
        except ValueError:
            raise config_error(f"{path}[{i}]", f"{item!r} is not an IP address or CIDR range") from None
    return tuple(networks)


def parse_network_filter(raw: Any, path: str = "filters.ip") -> NetworkFilter:
    spec = mapping(raw, path)
    check_keys(spec, ("allow", "deny"), path)
    return NetworkFilter(_networks(spec.get("allow"), f"{path}.allow"), _networks(spec.get("deny"), f"{path}.deny"))
