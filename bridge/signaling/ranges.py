"""Address ranges: what the per-address limits count, so that one client cannot multiply
them by using many addresses it holds at once (sans-I/O).

One machine or one network gets its addresses in blocks: all of 127.0.0.0/8 (and ::1) is
one machine, an IPv4 client's neighbours share its /24, and an IPv6 site gets a /48 or a /56
(RFC 6177; a home a /56, 256 networks of a /64 each). The signaling server's caps per
address (sockets, reservations, new registrations a second) count per range, never per
exact address: a review filled every reservation of the realm from 52 loopback addresses,
400 each, and a second review held the server's 5,000 sockets from 26 /64s of one /56 when
IPv6 counted per /64.
"""

from __future__ import annotations

import ipaddress

LOOPBACK = "loopback"


def address_range(address: str) -> str:
    """The range `address` counts in: `loopback`, `a.b.c.0/24` or `x:x:x::/48`.

    An IPv4 address mapped into IPv6 (`::ffff:a.b.c.d`) counts as the IPv4 one; a text that
    is no address (a test's placeholder, a proxy's odd header) counts as itself.
    """
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip.is_loopback:
        return LOOPBACK
    if isinstance(ip, ipaddress.IPv4Address):
        return str(ipaddress.IPv4Network((int(ip) & 0xFFFFFF00, 24)))
    return str(ipaddress.IPv6Network((int(ip) >> 80 << 80, 48)))
