"""Tests for fashion_models.serving.preprocess: real photos back to the model's input."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from fashion_models.serving.images import decode
from fashion_models.serving.preprocess import preprocess
from tests.serving.photos import photo


def _transparent(garment: np.ndarray) -> bytes:
    """An RGBA cut-out: a dark garment, opaque where it is, on a fully transparent backdrop."""
    rgba = np.zeros((28, 28, 4), dtype=np.uint8)
    rgba[..., :3] = (255 - garment)[..., None]
    rgba[..., 3] = np.where(garment > 0, 255, 0)
    buffer = io.BytesIO()
    Image.fromarray(rgba, "RGBA").resize((112, 112)).save(buffer, "PNG")
    return buffer.getvalue()


def _animated_gif(garment: np.ndarray) -> bytes:
    """Two frames: the photo first, then a black frame that must be ignored."""
    first = Image.open(io.BytesIO(photo(garment, "PNG")))
    buffer = io.BytesIO()
    first.save(buffer, "GIF", save_all=True, append_images=[Image.new("RGB", first.size)])
    return buffer.getvalue()


@pytest.mark.parametrize(
    "make",
    [
        lambda g: photo(g, "JPEG"),
        lambda g: photo(g, "PNG", shift=17, mode="L"),
        lambda g: photo(g, "WEBP", shift=5),
        lambda g: photo(g, "PNG", shift=9, mode="P"),
        _animated_gif,
        _transparent,
    ],
    ids=["jpeg-rgb", "png-gray", "webp", "png-palette", "gif-first-frame", "png-rgba-cutout"],
)
def test_a_photo_becomes_the_data_sets_image_again(garments: np.ndarray, make) -> None:  # type: ignore[no-untyped-def]
    errors = []
    for garment in garments:
        x = preprocess(decode(make(garment)))
        assert x.shape == (28, 28, 1) and x.dtype == np.float32
        errors.append(np.abs(x[..., 0] - garment / 255).mean())
    # Light garment on black, cropped and centred as the data set was made: close to it (the
    # rest is resampling: up by 6 for the photo, down again). Another garment is 0.1-0.4 away.
    assert np.mean(errors) < 0.07 and max(errors) < 0.15


def test_a_light_on_dark_photo_is_not_negated(garments: np.ndarray) -> None:
    big = Image.fromarray(garments[0]).resize((140, 140))
    buffer = io.BytesIO()
    big.save(buffer, "PNG")
    x = preprocess(decode(buffer.getvalue()))
    assert np.abs(x[..., 0] - garments[0] / 255).mean() < 0.08
