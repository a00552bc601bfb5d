"""Trusted networks at their edges: empty entries, host bits, IPv4-mapped networks, zones, canonical forms."""

import ipaddress

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.rules.trust import canonical_address, canonical_ipv4, is_trusted, normalize_ip, parse_networks

OCTETS = st.sampled_from(["0", "00", "01", "1", "9", "10", "099", "199", "255", "256", "300", "1000", "\u0661", "", " ",
                          "+1", "-1", "0x1", "1e2"])


def test_empty_entries_in_trusted_are_skipped_and_the_entries_after_them_still_count():
    networks, bad = parse_networks("203.0.113.0/24, , ,198.51.100.7,,2001:db8::/48,")
    assert [str(network) for network in networks] == ["203.0.113.0/24", "198.51.100.7/32", "2001:db8::/48"]
    assert bad == []
    assert is_trusted("198.51.100.7", networks) and is_trusted("2001:db8::5", networks)


def test_an_empty_trusted_setting_trusts_nothing():
    assert parse_networks("") == ((), [])
    assert parse_networks(" , ") == ((), [])
    assert not is_trusted("203.0.113.7", parse_networks("")[0])


def test_a_network_written_with_host_bits_set_is_accepted_as_its_network():
    networks, bad = parse_networks("203.0.113.77/24, 2001:db8::1/48")
    assert bad == []
    assert networks == (ipaddress.ip_network("203.0.113.0/24"), ipaddress.ip_network("2001:db8::/48"))
    assert is_trusted("203.0.113.1", networks)


def test_an_ipv4_mapped_trusted_network_is_the_ipv4_network_and_matches_both_spellings():
    networks, bad = parse_networks("::ffff:203.0.113.0/120")
    assert bad == []
    assert networks == (ipaddress.IPv4Network("203.0.113.0/24"),)
    assert is_trusted("203.0.113.200", networks)
    assert is_trusted("::ffff:203.0.113.200", networks)
    assert not is_trusted("203.0.114.1", networks)


def test_an_ipv4_mapped_trusted_address_is_the_ipv4_address():
    networks, _ = parse_networks("::ffff:198.51.100.7")
    assert networks == (ipaddress.IPv4Network("198.51.100.7/32"),)
    assert is_trusted("198.51.100.7", networks) and not is_trusted("198.51.100.8", networks)


def test_the_whole_ipv4_mapped_range_at_prefix_96_is_every_ipv4_address():
    networks, _ = parse_networks("::ffff:0.0.0.0/96")
    assert networks == (ipaddress.IPv4Network("0.0.0.0/0"),)
    assert is_trusted("192.0.2.1", networks)


def test_an_ipv6_network_wider_than_the_mapped_range_stays_ipv6_and_trusts_no_ipv4_address():
    networks, _ = parse_networks("::/64")
    assert networks == (ipaddress.IPv6Network("::/64"),)
    assert not is_trusted("192.0.2.1", networks)
    assert is_trusted("::1", networks)


@pytest.mark.parametrize("text, canonical", [
    ("203.0.113.7", "203.0.113.7"),
    (" 203.0.113.7 ", "203.0.113.7"),
    ("::ffff:203.0.113.7", "203.0.113.7"),
    ("[2001:DB8::0001]", "2001:db8::1"),
    ("fe80::1%eth0", "fe80::1"),
    ("fe80::1%eth0%x", "fe80::1"),
])
def test_canonical_address_drops_brackets_zones_and_the_ipv4_mapping(text, canonical):
    assert canonical_address(text) == canonical


@pytest.mark.parametrize("text", ["", "garbage", "203.0.113", "host.example.com", "%eth0"])
def test_canonical_address_of_text_that_is_no_address_is_empty(text):
    assert canonical_address(text) == ""
    assert normalize_ip(text) is None


def test_a_link_local_address_with_a_zone_is_trusted_by_its_network():
    networks, _ = parse_networks("fe80::/10")
    assert is_trusted("fe80::1%eth0", networks)
    assert is_trusted("[fe80::1]", networks)


@pytest.mark.parametrize("text", ["x203.0.113.7", "203.0.113.7x", "X203.0.113.7X", "[203.0.113.7]x", "203.0.113.7/32",
                                  "203.0.113.7 port 22"])
def test_text_that_merely_contains_a_trusted_address_is_not_trusted(text):
    assert not is_trusted(text, parse_networks("203.0.113.0/24")[0])
    assert canonical_address(text) == ""


@settings(max_examples=1000, deadline=None)
@given(st.lists(OCTETS, min_size=1, max_size=6).map(".".join) | st.text(max_size=20))
def test_the_ipv4_shortcut_gives_what_ipaddress_gives(text):
    address = normalize_ip(text.strip())
    assert canonical_address(text) == ("" if address is None else str(address))
    if canonical_ipv4(text):
        assert str(ipaddress.ip_address(text)) == text


@pytest.mark.parametrize("text", ["203.0.113.7", "0.0.0.0", "255.255.255.255", "10.0.0.1"])
def test_a_plain_ipv4_address_is_its_own_canonical_form(text):
    assert canonical_ipv4(text) and canonical_address(text) == text


@pytest.mark.parametrize("text", ["203.0.113.07", "203.0.113.256", "203.0.113", "1.2.3.4.5", "::1", "1.2.3.\u0664",
                                  " 1.2.3.4", "1.2.3.4 "])
def test_anything_else_is_left_to_ipaddress(text):
    assert not canonical_ipv4(text)


def test_without_trusted_networks_nothing_is_trusted_not_even_an_address():
    assert not is_trusted("203.0.113.7", ()) and not is_trusted("garbage", ())
