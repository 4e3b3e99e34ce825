"""A demonstration stock made from real Fashion-MNIST test images, for trying the service and
for benchmarks: each garment photographed as a shop would (dark on an off-white backdrop,
upscaled, off-centre), with a sku, a name and a quantity (every seventh item sold out)."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np
from PIL import Image

from fashion_models.train.data import CLASS_NAMES, load_fashion_mnist

SCALE = 6  # a 28x28 garment becomes 168x168, on a larger light backdrop


def shop_photo(image: np.ndarray, fmt: str = "JPEG", shift: int = 0, mode: str = "RGB") -> bytes:
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


def write_demo_stock(directory: Path, items: int, offset: int = 0) -> Path:
    """`items` test images from `offset` on as photos under directory/photos and their
    directory/stock.csv; returns the CSV's path."""
    data = load_fashion_mnist()
    images, labels = data.x_test[offset : offset + items], data.y_test[offset : offset + items]
    (directory / "photos").mkdir(parents=True, exist_ok=True)
    stock = directory / "stock.csv"
    with stock.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["sku", "name", "photo", "quantity"])
        for i, (image, label) in enumerate(zip(images, labels, strict=True)):
            number = offset + i
            photo = Path("photos") / f"{number:05d}.jpg"
            (directory / photo).write_bytes(shop_photo(image, shift=number))
            quantity = 0 if number % 7 == 0 else 1 + number % 5
            name = f"{CLASS_NAMES[int(label)]} no. {number}"
            writer.writerow([f"FM-{number:05d}", name, photo.as_posix(), quantity])
    return stock
