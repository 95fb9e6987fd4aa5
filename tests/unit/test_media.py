"""Unit tests for xmodal_server.media: every input is built in memory; every refusal's message is checked."""
from __future__ import annotations

import dataclasses
import io
import struct
import time
import tracemalloc
import warnings
import zlib

import numpy as np
import pytest
import soundfile as sf
from PIL import Image, ImageFile

from xmodal_server.errors import InvalidInput
from xmodal_server.media import (
    TARGET_SAMPLE_RATE,
    MediaLimits,
    check_text,
    decode_audio,
    decode_image,
    decode_pcm_s16le,
)

LIMITS = MediaLimits()
RNG = np.random.default_rng(0)


def refused(fn, *args, match: str) -> InvalidInput:
    with pytest.raises(InvalidInput, match=match) as info:
        fn(*args)
    return info.value


# ---------------------------------------------------------------------------------------------- images
def encode(img: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **kw)
    return buf.getvalue()


def noise(size=(64, 48)) -> Image.Image:
    return Image.fromarray(RNG.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8), "RGB")


def png_chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def png_header_only(width: int, height: int) -> bytes:
    """A tiny PNG whose IHDR declares width x height (1-bit grey) with a few rows of IDAT."""
    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    rows = zlib.compress(b"\x00" * (1 + (width + 7) // 8) * 4)
    return b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", rows) + png_chunk(b"IEND", b"")


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP", "GIF", "BMP"])
def test_image_formats_round_trip(fmt):
    src = Image.new("RGB", (40, 30), (200, 30, 40))
    out = decode_image(encode(src, fmt), LIMITS)
    assert out.mode == "RGB" and out.size == (40, 30)
    assert np.abs(np.asarray(out, np.int16) - (200, 30, 40)).max() <= 12  # lossy / palette


def test_exif_orientation_is_applied():
    src = Image.new("RGB", (40, 20), (0, 0, 255))
    src.paste((255, 0, 0), (0, 0, 20, 20))  # left half red, as stored
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to display"
    out = decode_image(encode(src, "JPEG", exif=exif), LIMITS)
    assert out.size == (20, 40)
    r, _, b = out.getpixel((10, 5))  # the stored left half is now on top
    assert r > 200 and b < 60


def test_alpha_is_composited_on_white():
    rgba = Image.new("RGBA", (4, 4), (10, 20, 30, 0))
    rgba.putpixel((0, 0), (10, 20, 30, 255))
    out = decode_image(encode(rgba, "PNG"), LIMITS)
    assert out.mode == "RGB"
    assert out.getpixel((1, 1)) == (255, 255, 255) and out.getpixel((0, 0)) == (10, 20, 30)
    la = Image.new("LA", (4, 4), (0, 0))
    assert decode_image(encode(la, "PNG"), LIMITS).getpixel((2, 2)) == (255, 255, 255)
    pal = Image.new("P", (4, 4), 3)
    pal.putpalette([0, 0, 0] * 3 + [9, 9, 9] + [0, 0, 0] * 252)
    assert decode_image(encode(pal, "PNG", transparency=3), LIMITS).getpixel((1, 1)) == (255, 255, 255)


def test_other_modes_become_rgb():
    cmyk = decode_image(encode(Image.new("CMYK", (8, 8), (0, 255, 255, 0)), "JPEG"), LIMITS)
    assert cmyk.mode == "RGB" and cmyk.getpixel((4, 4))[0] > 200
    grey16 = Image.fromarray(np.full((4, 4), 4096, np.uint16))  # I;16: PIL's convert would clip to 255
    assert decode_image(encode(grey16, "PNG"), LIMITS).getpixel((1, 1)) == (16, 16, 16)
    assert decode_image(encode(Image.new("1", (8, 8), 1), "PNG"), LIMITS).getpixel((0, 0)) == (255, 255, 255)


def test_gif_first_frame():
    frames = [Image.new("RGB", (8, 8), c) for c in ((255, 0, 0), (0, 0, 255))]
    data = encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100)
    assert decode_image(data, LIMITS).getpixel((4, 4)) == (255, 0, 0)


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_truncated_image_refused(fmt):
    data = encode(noise((128, 128)), fmt)
    err = refused(decode_image, data[: len(data) * 6 // 10], LIMITS, match=f"truncated or corrupt \\({fmt}\\)")
    assert "re-encode" in str(err)
    refused(decode_image, data[:30], LIMITS, match=f"truncated or corrupt \\({fmt}\\)")  # header itself cut


def test_decompression_bomb_refused_without_decoding():
    data = png_header_only(20000, 20000)
    assert len(data) < 10_000
    tracemalloc.start()
    t0 = time.perf_counter()
    err = refused(decode_image, data, LIMITS, match="400000000 pixels, more than the limit 40000000")
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert "downscale" in str(err)
    assert peak < 10 * 1024 * 1024 and time.perf_counter() - t0 < 1.0
    assert not ImageFile.LOAD_TRUNCATED_IMAGES and Image.MAX_IMAGE_PIXELS == LIMITS.max_image_pixels


def test_pixel_limit_checked_from_header():
    # Below PIL's own guard: our header check refuses before load().
    refused(decode_image, png_header_only(300, 200), MediaLimits(max_image_pixels=50_000),
            match="60000 pixels, more than the limit 50000")
    # Between the limit and 2x it PIL only warns; the refusal is the same whether or not warnings are errors.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        refused(decode_image, png_header_only(8000, 6000), LIMITS, match="48000000 pixels, more than the limit")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        refused(decode_image, png_header_only(8000, 6000), LIMITS, match="48000000 pixels, more than the limit")


def test_bad_image_bytes_refused():
    refused(decode_image, b"", LIMITS, match="image is empty")
    refused(decode_image, RNG.bytes(4096), LIMITS, match="format not recognised; send JPEG, PNG")
    # TIFF is a valid image PIL can read, but not one we accept (decoders are restricted).
    refused(decode_image, encode(Image.new("RGB", (4, 4)), "TIFF"), LIMITS, match="format not recognised")
    refused(decode_image, encode(noise(), "PNG"), MediaLimits(max_image_bytes=100), match="more than the limit 100")
    refused(decode_image, png_header_only(0, 10), LIMITS, match=r"corrupt \(PNG\)")


def test_error_message_gets_item_prefix():
    err = refused(decode_image, b"", LIMITS, match="empty")
    assert str(err.with_item("items[3] (id 'a')")).startswith("items[3] (id 'a'): image is empty")


# ----------------------------------------------------------------------------------------------- audio
def sine(seconds: float, rate: int, freq: float = 440.0, amp: float = 0.5) -> np.ndarray:
    t = np.arange(int(round(seconds * rate))) / rate
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def audio_file(x: np.ndarray, rate: int, fmt: str, subtype: str | None = None) -> bytes:
    buf = io.BytesIO()
    sf.write(buf, x, rate, format=fmt, subtype=subtype)
    return buf.getvalue()


def check_output(y: np.ndarray, seconds: float) -> None:
    assert y.dtype == np.float32 and y.ndim == 1 and y.flags.c_contiguous
    assert abs(len(y) - seconds * TARGET_SAMPLE_RATE) <= 2
    assert np.abs(y).max() <= 1.0


def test_wav_44k_stereo_to_16k_mono():
    left = sine(1.0, 44100, amp=0.8)
    y = decode_audio(audio_file(np.stack([left, np.zeros_like(left)], 1), 44100, "WAV"), LIMITS)
    check_output(y, 1.0)
    assert len(y) == 16000
    assert 0.37 < np.abs(y[100:-100]).max() < 0.43  # mean of the channels: half the amplitude


@pytest.mark.parametrize("fmt,subtype,rate", [("FLAC", None, 16000), ("OGG", "VORBIS", 22050), ("OGG", "OPUS", 48000)])
def test_flac_and_ogg(fmt, subtype, rate):
    y = decode_audio(audio_file(sine(0.5, rate), rate, fmt, subtype), LIMITS)
    check_output(y, 0.5)
    assert 0.3 < np.abs(y).max() <= 0.7


def test_float_wav_non_finite_refused_and_overrange_clipped():
    x = sine(0.5, 16000)
    x[100] = np.nan
    refused(decode_audio, audio_file(x, 16000, "WAV", "FLOAT"), LIMITS, match="NaN or infinite")
    loud = audio_file(sine(0.5, 16000, amp=3.0), 16000, "WAV", "FLOAT")
    assert np.abs(decode_audio(loud, LIMITS)).max() == 1.0


def test_audio_duration_limits():
    err = refused(decode_audio, audio_file(sine(31.0, 8000), 8000, "WAV"), LIMITS,
                  match="31.00 s long, more than the limit 30 s")
    assert "shorter clips" in str(err)
    refused(decode_audio, audio_file(sine(2.0, 16000), 16000, "FLAC"), MediaLimits(max_audio_seconds=1.0),
            match="more than the limit 1 s")
    refused(decode_audio, audio_file(sine(0.05, 16000), 16000, "WAV"), LIMITS, match="shorter than the minimum 0.1 s")


def test_bad_audio_bytes_refused():
    refused(decode_audio, b"", LIMITS, match="audio is empty")
    err = refused(decode_audio, RNG.bytes(4096), LIMITS, match="could not be decoded: not a WAV, FLAC or OGG file")
    assert "send raw PCM with its sample rate" in str(err) and "BytesIO" not in str(err)
    flac = audio_file(sine(2.0, 16000), 16000, "FLAC")
    refused(decode_audio, flac[: len(flac) // 2], LIMITS, match=r"truncated or corrupt \(FLAC\)")
    refused(decode_audio, flac, MediaLimits(max_audio_bytes=1000), match="more than the limit 1000")
    refused(decode_audio, audio_file(sine(0.5, 16000), 16000, "AIFF"), LIMITS, match="format AIFF is not accepted")


def test_pcm_s16le():
    x = sine(0.5, 8000)
    y = decode_pcm_s16le((x * 32767).astype("<i2").tobytes(), 8000, LIMITS)
    check_output(y, 0.5)
    assert 0.45 < np.abs(y).max() < 0.55
    x48 = sine(0.5, 48000)
    stereo = np.stack([x48, -x48], 1)  # opposite channels cancel when averaged
    y2 = decode_pcm_s16le((stereo * 32767).astype("<i2").tobytes(), 48000, LIMITS, channels=2)
    check_output(y2, 0.5)
    assert np.abs(y2).max() < 1e-3
    # An odd rate (gcd 1 with 16 kHz) stays cheap thanks to the resampling-kernel guard.
    t0 = time.perf_counter()
    check_output(decode_pcm_s16le(np.zeros(47999, "<i2").tobytes(), 47999, LIMITS), 1.0)
    assert time.perf_counter() - t0 < 2.0


def test_pcm_refusals():
    refused(decode_pcm_s16le, b"\x00" * 3201, 16000, LIMITS, match=r"odd number of bytes \(3201\)")
    refused(decode_pcm_s16le, b"\x00" * 3202, 16000, LIMITS, 2, match="whole number of 2-channel frames")
    refused(decode_pcm_s16le, b"\x00" * 3200, 4000, LIMITS, match="sample rate must be an integer in 8000-48000 Hz, got 4000")
    refused(decode_pcm_s16le, b"\x00" * 3200, 96000, LIMITS, match="got 96000")
    refused(decode_pcm_s16le, b"\x00" * 3200, 16000.5, LIMITS, match="integer in 8000-48000 Hz, got 16000.5")
    refused(decode_pcm_s16le, b"\x00" * 3200, 16000, LIMITS, 0, match="channel count 0")
    refused(decode_pcm_s16le, b"", 16000, LIMITS, match="audio is empty")
    refused(decode_pcm_s16le, b"\x00" * 1000, 16000, LIMITS, match="shorter than the minimum")
    refused(decode_pcm_s16le, b"\x00" * (2 * 8000 * 31), 8000, LIMITS, match="more than the limit 30 s")


# ------------------------------------------------------------------------------------------------ text
def test_text_normalised_and_stripped():
    assert check_text("  cafe\u0301 au lait\n", LIMITS) == "caf\u00e9 au lait"
    assert check_text("x" * 10_000, LIMITS) == "x" * 10_000


def test_text_refusals():
    refused(check_text, "", LIMITS, match="text is empty")
    refused(check_text, " \t\n\u3000", LIMITS, match="text is empty")
    t0 = time.perf_counter()
    err = refused(check_text, "a" * 10_000_000, LIMITS, match="10000000 characters long, more than the limit 10000")
    assert time.perf_counter() - t0 < 1.0 and "shorten" in str(err)
    refused(check_text, "x" * 10_001, LIMITS, match="10001 characters long")
    refused(check_text, "ab\x00cd", LIMITS, match="NUL character at position 2")
    refused(check_text, "ok \ud800 no", LIMITS, match="surrogate code point U\\+D800 at position 3")
    refused(check_text, b"bytes", LIMITS, match="must be a string")


def test_limits_are_frozen_and_validated():
    with pytest.raises(dataclasses.FrozenInstanceError):
        LIMITS.max_text_chars = 5  # type: ignore[misc]
    with pytest.raises(ValueError):
        MediaLimits(min_audio_seconds=40.0)
