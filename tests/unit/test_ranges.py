"""Address ranges, what the signaling server's per-address limits count."""

import pytest

from bridge.signaling.ranges import address_range


@pytest.mark.parametrize(
    ("address", "range"),
    [
        ("127.0.0.1", "loopback"),
        ("127.0.52.250", "loopback"),
        ("::1", "loopback"),
        ("::ffff:127.0.0.2", "loopback"),
        ("10.1.2.3", "10.1.2.0/24"),
        ("10.1.2.254", "10.1.2.0/24"),
        ("::ffff:10.1.2.3", "10.1.2.0/24"),
        ("2001:db8:1:2:aaaa::1", "2001:db8:1::/48"),
        ("2001:db8:1:ff00:ffff:ffff:ffff:ffff", "2001:db8:1::/48"),
        ("2001:db8:2::1", "2001:db8:2::/48"),
        ("fe80::1%eth0", "fe80::/48"),
        ("?", "?"),
    ],
)
def test_addresses_count_in_their_range(address: str, range: str) -> None:
    assert address_range(address) == range
