"""Reading uploaded images safely: byte and pixel limits, Pillow's bomb check, one clear error.

Every way an upload can be bad ends in ImageError with a reason a customer (or the web app's
developer) can act on; nothing else escapes, so one bad image never takes its batch down.
"""

from __future__ import annotations

import base64
import binascii
import io
import warnings
from pathlib import Path

from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

from fashion_models.errors import UserError

MAX_BYTES = 20 * 1024 * 1024  # 20 MiB: a phone photo is 2-10 MiB
MAX_PIXELS = 40_000_000  # 40 megapixels, about 160 MB once decoded to RGBA
FORMATS = ("JPEG", "PNG", "WEBP", "GIF", "BMP", "TIFF")

# Pillow's own bomb check stays on (its default limit, ~89 MP, warns; twice that raises); ours
# is lower and is checked before any pixel is decoded. Truncated files must fail, not be padded.
ImageFile.LOAD_TRUNCATED_IMAGES = False


class ImageError(UserError, ValueError):
    """This image cannot be used; the message says why."""


def from_base64(text: str) -> bytes:
    """The bytes of a base64 string (standard alphabet, padding required)."""
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as err:
        raise ImageError(f"not valid base64 ({err})") from err


def as_bytes(data: bytes | bytearray | memoryview | str) -> bytes:
    """Raw image bytes from bytes, or from a base64 string (how JSON carries them)."""
    if isinstance(data, str):
        return from_base64(data)
    if isinstance(data, bytes | bytearray | memoryview):
        return bytes(data)
    raise ImageError(f"expected image bytes or a base64 string, got {type(data).__name__}")


def read_file(path: Path, *, max_bytes: int = MAX_BYTES) -> bytes:
    """A file's bytes, checked against the byte limit before anything is read."""
    try:
        size = path.stat().st_size
        if size > max_bytes:
            raise ImageError(f"file too large: {size} bytes, the limit is {max_bytes}")
        return path.read_bytes()
    except OSError as err:
        raise ImageError(f"cannot read file ({err.strerror or err})") from err


def decode(data: bytes, *, max_bytes: int = MAX_BYTES, max_pixels: int = MAX_PIXELS) -> Image.Image:
    """The decoded first frame of an image, upright (EXIF orientation applied).

    Raises ImageError: empty, over `max_bytes` or `max_pixels`, not an image, an unsupported
    format, truncated or corrupt.
    """
    if len(data) == 0:
        raise ImageError("empty file (0 bytes)")
    if len(data) > max_bytes:
        raise ImageError(f"file too large: {len(data)} bytes, the limit is {max_bytes}")
    try:
        with warnings.catch_warnings():
            # Over Pillow's warning limit is over ours too; make it an error, not a log line.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data), formats=FORMATS)
            _check_size(image.size, max_pixels)
            image.seek(0)  # the first frame of an animated GIF or WebP
            image.load()
            return ImageOps.exif_transpose(image)
    except ImageError:
        raise
    except UnidentifiedImageError as err:
        raise ImageError(f"not a readable image (supported: {', '.join(FORMATS)})") from err
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as err:
        raise ImageError(f"image too large, possibly a decompression bomb: {err}") from err
    except (OSError, SyntaxError, ValueError, EOFError) as err:
        # Pillow reports truncated and corrupt data as OSError ("image file is truncated").
        raise ImageError(f"corrupt or truncated image ({err})") from err


def _check_size(size: tuple[int, int], max_pixels: int) -> None:
    width, height = size
    if width <= 0 or height <= 0:
        raise ImageError(f"empty image ({width}x{height} pixels)")
    if width * height > max_pixels:
        raise ImageError(
            f"image too large: {width}x{height} = {width * height} pixels, "
            f"the limit is {max_pixels}"
        )
