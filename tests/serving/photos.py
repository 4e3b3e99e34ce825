"""Real image files for the serving tests: photo-like garments and hand-made bad files."""

from __future__ import annotations

import struct
import zlib

import numpy as np

from fashion_models.serving.demo_stock import shop_photo


def photo(image: np.ndarray, fmt: str, shift: int = 0, mode: str = "RGB") -> bytes:
    """A shop-like photo of a Fashion-MNIST image, as the demo stock makes them."""
    return shop_photo(image, fmt, shift, mode)


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png(width: int, height: int) -> bytes:
    """A valid grayscale PNG of zeros, written row by row: tiny on disk whatever its size, so a
    large one is a real decompression bomb."""
    compressor = zlib.compressobj(9)
    row = bytes(1 + width)  # filter byte + pixels
    body = b"".join(compressor.compress(row) for _ in range(height)) + compressor.flush()
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", body)
        + _chunk(b"IEND", b"")
    )
