"""Real image files for the serving tests: photo-like garments and hand-made bad files."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
from PIL import Image

SCALE = 6  # a 28x28 garment becomes 168x168, on a larger light backdrop


def photo(image: np.ndarray, fmt: str, shift: int = 0, mode: str = "RGB") -> bytes:
    """A shop-like photo of a Fashion-MNIST image (float (28, 28, 1) in [0, 1] or uint8 (28, 28)):
    dark garment on an off-white backdrop, upscaled, off-centre, saved as `fmt`."""
    pixels = image[..., 0] * 255 if image.ndim == 3 else image.astype(np.float32)
    dark = (250 - pixels * 250 / 255).astype(np.uint8)  # negated: garment dark, backdrop 250
    big = Image.fromarray(dark).resize((28 * SCALE, 28 * SCALE), Image.Resampling.BICUBIC)
    canvas = Image.new("L", (28 * SCALE + 60, 28 * SCALE + 40), 250)
    canvas.paste(big, (10 + shift % 40, 5 + shift % 30))
    buffer = io.BytesIO()
    options = {"JPEG": {"quality": 85}, "PNG": {"compress_level": 1}}.get(fmt, {})
    canvas.convert(mode).save(buffer, fmt, **options)
    return buffer.getvalue()


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
