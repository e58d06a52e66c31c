"""Photo → QR text, with pyzbar.

A phone photo is 12 MP or more; ZBar on the full image is 5-10 times slower than on a 1000-px version, and even
the JPEG decoding dominates at full size. So JPEGs are decoded straight at a reduced scale (Pillow's `draft`, which
lets libjpeg skip the DCT work), converted to grey and scanned for QR symbols only. Only when nothing is found do
we try harder: the inverted image (light-on-dark codes from phones in dark mode), then a larger scale (a small code
far away in a big photo).

Memory is the bound that matters, not bytes: a 200 KB PNG can declare 7000×7000 pixels, and decoding it costs
width × height × 4 bytes per copy whatever the file's size (the anonymous self check-in page accepts photos).
So, before any pixel is decoded: anything that is not an image is refused, and so is a header declaring more
pixels than a 12 MP phone photo has (QR_DECODE_MAX_PIXELS; Pillow's `Image.open` reads only the header). Then
at most QR_DECODE_CONCURRENCY decodes run at once in a process; a photo that finds every slot taken for
QR_DECODE_WAIT_SECONDS is answered `decoder_busy` (503, "try again") instead of queueing without bound. Each
decode drops to one grey byte per pixel as soon as it can and closes every intermediate image, so the peak is
about one decoded copy of the photo plus its grey version (tests/test_upload_bounds.py measures it).
"""
from __future__ import annotations

import io
import os
import threading
import warnings
from contextlib import contextmanager
from typing import Iterator

from flask import current_app, has_app_context
from flask_babel import lazy_gettext as _l
from PIL import Image, ImageOps, ImageStat, UnidentifiedImageError
from pyzbar import pyzbar
from pyzbar.pyzbar import ZBarSymbol

from backoffice.scanning.payload import REASONS, ScanRejected

ALLOWED_FORMATS = {"JPEG", "MPO", "PNG", "WEBP", "GIF", "BMP", "TIFF"}
MAX_PIXELS = 4032 * 3024  # a 12 MP phone photo (≈ 12.2 MP, either orientation): QR_DECODE_MAX_PIXELS
MAX_BYTES = 20 * 1024 * 1024
CONCURRENCY = 2  # decodes at once per process (QR_DECODE_CONCURRENCY): ~60 MB each at the pixel cap
WAIT_SECONDS = 2.0  # how long a photo may wait for a free slot (QR_DECODE_WAIT_SECONDS)
FIRST_SIDE = 1000  # long side of the first, fast attempt (a card held up to a phone fills much of the frame)
SECOND_SIDE = 2400  # long side of the last attempt, for small codes in big photos

# The decoder's own refusal, in the one table of scan rejection codes (payload.REASONS) the API, the reception
# page and the self check-in page answer from.
REASONS.setdefault("decoder_busy", (503, _l("Too many photos are being read right now. Please try again in a "
                                            "few seconds.")))


def _setting(name: str, default: float) -> float:
    if has_app_context():
        return float(current_app.config.get(name, default))
    return float(default)


_slots_lock = threading.Lock()
_slots: dict[tuple[int, int], threading.BoundedSemaphore] = {}


def _semaphore(size: int) -> threading.BoundedSemaphore:
    # Keyed by process id too: a worker forked after a decode must not share (or inherit the state of) its
    # parent's slots.
    key = (os.getpid(), size)
    with _slots_lock:
        if key not in _slots:
            _slots[key] = threading.BoundedSemaphore(size)
        return _slots[key]


@contextmanager
def decode_slot() -> Iterator[None]:
    """One of the process's decode slots, or ScanRejected("decoder_busy") when none frees up in time."""
    slots = _semaphore(max(1, int(_setting("QR_DECODE_CONCURRENCY", CONCURRENCY))))
    if not slots.acquire(timeout=max(0.0, _setting("QR_DECODE_WAIT_SECONDS", WAIT_SECONDS))):
        raise ScanRejected("decoder_busy")
    try:
        yield
    finally:
        slots.release()


def _open(data: bytes, max_pixels: int) -> Image.Image:
    """The image with only its header read; refused when it is not an image or declares too many pixels."""
    if not data:
        raise ScanRejected("no_image")
    if len(data) > MAX_BYTES:
        raise ScanRejected("image_too_large")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
    except (UnidentifiedImageError, ValueError, TypeError):
        raise ScanRejected("not_image") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ScanRejected("image_too_large") from None
    except OSError:
        raise ScanRejected("truncated_image") from None
    if image.format not in ALLOWED_FORMATS:
        image.close()
        raise ScanRejected("not_image")
    width, height = image.size
    if width < 1 or height < 1:
        image.close()
        raise ScanRejected("not_image")
    if width * height > max_pixels:
        image.close()
        raise ScanRejected("image_too_large")
    return image


def _flat_grey(image: Image.Image) -> Image.Image:
    """One grey byte per pixel; transparent pixels become white, as a QR on a page would be. Never more than the
    decoded image and two single-band copies at once (an RGBA composite would hold four 4-byte copies)."""
    transparent = image.mode in ("RGBA", "LA", "PA") or (image.mode in ("P", "L", "RGB")
                                                         and "transparency" in image.info)
    if not transparent:
        return image.convert("L")
    source = image if image.mode in ("RGBA", "LA") else image.convert("RGBA" if image.mode == "RGB" else "LA")
    try:
        alpha, grey = source.getchannel("A"), source.convert("L")
    finally:
        if source is not image:
            source.close()
    flat = Image.new("L", image.size, 255)
    flat.paste(grey, mask=alpha)
    grey.close()
    alpha.close()
    return flat


def _grey_at(image: Image.Image, long_side: int) -> Image.Image:
    """The image in grey with its long side at most `long_side`, decoding as little as possible. Closes `image`."""
    try:
        width, height = image.size
        scale = min(1.0, long_side / max(width, height))
        target = (max(1, int(width * scale)), max(1, int(height * scale)))
        if image.format in ("JPEG", "MPO"):
            image.draft("L", target)  # libjpeg decodes at 1/2, 1/4 or 1/8 scale, not below `target`, in grey
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error", Image.DecompressionBombWarning)
                image.load()
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise ScanRejected("image_too_large") from None
        except (OSError, SyntaxError, ValueError):
            raise ScanRejected("truncated_image") from None
        grey = _flat_grey(image)
    finally:
        image.close()  # the decoded pixels go now, not when the garbage collector finds them
    if max(grey.size) > long_side:
        grey.thumbnail((long_side, long_side), Image.Resampling.BILINEAR, reducing_gap=2.0)
    return grey


def _binarized(grey: Image.Image) -> Image.Image:
    threshold = int(ImageStat.Stat(grey).mean[0])
    return grey.point(lambda v: 255 if v > threshold else 0)


def _scan(grey: Image.Image) -> list[str]:
    found = pyzbar.decode(grey, symbols=[ZBarSymbol.QRCODE])
    texts = []
    for symbol in found:
        try:
            text = symbol.data.decode("utf-8")
        except UnicodeDecodeError:
            text = symbol.data.decode("latin-1")
        if text not in texts:
            texts.append(text)
    return texts


def decode_image(data: bytes, *, max_pixels: int | None = None) -> str:
    """The text of the one QR code in a photo; ScanRejected otherwise (not_image, truncated_image,
    image_too_large, no_qr, several_qr, decoder_busy). `max_pixels` defaults to QR_DECODE_MAX_PIXELS."""
    limit = int(max_pixels if max_pixels is not None else _setting("QR_DECODE_MAX_PIXELS", MAX_PIXELS))
    image = _open(data, limit)  # refused here, before a slot is taken or a pixel decoded
    full_size = image.size  # `draft` below shrinks image.size to the scale it decodes at
    try:
        with decode_slot():
            return _decode(data, image, full_size)
    finally:
        image.close()


def _decode(data: bytes, image: Image.Image, full_size: tuple[int, int]) -> str:
    grey = _grey_at(image, FIRST_SIDE)
    try:
        # JPEG ringing around a rotated code's edges can defeat ZBar's own thresholding: a hard threshold at
        # the image's mean grey cleans it up. Each fallback only runs when the cheaper one found nothing.
        found = _scan_variants(grey, (_binarized, ImageOps.invert))
    finally:
        grey.close()
    if found is None and max(full_size) > FIRST_SIDE * 1.2:
        grey = _grey_at(Image.open(io.BytesIO(data)), SECOND_SIDE)  # one grey copy held at a time
        try:
            found = _scan_variants(grey, (ImageOps.invert,))
        finally:
            grey.close()
    if found is None:
        raise ScanRejected("no_qr")
    return found


def _scan_variants(grey: Image.Image, fallbacks) -> str | None:
    """The one code in `grey`, else in each fallback's version of it (closed after its scan); None if none."""
    for make in (None, *fallbacks):
        candidate = grey if make is None else make(grey)
        try:
            texts = _scan(candidate)
        finally:
            if candidate is not grey:
                candidate.close()
        if len(texts) > 1:
            raise ScanRejected("several_qr")
        if texts:
            return texts[0]
    return None


def decode_full_size(data: bytes) -> list[str]:
    """Baseline for the benchmark: pyzbar on the full-size image, as a naive implementation would."""
    image = Image.open(io.BytesIO(data))
    return _scan(image.convert("L"))
