"""Properties of the client IP, over 100,000 generated requests.

Whatever a client writes, the recorded address is the peer or an address
from the one chosen header, and never one left of an untrusted hop (the
client's own address, which its proxy appended). Requests are built from
known addresses, written the ways proxies and clients write them (ports,
brackets, zone ids, IPv4-mapped IPv6, case, spaces, ``for=`` parameters),
mixed with elements that name no address, split over several header lines,
and sent with the other forwarding headers forged.

Hypothesis draws one byte string per request and :class:`_Request` decodes
it (zero bytes decode to the simplest request, so failures still shrink):
one draw instead of dozens keeps 100,000 cases to about a minute of CPU
(0.6 ms each, nearly all Hypothesis's own; the check itself takes 65 µs).
"""

from __future__ import annotations

import ipaddress

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from failstream.producer.client_ip import FORWARDING_HEADERS, client_ip
from failstream.producer.request_facts import request_facts

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

POOL: list[Network] = [
    ipaddress.ip_network(n)
    for n in ("10.0.0.0/8", "127.0.0.1/32", "192.0.2.0/24", "2001:db8::/32", "fe80::/10")
]
# where addresses come from: the pool, then anywhere
SOURCES: list[Network] = [*POOL, ipaddress.ip_network("0.0.0.0/0"), ipaddress.ip_network("::/0")]
# none of these is an address (and none holds a comma, so none splits an element)
GARBAGE = [
    "",
    " ",
    "unknown",
    "_hidden",
    "1.2.3.4.5",
    "300.1.1.1",
    "[::1",
    "::1]",
    "1.2.3.4:x",
    "[::1]x",
    "::ffff:1.2.3",
]
PEERS_NO_IP = ["", "testclient", "unix:/run/app.sock"]


class _Request:
    """Decodes bytes into (header, peer, peer address, hop addresses, header lines, trusted)."""

    def __init__(self, data: bytes) -> None:
        self._data = data
        self._at = 0

    def byte(self) -> int:
        value = self._data[self._at] if self._at < len(self._data) else 0
        self._at += 1
        return value

    def pick(self, options: list) -> object:
        return options[self.byte() % len(options)]

    def address(self) -> Address:
        source = self.byte() % len(SOURCES)
        net = SOURCES[source]
        width = 4 if net.version == 4 else 16
        bits = int.from_bytes(bytes(self.byte() for _ in range(width)), "big")
        address = net.network_address + bits % net.num_addresses
        if net.version == 4 and self.byte() % 4 == 0:
            return ipaddress.IPv6Address(f"::ffff:{address}")  # an IPv4-mapped one, true address IPv4
        return address

    def written(self, address: Address) -> str:
        text, port = str(address), self.byte() * 257
        if address.version == 4:
            forms = [text, f"{text}:{port}", f"::ffff:{text}", f"[::ffff:{text}]:{port}"]
        else:
            forms = [
                text,
                text.upper(),
                f"[{text}]",
                f"[{text}]:{port}",
                f"{text}%eth0",
                f"[{text}%25en0]:{port}",
            ]
        form = str(self.pick(forms))
        return str(self.pick([form, f" {form}", f"{form} ", f"\t{form} "]))

    def element(self, header: str) -> tuple[Address | None, str]:
        """(the address the element names or None, the element as written)."""
        address: Address | None
        if self.byte() % 5 == 4:
            address, text = None, str(self.pick(GARBAGE))
        else:
            raw = self.address()
            address, text = _true(raw), self.written(raw)
        if header != "forwarded":
            return address, text
        shape = self.byte() % 12
        if shape == 10:
            return None, "proto=https"  # no for=
        if shape == 11:
            return None, f"for={text.strip()};for=192.0.2.1"  # for= twice
        value = text.strip() if shape % 2 else f'"{text.strip()}"'
        name = ["for", "For", "FOR"][shape % 3]
        params = ["{}", "{};proto=https", "by=10.0.0.1;{}", "proto=http;{};host=example.org"][shape // 3 % 4]
        return address, params.format(f"{name}={value}")

    def decode(
        self,
    ) -> tuple[str, str, Address | None, list[Address | None], list[tuple[bytes, bytes]], tuple]:
        header = FORWARDING_HEADERS[self.byte() % 3]
        mask = self.byte()
        trusted = tuple(net for i, net in enumerate(POOL) if mask >> i & 1)
        peer_address: Address | None
        if self.byte() % 8 == 7:
            peer_address, peer = None, str(self.pick(PEERS_NO_IP))
        else:
            raw = self.address()
            peer_address, peer = _true(raw), str(raw)
        chain = [self.element(header) for _ in range(self.byte() % 7)]
        cuts = self.byte()
        headers: list[tuple[bytes, bytes]] = []
        line: list[str] = []
        for index, (_, text) in enumerate(chain):
            line.append(text)
            if index == len(chain) - 1 or cuts >> index & 1:  # the line ends: another proxy adds the next
                for other in FORWARDING_HEADERS:
                    if other != header and self.byte() % 2:
                        headers.append((other.encode(), self.element(other)[1].encode()))
                headers.append((header.encode(), ", ".join(line).encode()))
                line = []
        return header, peer, peer_address, [address for address, _ in chain], headers, trusted


def _true(address: Address) -> Address:
    mapped = getattr(address, "ipv4_mapped", None)
    return mapped if mapped is not None else address


def _trusted(address: Address, trusted: tuple) -> bool:
    return any(address in net for net in trusted)


@settings(max_examples=100_000, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.binary(max_size=160))
def test_the_answer_is_the_peer_or_an_address_never_left_of_an_untrusted_hop(data: bytes) -> None:
    header, peer, peer_address, chain, headers, trusted = _Request(data).decode()
    addresses, forwarded, *_ = request_facts(headers, 401, None, None, header)
    answer = client_ip(peer, addresses, forwarded, trusted)

    if not peer:
        assert answer == "unknown"
        return
    if peer_address is None:
        assert answer == peer
        return
    # the hops no client can have written: right of the rightmost untrusted or unreadable one
    cut = 0
    for index, hop in enumerate(chain):
        if hop is None:
            cut = index + 1
        elif not _trusted(hop, trusted):
            cut = index
    allowed = {str(peer_address)}
    if _trusted(peer_address, trusted):
        allowed |= {str(hop) for hop in chain[cut:] if hop is not None}
    assert answer in allowed

    # and exactly the right-to-left walk
    expected = peer_address
    if _trusted(peer_address, trusted):
        for hop in reversed(chain):
            if hop is None:
                expected = peer_address
                break
            expected = hop
            if not _trusted(hop, trusted):
                break
    assert answer == str(expected)


_ANY = st.text(alphabet=st.characters(codec="latin-1"), max_size=60)


@settings(max_examples=2_000, deadline=None)
@given(
    st.sampled_from(FORWARDING_HEADERS),
    _ANY,
    st.lists(_ANY, max_size=3),
    st.lists(st.sampled_from(POOL), max_size=3),
)
def test_no_input_makes_it_raise(header: str, peer: str, lines: list[str], trusted: list) -> None:
    headers = [(header.encode(), line.encode("latin-1")) for line in lines]
    addresses, forwarded, *_ = request_facts(headers, 401, None, None, header)
    answer = client_ip(peer, addresses, forwarded, tuple(trusted))
    assert answer in (peer, "unknown") or ipaddress.ip_address(answer)
