"""Decoding photos of QR codes: generated images rotated, scaled, noisy, inverted, small inside a large photo;
and every kind of bad image refused with its code."""
from __future__ import annotations

import io
import random

import pytest
import qrcode
from PIL import Image, ImageDraw, ImageFilter, ImageOps

from backoffice.scanning.decode import decode_image
from backoffice.scanning.payload import ScanRejected

TEXT = "HCMBO1:BAAUKRKJIZ2DEMZYGJYWQRLJPJKFO5DBNBTDIZLXIRZWYZZSGMZTQ5ADVGC6XQAAQ7K2Y3XJNQ3QTMM4LQ5FBZ5"


def qr_image(text: str = TEXT, box: int = 8) -> Image.Image:
    code = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, box_size=box, border=4)
    code.add_data(text)
    return code.make_image(fill_color="black", back_color="white").get_image().convert("RGB")


def encode(image: Image.Image, fmt: str = "JPEG", **kwargs) -> bytes:
    out = io.BytesIO()
    image.save(out, fmt, **kwargs)
    return out.getvalue()


def photo_with(code: Image.Image, size=(4000, 3000), at=(2600, 1700), seed: int = 3) -> Image.Image:
    """A 12 MP 'photo': a textured, noisy background with the code somewhere in it."""
    rng = random.Random(seed)
    photo = Image.effect_noise(size, 40).convert("RGB")
    draw = ImageDraw.Draw(photo)
    for _ in range(60):
        x, y = rng.randrange(size[0]), rng.randrange(size[1])
        draw.rectangle([x, y, x + rng.randrange(50, 600), y + rng.randrange(50, 400)],
                       fill=tuple(rng.randrange(256) for _ in range(3)))
    photo.paste(code, at)
    return photo


def test_plain_png_and_jpeg():
    assert decode_image(encode(qr_image(), "PNG")) == TEXT
    assert decode_image(encode(qr_image(), "JPEG", quality=80)) == TEXT


@pytest.mark.parametrize("angle", [15, 45, 90, 180, 290])
def test_rotated(angle):
    rotated = qr_image().rotate(angle, resample=Image.Resampling.BICUBIC, expand=True, fillcolor="white")
    assert decode_image(encode(rotated)) == TEXT


@pytest.mark.parametrize("box", [3, 5, 20])
def test_scaled(box):
    assert decode_image(encode(qr_image(box=box), "PNG")) == TEXT


def test_noisy_and_blurred():
    image = qr_image(box=10)
    noise = Image.effect_noise(image.size, 60).convert("RGB")
    noisy = Image.blend(image, noise, 0.25).filter(ImageFilter.GaussianBlur(1.2))
    assert decode_image(encode(noisy, quality=70)) == TEXT


def test_inverted_dark_mode():
    assert decode_image(encode(ImageOps.invert(qr_image()), "PNG")) == TEXT


def test_small_code_inside_a_12_megapixel_photo():
    photo = photo_with(qr_image(box=6).rotate(10, expand=True, fillcolor="white"))
    assert decode_image(encode(photo, quality=88)) == TEXT


def test_transparent_png():
    image = qr_image().convert("RGBA")
    pixels = [(0, 0, 0, 255) if p[0] < 128 else (255, 255, 255, 0) for p in image.get_flattened_data()]
    image.putdata(pixels)  # noqa
    assert decode_image(encode(image, "PNG")) == TEXT


def code_of(data: bytes) -> str:
    with pytest.raises(ScanRejected) as info:
        decode_image(data)
    return info.value.code


def test_bad_images():
    assert code_of(b"") == "no_image"
    assert code_of(b"%PDF-1.4 this is not an image") == "not_image"
    assert code_of("Xin chào".encode()) == "not_image"
    assert code_of(encode(qr_image(), "PNG")[:400]) == "truncated_image"
    assert code_of(encode(qr_image(), "JPEG")[:500]) == "truncated_image"
    assert code_of(encode(Image.new("RGB", (800, 600), "white"))) == "no_qr"
    two = Image.new("RGB", (1400, 700), "white")
    two.paste(qr_image("HCMBO1:FIRSTCODE"), (20, 20))
    two.paste(qr_image("HCMBO1:SECONDCODE"), (720, 20))
    assert code_of(encode(two, "PNG")) == "several_qr"
    # A tiny file claiming a huge canvas (decompression bomb) is refused before its pixels are decoded.
    bomb = encode(Image.new("1", (12000, 12000), 1), "PNG", optimize=True)
    assert len(bomb) < 200_000 and code_of(bomb) == "image_too_large"
    svg = b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"></svg>'
    assert code_of(svg) == "not_image"
