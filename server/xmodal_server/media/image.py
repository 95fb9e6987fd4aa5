"""Image bytes -> upright RGB ``PIL.Image``, refusing anything malformed, oversized or unsafe."""
from __future__ import annotations

import io
import re

import numpy as np
from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

from ..errors import InvalidInput
from . import MediaLimits

# Only these decoders are ever tried: ``Image.open`` would otherwise probe every plugin, including
# ones that shell out (EPS -> Ghostscript) or are rarely fuzzed. GIF/WebP: first frame only.
FORMATS = ("JPEG", "PNG", "WEBP", "GIF", "BMP")
_ACCEPTED = "JPEG, PNG, WebP, GIF or BMP"
# Magic numbers, only to tell "not an image we accept" from "one of ours, but corrupt" when the
# header itself is damaged and PIL cannot even identify the file.
_MAGIC = ((b"\x89PNG\r\n\x1a\n", "PNG"), (b"\xff\xd8\xff", "JPEG"), (b"GIF8", "GIF"), (b"BM", "BMP"))

# PIL's own bomb guard is process-global. We set it to our default limit (PIL's default is 89 MP) so
# it agrees with MediaLimits: PIL raises DecompressionBombError above 2x this value at ``open`` and our
# own header check refuses anything above the limit. We only ever raise it (see ``decode_image``), so
# a larger configured limit is never cut short by PIL, and other code keeps a guard at least this strict.
Image.MAX_IMAGE_PIXELS = MediaLimits().max_image_pixels
# Truncated files must fail loudly, never be padded with grey. This is PIL's default; we pin it in case
# some other import flipped it.
ImageFile.LOAD_TRUNCATED_IMAGES = False

_WHITE = (255, 255, 255)


def _sniff(data: bytes) -> str | None:
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WEBP"
    return next((name for magic, name in _MAGIC if data.startswith(magic)), None)


def _too_many_pixels(pixels: int | str, limits: MediaLimits) -> InvalidInput:
    return InvalidInput(
        f"image has {pixels} pixels, more than the limit {limits.max_image_pixels}; downscale it"
    )


def decode_image(data: bytes, limits: MediaLimits) -> Image.Image:
    """Decode JPEG/PNG/WebP/GIF/BMP bytes into an upright RGB image, alpha composited onto white."""
    if not data:
        raise InvalidInput(f"image is empty (0 bytes); send the encoded file ({_ACCEPTED})")
    if len(data) > limits.max_image_bytes:
        raise InvalidInput(
            f"image is {len(data)} bytes, more than the limit {limits.max_image_bytes}; "
            "compress or downscale it"
        )
    # Ratchet only: lowering it here could make PIL refuse a concurrent request with a larger limit.
    if Image.MAX_IMAGE_PIXELS is not None and Image.MAX_IMAGE_PIXELS < limits.max_image_pixels:
        Image.MAX_IMAGE_PIXELS = limits.max_image_pixels

    fmt = _sniff(bytes(data[:12]))
    try:
        img = Image.open(io.BytesIO(data), formats=FORMATS)  # lazy: reads the header only
    # The Warning (limit < pixels <= 2x limit) only arrives here when warnings are errors (e.g. pytest
    # -W error); otherwise PIL just logs it and our own header check below refuses the image.
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        match = re.search(r"\((\d+) pixels\)", str(e))  # PIL's message carries the declared size
        raise _too_many_pixels(match.group(1) if match else "too many", limits) from None
    except UnidentifiedImageError:  # its message only names our BytesIO: nothing useful to quote
        if fmt is None:
            raise InvalidInput(f"image format not recognised; send {_ACCEPTED}") from None
        raise InvalidInput(f"image is truncated or corrupt ({fmt}): bad header; re-encode it") from None
    except Exception as e:  # a plugin choking on a hostile header is bad input, not a server bug
        raise InvalidInput(f"image is truncated or corrupt ({fmt or 'unknown format'}): {e}; re-encode it") from None

    with img:
        fmt = img.format or fmt
        width, height = img.size
        if width <= 0 or height <= 0:
            raise InvalidInput(f"image has zero size ({width}x{height}); send a non-empty image")
        if width * height > limits.max_image_pixels:  # before load(): nothing has been allocated yet
            raise _too_many_pixels(width * height, limits)
        try:
            img.load()  # decode everything now, so truncation/corruption is caught here
        except Exception as e:
            raise InvalidInput(f"image is truncated or corrupt ({fmt}): {e}; re-encode it") from None
        return _to_rgb(_upright(img))


def _upright(img: Image.Image) -> Image.Image:
    # Phones store pixels sideways plus an EXIF Orientation tag; models must see what people see.
    try:
        return ImageOps.exif_transpose(img)
    except Exception:
        # Malformed EXIF is common and the pixels are fine: keep them as stored rather than refuse.
        return img.copy()


def _to_rgb(img: Image.Image) -> Image.Image:
    mode = img.mode
    if mode.startswith("I;16") or mode == "I":
        # 16-bit greyscale PNG: PIL's convert() clips to 255 (washes out to white); scale instead.
        arr = np.asarray(img).astype(np.int64).clip(0, 65535) >> 8
        img, mode = Image.fromarray(arr.astype(np.uint8), "L"), "L"
    if "A" in mode or "a" in mode or "transparency" in img.info:
        # Transparent areas have arbitrary RGB underneath (often black); white matches how they display.
        rgba = img.convert("RGBA")
        background = Image.new("RGB", rgba.size, _WHITE)
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    return img if mode == "RGB" else img.convert("RGB")  # CMYK, L, 1, P, YCbCr, ...
