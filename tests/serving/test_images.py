"""Tests for fashion_models.serving.images: decoding uploads with limits, one clear error."""

from __future__ import annotations

import base64

import numpy as np
import pytest

from fashion_models.serving.images import ImageError, as_bytes, decode
from tests.serving.photos import photo, png


def test_base64_is_accepted_and_bad_base64_is_an_image_error(garments: np.ndarray) -> None:
    raw = photo(garments[0], "JPEG")
    assert as_bytes(base64.b64encode(raw).decode()) == raw
    with pytest.raises(ImageError, match="not valid base64"):
        as_bytes("this is not base64!")


def _truncated_jpeg() -> bytes:
    data = photo(np.full((28, 28), 200, np.uint8), "JPEG")
    return data[: len(data) // 2]


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "empty file"),
        (png(0, 0), "not a readable image"),  # a 0x0 PNG: Pillow refuses to open it
        (b"garment,price\nshirt,12\n", "not a readable image"),  # a text file named .png
        (_truncated_jpeg(), "truncated"),
        (png(8000, 8000), "image too large: 8000x8000"),  # over our 40 MP limit
        (png(20000, 20000), "decompression bomb"),  # over Pillow's own limit
    ],
    ids=["zero-bytes", "0x0-png", "text", "truncated-jpeg", "over-pixel-limit", "pillow-bomb"],
)
def test_each_bad_input_has_its_own_clear_error(data: bytes, reason: str) -> None:
    with pytest.raises(ImageError, match=reason):
        decode(data)


def test_over_the_byte_limit(garments: np.ndarray) -> None:
    data = photo(garments[0], "PNG")
    with pytest.raises(ImageError, match=f"file too large: {len(data)} bytes"):
        decode(data, max_bytes=len(data) - 1)
    assert decode(data, max_bytes=len(data)).size == (28 * 6 + 60, 28 * 6 + 40)
