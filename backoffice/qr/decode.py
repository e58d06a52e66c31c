"""Photo → QR text, with pyzbar.

A phone photo is 12 MP or more; ZBar on the full image is 5-10 times slower than on a 1000-px version, and even
the JPEG decoding dominates at full size. So JPEGs are decoded straight at a reduced scale (Pillow's `draft`, which lets libjpeg skip the DCT work), converted to grey
and scanned for QR symbols only. Only when nothing is found do we try harder: the inverted image (light-on-dark
codes from phones in dark mode), then a larger scale (a small code far away in a big photo).

Anything that is not an image, a truncated file, or too many pixels is refused with a `ScanRejected` code, before
the pixels are decoded where possible (the header says the size).
"""
from __future__ import annotations

import io
import warnings

from PIL import Image, ImageOps, ImageStat, UnidentifiedImageError
from pyzbar import pyzbar
from pyzbar.pyzbar import ZBarSymbol

from backoffice.qr.payload import ScanRejected

ALLOWED_FORMATS = {"JPEG", "MPO", "PNG", "WEBP", "GIF", "BMP", "TIFF"}
MAX_PIXELS = 50_000_000  # a 48 MP phone photo passes; decompression bombs do not
MAX_BYTES = 20 * 1024 * 1024
FIRST_SIDE = 1000  # long side of the first, fast attempt (a card held up to a phone fills much of the frame)
SECOND_SIDE = 2400  # long side of the last attempt, for small codes in big photos


def _open(data: bytes, max_pixels: int) -> Image.Image:
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
        raise ScanRejected("not_image")
    width, height = image.size
    if width < 1 or height < 1:
        raise ScanRejected("not_image")
    if width * height > max_pixels:
        raise ScanRejected("image_too_large")
    return image


def _grey_at(image: Image.Image, long_side: int) -> Image.Image:
    """The image in grey with its long side at most `long_side`, decoding as little as possible."""
    width, height = image.size
    scale = min(1.0, long_side / max(width, height))
    target = (max(1, int(width * scale)), max(1, int(height * scale)))
    if image.format in ("JPEG", "MPO"):
        image.draft("L", target)  # libjpeg decodes at 1/2, 1/4 or 1/8 scale, not below `target`
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image.load()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ScanRejected("image_too_large") from None
    except (OSError, SyntaxError, ValueError):
        raise ScanRejected("truncated_image") from None
    if image.mode in ("RGBA", "LA", "P", "PA"):
        # Transparent pixels become white, as a QR on a page would be.
        background = Image.new("RGBA", image.size, "white")
        image = Image.alpha_composite(background, image.convert("RGBA"))
    grey = image.convert("L")
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


def decode_image(data: bytes, *, max_pixels: int = MAX_PIXELS) -> str:
    """The text of the one QR code in a photo; ScanRejected otherwise (not_image, truncated_image,
    image_too_large, no_qr, several_qr)."""
    image = _open(data, max_pixels)
    full_size = image.size  # `draft` below shrinks image.size to the scale it decodes at
    grey = _grey_at(image, FIRST_SIDE)
    # JPEG ringing around a rotated code's edges can defeat ZBar's own thresholding: a hard threshold at the
    # image's mean grey cleans it up. Each fallback only runs when the cheaper one found nothing.
    attempts = [lambda: grey, lambda: _binarized(grey), lambda: ImageOps.invert(grey)]
    if max(full_size) > FIRST_SIDE * 1.2:
        def larger() -> Image.Image:
            return _grey_at(Image.open(io.BytesIO(data)), SECOND_SIDE)
        attempts += [larger, lambda: ImageOps.invert(larger())]
    for attempt in attempts:
        texts = _scan(attempt())
        if len(texts) > 1:
            raise ScanRejected("several_qr")
        if texts:
            return texts[0]
    raise ScanRejected("no_qr")


def decode_full_size(data: bytes) -> list[str]:
    """Baseline for the benchmark: pyzbar on the full-size image, as a naive implementation would."""
    image = Image.open(io.BytesIO(data))
    return _scan(image.convert("L"))
