"""The stdlib MMDB reader against MaxMind's published test databases (tests/fixtures/mmdb/maxmind, MIT licence),
the databases our fixture script writes, and hostile files: every one refused fast with MMDBError."""

import ipaddress
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.system.mmdb import MAX_DEPTH, MMDBError, Reader, version_and_number

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "mmdb"
MAXMIND = FIXTURES / "maxmind"
SIZES = (24, 28, 32)


@pytest.mark.parametrize("size", SIZES)
def test_ipv4_databases_of_every_record_size_find_each_network_and_nothing_else(size: int) -> None:
    with Reader(str(MAXMIND / "MaxMind-DB-test-ipv4-{}.mmdb".format(size))) as reader:
        assert reader.record_size == size and reader.ip_version == 4
        for network in ("1.1.1.1/32", "1.1.1.2/31", "1.1.1.4/30", "1.1.1.8/29", "1.1.1.16/28", "1.1.1.32/32"):
            first = ipaddress.ip_network(network)
            assert reader.lookup(str(first.network_address)) == {"ip": str(first.network_address)}
            assert reader.lookup(str(first.broadcast_address)) == {"ip": str(first.network_address)}
        assert reader.lookup("1.1.1.33") is None
        assert reader.lookup("255.254.253.123") is None
        assert reader.lookup("::1:ffff:ffff") is None  # an IPv6 address in an IPv4 file


@pytest.mark.parametrize("size", SIZES)
def test_ipv6_databases_of_every_record_size_find_each_network(size: int) -> None:
    with Reader(str(MAXMIND / "MaxMind-DB-test-ipv6-{}.mmdb".format(size))) as reader:
        assert reader.record_size == size and reader.ip_version == 6
        assert reader.lookup("::1:ffff:ffff") == {"ip": "::1:ffff:ffff"}
        assert reader.lookup("::2:0:1") == {"ip": "::2:0:0"}
        assert reader.lookup("::2:0:52") == {"ip": "::2:0:50"}
        assert reader.lookup("::2:0:59") == {"ip": "::2:0:58"}
        assert reader.lookup("1.1.1.1") is None
        assert reader.lookup("::3") is None


@pytest.mark.parametrize("size", SIZES)
def test_mixed_databases_find_ipv4_in_the_ipv6_tree_also_when_ipv4_mapped(size: int) -> None:
    with Reader(str(MAXMIND / "MaxMind-DB-test-mixed-{}.mmdb".format(size))) as reader:
        assert reader.lookup("1.1.1.1") == {"ip": "::1.1.1.1"}
        assert reader.lookup("::ffff:1.1.1.3") == {"ip": "::1.1.1.2"}
        assert reader.lookup("::1:ffff:ffff") == {"ip": "::1:ffff:ffff"}
        assert reader.lookup("1.1.1.33") is None


def test_every_data_type_decodes_as_the_spec_says() -> None:
    with Reader(str(MAXMIND / "MaxMind-DB-test-decoder.mmdb")) as reader:
        record = reader.lookup("::1.1.1.0")
    assert record["array"] == [1, 2, 3]
    assert record["boolean"] is True
    assert record["bytes"] == b"\x00\x00\x00\x2a"
    assert record["double"] == pytest.approx(42.123456)
    assert record["float"] == pytest.approx(1.1, rel=1e-6)
    assert record["int32"] == -268435456
    assert record["map"] == {"mapX": {"arrayX": [7, 8, 9], "utf8_stringX": "hello"}}
    assert record["uint16"] == 100
    assert record["uint32"] == 268435456
    assert record["uint64"] == 1152921504606846976
    assert record["uint128"] == 1329227995784915872903807060280344576
    assert record["utf8_string"] == "unicode! \u262f - \u266b"


def test_real_city_country_and_asn_layouts_are_read() -> None:
    with Reader(str(MAXMIND / "GeoIP2-City-Test.mmdb")) as reader:
        assert reader.database_type == "GeoIP2-City"
        record = reader.lookup("81.2.69.160")
        assert record["country"]["iso_code"] == "GB" and record["city"]["names"]["en"] == "London"
        assert reader.lookup("2001:218::1")["country"]["iso_code"] == "JP"
    with Reader(str(MAXMIND / "GeoLite2-ASN-Test.mmdb")) as reader:
        assert reader.lookup("1.128.0.1") == {"autonomous_system_number": 1221,
                                              "autonomous_system_organization": "Telstra Pty Ltd"}
        assert reader.build_epoch > 0


def test_a_database_without_an_ipv4_subtree_answers_ipv4_without_error() -> None:
    with Reader(str(MAXMIND / "MaxMind-DB-no-ipv4-search-tree.mmdb")) as reader:
        assert reader.lookup("1.1.1.1") == "::/64"


REFUSED_AT_OPEN = ["cyclic-data-structure", "invalid-bytes-length", "invalid-data-record-offset",
                   "invalid-map-key-length", "invalid-string-length", "libmaxminddb-metadata-marker-only",
                   "libmaxminddb-offset-integer-overflow", "metadata-is-an-uint128", "unexpected-bytes"]


@pytest.mark.parametrize("name", REFUSED_AT_OPEN)
def test_corrupt_files_from_maxminds_bad_data_are_refused_when_opened(name: str) -> None:
    with pytest.raises(MMDBError, match="is not a MaxMind DB file"):
        Reader(str(MAXMIND / (name + ".mmdb")))


REFUSED_AT_LOOKUP = [("libmaxminddb-deep-nesting", "deeper than {}".format(MAX_DEPTH)),
                     ("libmaxminddb-deep-array-nesting", "deeper"),
                     ("libmaxminddb-oversized-array", "more entries than bytes"),
                     ("libmaxminddb-oversized-map", "more entries than bytes"),
                     ("libmaxminddb-separator-record-min-left", "outside the data"),
                     ("bad-unicode-in-map-key", "outside the data")]


@pytest.mark.parametrize("name,reason", REFUSED_AT_LOOKUP)
def test_corrupt_records_are_refused_when_looked_up(name: str, reason: str) -> None:
    with Reader(str(MAXMIND / (name + ".mmdb"))) as reader:
        with pytest.raises(MMDBError, match=reason):
            reader.lookup("1.1.1.1")


def test_broken_pointers_fail_only_the_records_they_break() -> None:
    with Reader(str(MAXMIND / "MaxMind-DB-test-broken-pointers-24.mmdb")) as reader:
        assert reader.lookup("1.1.1.1") == {"ip": "1.1.1.1"}
        with pytest.raises(MMDBError):
            reader.lookup("1.1.1.16")


HOSTILE = [("amplification", "expands to more than"),  # 200-wide arrays of pointers, 5 deep: 200**5 values
           ("amplification-bytes", "copies more than"),  # 8,192 pointers to one 64 KiB bytes value: 512 MiB
           ("amplification-string", "copies more than"),  # the same with a string
           ("pointer-fan-out-40", "deeper than")]  # two pointers per level, 40 levels: 2**40 decodes


@pytest.mark.parametrize("name,reason", HOSTILE)
def test_payload_amplification_files_are_refused_within_100_ms(name: str, reason: str) -> None:
    started = time.perf_counter()
    with Reader(str(FIXTURES / (name + ".mmdb"))) as reader:
        with pytest.raises(MMDBError, match=reason):
            reader.lookup("203.0.113.5")
    assert time.perf_counter() - started < 0.1  # one bounded decode


@pytest.mark.parametrize("name,reason", HOSTILE)
def test_payload_amplification_files_cost_a_few_megabytes_at_most(name: str, reason: str) -> None:
    import tracemalloc

    tracemalloc.start()
    try:
        with Reader(str(FIXTURES / (name + ".mmdb"))) as reader:
            with pytest.raises(MMDBError):
                reader.lookup("203.0.113.5")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 4 * 1024 * 1024


@pytest.mark.parametrize("content", [b"", b"\x00" * 100, b"PK\x03\x04" + b"\x00" * 500,
                                     b"\xab\xcd\xefMaxMind.com", b"\xab\xcd\xefMaxMind.com" + b"\xe0" * 40])
def test_files_that_are_not_mmdb_are_refused(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "not.mmdb"
    path.write_bytes(content)
    with pytest.raises(MMDBError):
        Reader(str(path))


def test_a_search_tree_that_claims_more_nodes_than_the_file_holds_is_refused(tmp_path: Path) -> None:
    data = (MAXMIND / "MaxMind-DB-test-ipv4-24.mmdb").read_bytes()
    marker = data.rindex(b"node_count") + len(b"node_count")
    patched = data[:marker] + bytes([0xC4]) + (10 ** 8).to_bytes(4, "big") + data[marker + 1 + (data[marker] & 0x1F):]
    path = tmp_path / "huge.mmdb"
    path.write_bytes(patched)
    with pytest.raises(MMDBError, match="larger than the file"):
        Reader(str(path))


def test_a_bad_address_is_a_value_error_not_a_crash() -> None:
    with Reader(str(FIXTURES / "dbip-city-lite-test.mmdb")) as reader:
        with pytest.raises(ValueError):
            reader.lookup("not-an-address")


def test_a_fifo_or_a_directory_named_as_the_database_is_refused_at_once(tmp_path: Path) -> None:
    import os

    fifo = tmp_path / "city.mmdb"
    os.mkfifo(str(fifo))
    started = time.perf_counter()
    with pytest.raises(MMDBError, match="not a regular file"):
        Reader(str(fifo))
    assert time.perf_counter() - started < 1  # no writer: a blocking open would wait forever
    with pytest.raises(MMDBError, match="not a regular file"):
        Reader(str(tmp_path))


def test_a_symbolic_link_to_a_database_is_followed(tmp_path: Path) -> None:
    link = tmp_path / "city.mmdb"
    link.symlink_to(FIXTURES / "dbip-city-lite-test.mmdb")  # as geoipupdate's users link /var/lib/GeoIP
    with Reader(str(link)) as reader:
        assert reader.lookup("203.0.113.1")["country"]["iso_code"] == "DE"


OCTETS = st.sampled_from(["0", "00", "01", "1", "255", "256", "1000", "\u0661", "", " ", "+1", "0x1", "::1", "::ffff:1"])


@settings(max_examples=1000, deadline=None)
@given(st.lists(OCTETS, min_size=1, max_size=5).map(".".join) | st.text(max_size=24))
def test_an_address_is_read_as_ipaddress_reads_it(text: str) -> None:
    try:
        ip = ipaddress.ip_address(text)
    except ValueError:
        with pytest.raises(ValueError):
            version_and_number(text)
        return
    if ip.version == 6 and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    assert version_and_number(text) == (ip.version, int(ip))
