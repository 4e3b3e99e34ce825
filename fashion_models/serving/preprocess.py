"""A garment photo -> the model's input: 28x28 grayscale, light garment on black, like the data.

Fashion-MNIST was made from shop photos by trimming the background, fitting the longest edge to
28 pixels, centring on a 28x28 canvas and negating. We do the same to an uploaded photo:

1. flatten: transparent parts over white (a cut-out on a page), then to 8-bit grayscale;
2. polarity: the background level is the median of the border pixels; on a light background
   (a shop photo: dark garment on light) the image is negated, so the garment is light on dark;
3. background: the background level is subtracted (an off-white backdrop becomes black);
4. crop to the garment: the bounding box of pixels brighter than 5% of full scale after step 3
   (the data set's trimming threshold), so framing and photo size do not matter;
5. square: the crop is resized so its longest edge fills 28 - 2 * margin pixels (area
   averaging), then centred on a black 28x28 canvas; margin 0 matches the data set;
6. scale to float32 in [0, 1], shape (28, 28, 1), as the model was trained.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

SIZE = 28
FOREGROUND_THRESHOLD = 0.05 * 255  # Fashion-MNIST trimmed edges within 5% of the corner colour
BORDER = 0.05  # the outer 5% of each side is taken as background


def to_grayscale(image: Image.Image) -> np.ndarray:
    """Step 1: uint8 grayscale, transparency composited over white."""
    if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:
        rgba = image.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(white, rgba)
    return np.asarray(image.convert("L"), dtype=np.uint8)


def background_level(gray: np.ndarray) -> float:
    """The median of the border pixels (the outer BORDER of each side, at least one pixel)."""
    h, w = gray.shape
    bh, bw = max(1, round(h * BORDER)), max(1, round(w * BORDER))
    ring = np.concatenate(
        [gray[:bh].ravel(), gray[-bh:].ravel(), gray[:, :bw].ravel(), gray[:, -bw:].ravel()]
    )
    return float(np.median(ring))


def garment_on_black(gray: np.ndarray) -> np.ndarray:
    """Steps 2-3: float32 0-255, light garment on a black background."""
    values = gray.astype(np.float32)
    if background_level(gray) > 127.5:  # light backdrop: a shop photo, negate it
        values = 255.0 - values
    return np.clip(values - background_level(values), 0.0, 255.0)


def crop_to_garment(values: np.ndarray) -> np.ndarray:
    """Step 4: the bounding box of the foreground; the whole image when there is none."""
    rows = np.flatnonzero((values > FOREGROUND_THRESHOLD).any(axis=1))
    cols = np.flatnonzero((values > FOREGROUND_THRESHOLD).any(axis=0))
    if rows.size == 0 or cols.size == 0:
        return values
    return values[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]


def fit_square(values: np.ndarray, margin: int = 0) -> np.ndarray:
    """Step 5: longest edge to SIZE - 2 * margin, centred on a black SIZE x SIZE canvas."""
    h, w = values.shape
    inner = SIZE - 2 * margin
    scale = inner / max(h, w)
    new_w, new_h = max(1, round(w * scale)), max(1, round(h * scale))
    resample = Image.Resampling.BOX if scale < 1 else Image.Resampling.BILINEAR
    resized = Image.fromarray(values.astype(np.float32), mode="F").resize((new_w, new_h), resample)
    canvas = np.zeros((SIZE, SIZE), dtype=np.float32)
    top, left = (SIZE - new_h) // 2, (SIZE - new_w) // 2
    canvas[top : top + new_h, left : left + new_w] = np.asarray(resized)
    return canvas


def preprocess(image: Image.Image, margin: int = 0) -> np.ndarray:
    """A decoded photo -> float32 (28, 28, 1) in [0, 1], as the model was trained on."""
    square = fit_square(crop_to_garment(garment_on_black(to_grayscale(image))), margin)
    return (np.clip(square, 0.0, 255.0) / 255.0)[..., np.newaxis].astype(np.float32)
