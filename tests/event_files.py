"""A minimal reader of TensorBoard event files, to check what a writer wrote.

An event file is a TFRecord stream: each record is its length (8 bytes, little-endian), the
masked CRC-32C of those 8 bytes, the record (one serialized ``Event`` protobuf), and the
masked CRC-32C of the record. The CRCs are checked, so a torn or corrupted file fails here
rather than reading as fewer events."""

from __future__ import annotations

import struct
from pathlib import Path


def _crc32c_table() -> list[int]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0x82F63B78 if crc & 1 else crc >> 1
        table.append(crc)
    return table


_TABLE = _crc32c_table()


def masked_crc32c(data: bytes) -> int:
    crc = 0xFFFFFFFF
    for byte in data:
        crc = _TABLE[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    crc ^= 0xFFFFFFFF
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def read_events(path: Path) -> list[tuple[str, int, str, object]]:
    """``(tag, step, kind, value)`` of every summary value in the event file at ``path``;
    ``kind`` is the protobuf field set (``simple_value``, ``histo``, ``image``, ``tensor``)
    and ``value`` its content."""
    from tensorboardX.proto.event_pb2 import Event

    blob, position, found = Path(path).read_bytes(), 0, []
    while position < len(blob):
        header = blob[position : position + 8]
        (length,) = struct.unpack("<Q", header)
        (header_crc,) = struct.unpack("<I", blob[position + 8 : position + 12])
        record = blob[position + 12 : position + 12 + length]
        (record_crc,) = struct.unpack("<I", blob[position + 12 + length : position + 16 + length])
        assert header_crc == masked_crc32c(header) and record_crc == masked_crc32c(record), position
        position += 16 + length
        event = Event.FromString(record)
        for value in event.summary.value:
            kind = value.WhichOneof("value")
            found.append((value.tag, event.step, kind, getattr(value, kind)))
    return found
