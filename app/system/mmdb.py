"""A stdlib-only reader of MaxMind DB (.mmdb) files: GeoLite2, DB-IP Lite, IPinfo Lite.

The file is memory-mapped, so opening it reads only the metadata and a lookup touches a few pages.
It is hardened against a hostile or corrupt file: every read is bounds-checked, pointers may not point at
pointers, containers nest at most MAX_DEPTH deep, and one lookup decodes at most MAX_VALUES values and copies
at most MAX_PAYLOAD bytes, so a file whose pointers fan out (to many values, or many times to one large
string: payload amplification) fails fast instead of growing without end.
Format: https://maxmind.github.io/MaxMind-DB/ (version 2).
"""

from __future__ import annotations

import mmap
import os
import socket
import stat
import struct

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Dict, List, Optional, Tuple

METADATA_MARKER = b"\xab\xcd\xefMaxMind.com"
METADATA_WINDOW = 128 * 1024  # the marker is in the file's last 128 KiB
MAX_DEPTH = 32  # nested maps, arrays and pointers
MAX_VALUES = 4000  # values decoded by one lookup (a GeoIP2 City record has about two hundred)
MAX_PAYLOAD = 2 * 1024 * 1024  # string and bytes copied by one lookup (a city record has a few KB)
MAX_NODES = 1 << 32
NOT_MMDB = "{path} is not a MaxMind DB file: {reason}"
_WIDTHS = {5: 2, 6: 4, 8: 4, 9: 8, 10: 16}  # bytes at most of uint16, uint32, int32, uint64, uint128


def version_and_number(text: str) -> Tuple[int, int]:
    """The IP version of the address text and its value (IPv4-mapped IPv6 as IPv4); raises ValueError. A dotted
    IPv4 address (the usual one) is read by inet_pton, which takes exactly what ipaddress takes of it: the
    login path imports no ipaddress (about 1.5 ms)."""
    try:
        return 4, int.from_bytes(socket.inet_pton(socket.AF_INET, text), "big")
    except (OSError, ValueError):  # not dotted IPv4 (or a NUL in it): ipaddress decides
        pass
    import ipaddress

    ip = ipaddress.ip_address(text)
    if ip.version == 6 and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.version, int(ip)


class MMDBError(ValueError):
    """The file is not a readable MaxMind DB: corrupt, hostile or of another format."""


class _Decoder:
    """Decodes the data section (or the metadata) of one buffer, within [start, end)."""

    def __init__(self, buffer: "mmap.mmap", start: int, end: int) -> None:
        self.buffer, self.start, self.end = buffer, start, end
        self.budget = MAX_VALUES
        self.payload = MAX_PAYLOAD

    def _bytes(self, offset: int, size: int) -> bytes:
        if size < 0 or offset < self.start or offset + size > self.end:
            raise MMDBError("a value runs past the end of its section")
        return self.buffer[offset:offset + size]  # a slice of an mmap is bytes

    def _uint(self, offset: int, size: int) -> int:
        return int.from_bytes(self._bytes(offset, size), "big") if size else 0

    def _byte(self, offset: int) -> int:
        if offset < self.start or offset >= self.end:
            raise MMDBError("a value runs past the end of its section")
        return self.buffer[offset]

    def decode(self, offset: int, depth: int = 0) -> Tuple[Any, int]:
        """Takes an offset in the buffer; returns (the value there, the offset after it); raises MMDBError."""
        if depth > MAX_DEPTH:
            raise MMDBError("values nest deeper than {}".format(MAX_DEPTH))
        self.budget -= 1
        if self.budget < 0:
            raise MMDBError("one record expands to more than {} values".format(MAX_VALUES))
        control = self._byte(offset)
        offset += 1
        kind = control >> 5
        if kind == 1:
            return self._pointer(control, offset, depth)
        if kind == 0:
            kind = 7 + self._byte(offset)
            offset += 1
            if kind < 8 or kind > 15:
                raise MMDBError("unknown extended type {}".format(kind))
        size = control & 0x1F
        if size >= 29 and kind != 14:
            extra = size - 28
            size = (29, 285, 65821)[extra - 1] + self._uint(offset, extra)
            offset += extra
        return self._value(kind, size, offset, depth)

    def _pointer(self, control: int, offset: int, depth: int) -> Tuple[Any, int]:
        length = ((control >> 3) & 3) + 1
        raw = self._uint(offset, length)
        if length == 4:
            target = raw
        else:
            target = ((control & 7) << (8 * length)) + raw + (0, 2048, 526336)[length - 1]
        target += self.start
        if target >= self.end or self._byte(target) >> 5 == 1:
            raise MMDBError("a pointer points outside the data or at another pointer")
        value, _ = self.decode(target, depth + 1)
        return value, offset + length

    def _value(self, kind: int, size: int, offset: int, depth: int) -> Tuple[Any, int]:
        if kind == 7 or kind == 11:  # map, array: each entry takes at least one byte
            if size > self.end - offset:
                raise MMDBError("a container claims more entries than bytes are left")
            items: List[Any] = []
            for _ in range(size * (2 if kind == 7 else 1)):
                item, offset = self.decode(offset, depth + 1)
                items.append(item)
            if kind == 11:
                return items, offset
            keys = items[0::2]
            if not all(isinstance(key, str) for key in keys):
                raise MMDBError("a map key is not a string")
            return dict(zip(keys, items[1::2])), offset
        if kind == 14:
            if size > 1:
                raise MMDBError("a boolean is not 0 or 1")
            return bool(size), offset
        self.payload -= size
        if self.payload < 0:
            raise MMDBError("one record copies more than {} bytes".format(MAX_PAYLOAD))
        data = self._bytes(offset, size)
        offset += size
        if kind == 2:
            try:
                return str(data, "utf-8"), offset
            except UnicodeDecodeError:
                raise MMDBError("a string is not UTF-8")
        if kind == 4:
            return data, offset
        if kind in (3, 15):
            if size != (8 if kind == 3 else 4):
                raise MMDBError("a float or double has the wrong size")
            return struct.unpack(">d" if kind == 3 else ">f", data)[0], offset
        if kind in _WIDTHS:
            if size > _WIDTHS[kind]:
                raise MMDBError("an integer is wider than its type")
            number = int.from_bytes(data, "big")
            if kind == 8 and size == 4 and number >= 1 << 31:
                number -= 1 << 32
            return number, offset
        raise MMDBError("type {} is not a value".format(kind))  # 12 data cache, 13 end marker


class Reader:
    """One open database: metadata read and checked at open, lookup() per address."""

    def __init__(self, path: str) -> None:
        """Takes a path; raises MMDBError for a file that is not a sound MaxMind DB, OSError when unreadable."""
        self.path = path
        descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)  # a FIFO must not block the login
        try:
            status = os.fstat(descriptor)
            if not stat.S_ISREG(status.st_mode):
                raise MMDBError(NOT_MMDB.format(path=path, reason="not a regular file"))
            if status.st_size < len(METADATA_MARKER) + 16:
                raise MMDBError(NOT_MMDB.format(path=path, reason="too short"))
            size = status.st_size
            self._map = mmap.mmap(descriptor, 0, access=mmap.ACCESS_READ)
        finally:
            os.close(descriptor)
        try:
            self._open(size)
        except MMDBError as error:
            self.close()
            raise MMDBError(NOT_MMDB.format(path=path, reason=error))

    def _open(self, size: int) -> None:
        marker = self._map.rfind(METADATA_MARKER, max(0, size - METADATA_WINDOW))
        if marker < 0:
            raise MMDBError("no metadata marker")
        start = marker + len(METADATA_MARKER)
        metadata, _ = _Decoder(self._map, start, size).decode(start)
        if not isinstance(metadata, dict):
            raise MMDBError("the metadata is not a map")
        self.metadata: Dict[str, Any] = metadata
        node_count, record_size, ip_version = (metadata.get(name) for name in ("node_count", "record_size",
                                                                               "ip_version"))
        if record_size not in (24, 28, 32) or ip_version not in (4, 6):
            raise MMDBError("record size {!r} or IP version {!r} unknown".format(record_size, ip_version))
        if not isinstance(node_count, int) or not 0 < node_count < MAX_NODES:
            raise MMDBError("node count {!r} out of range".format(node_count))
        self.node_count: int = node_count
        self.record_size: int = record_size
        self.ip_version: int = ip_version
        self._node_bytes = self.record_size // 4
        self._tree_size = self.node_count * self._node_bytes
        if self._tree_size + 16 > marker:
            raise MMDBError("the search tree is larger than the file")
        self._data = _Decoder(self._map, self._tree_size + 16, marker)
        self._ipv4_start = 0
        if self.ip_version == 6:
            node = 0
            for _ in range(96):
                if node >= self.node_count:
                    break
                node = self._record(node, 0)
            self._ipv4_start = node

    @property
    def build_epoch(self) -> int:
        epoch = self.metadata.get("build_epoch")
        return epoch if isinstance(epoch, int) else 0

    @property
    def database_type(self) -> str:
        return str(self.metadata.get("database_type", ""))

    def _record(self, node: int, bit: int) -> int:
        offset = node * self._node_bytes
        raw = self._map[offset:offset + self._node_bytes]
        if self.record_size == 28:
            middle = raw[3]
            if bit:
                return ((middle & 0x0F) << 24) | int.from_bytes(raw[4:7], "big")
            return ((middle & 0xF0) << 20) | int.from_bytes(raw[0:3], "big")
        half = self._node_bytes // 2
        return int.from_bytes(raw[half:] if bit else raw[:half], "big")

    def lookup(self, address: str) -> Optional[Any]:
        """Takes an IPv4 or IPv6 address; returns its record (None: not in the file); raises ValueError for a
        bad address, MMDBError for a corrupt record."""
        version, number = version_and_number(address.strip())
        if version == 6 and self.ip_version == 4:
            return None
        bits = 32 if version == 4 else 128
        node = self._ipv4_start if version == 4 else 0
        for index in range(bits):
            if node >= self.node_count:
                break
            node = self._record(node, (number >> (bits - 1 - index)) & 1)
        if node == self.node_count:
            return None
        if node < self.node_count:
            raise MMDBError(NOT_MMDB.format(path=self.path, reason="the search tree does not end in data"))
        offset = node - self.node_count - 16 + self._data.start
        if offset < self._data.start or offset >= self._data.end:
            raise MMDBError(NOT_MMDB.format(path=self.path, reason="a record points outside the data section"))
        self._data.budget, self._data.payload = MAX_VALUES, MAX_PAYLOAD
        try:
            return self._data.decode(offset)[0]
        except MMDBError as error:
            raise MMDBError(NOT_MMDB.format(path=self.path, reason=error))

    def close(self) -> None:
        self._map.close()

    def __enter__(self) -> "Reader":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
