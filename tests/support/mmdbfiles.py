"""The committed MMDB fixtures (tests/fixtures/mmdb), and copies of them with another build date (tests never rot:
dates are made from now)."""

import gzip
from pathlib import Path

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "mmdb"
COUNTRY = FIXTURES / "dbip-country-lite-test.mmdb"
CITY = FIXTURES / "dbip-city-lite-test.mmdb"
ASN = FIXTURES / "dbip-asn-lite-test.mmdb"


def with_build_epoch(source: Path, epoch: int) -> bytes:
    """The file's bytes with its metadata's build_epoch (4 bytes, as mmdb-writer writes it) set to epoch."""
    data = source.read_bytes()
    marker = data.rindex(b"\xab\xcd\xefMaxMind.com")
    key = data.index(b"build_epoch", marker) + len(b"build_epoch")
    control = 1 if data[key] == 0xC4 else 2 if data[key:key + 2] == b"\x04\x02" else 0  # uint32, or uint64
    assert control, "build_epoch is not a 4-byte integer in {}".format(source)
    start = key + control
    return data[:start] + int(epoch).to_bytes(4, "big") + data[start + 4:]


def write_dated(source: Path, target: Path, epoch: float) -> Path:
    target.write_bytes(with_build_epoch(source, int(epoch)))
    return target


def gzipped(source: Path, epoch: float) -> bytes:
    return gzip.compress(with_build_epoch(source, int(epoch)))
