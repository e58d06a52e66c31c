"""Benchmark: decoding a QR code in a 12-megapixel phone photo (JPEG), our decoder against pyzbar on the
full-size image, measured in the same run. Target: median under 40 ms.

    python bench/bench_qr_decode.py [--runs 15]
"""
from __future__ import annotations

import argparse
import io
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import qrcode  # noqa: E402
from PIL import Image, ImageDraw, ImageFilter  # noqa: E402

from backoffice.scanning.decode import decode_full_size, decode_image  # noqa: E402

TEXT = "HCMBO1:BAAUKRKJIZ2DEMZYGJYWQRLJPJKFO5DBNBTDIZLXIRZWYZZSGMZTQ5ADVGC6XQAAQ7K2Y3XJNQ3QTMM4LQ5FBZ5"


def photo(seed: int = 7) -> bytes:
    """4000×3000 JPEG like a phone's: lit gradient, blurred clutter, sensor noise, and the card's QR held at
    arm's length, slightly rotated."""
    rng = random.Random(seed)
    image = Image.linear_gradient("L").resize((4000, 3000)).convert("RGB")
    draw = ImageDraw.Draw(image)
    for _ in range(80):
        x, y = rng.randrange(4000), rng.randrange(3000)
        draw.rectangle([x, y, x + rng.randrange(40, 700), y + rng.randrange(40, 500)],
                       fill=tuple(rng.randrange(256) for _ in range(3)))
    image = Image.blend(image.filter(ImageFilter.GaussianBlur(3)),
                        Image.effect_noise((4000, 3000), 10).convert("RGB"), 0.25)
    code = qrcode.QRCode(box_size=14, border=4)
    code.add_data(TEXT)
    card = code.make_image().get_image().convert("RGB").rotate(8, resample=Image.Resampling.BICUBIC,
                                                                  expand=True, fillcolor="white")
    image.paste(card, (1500, 900))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=90)
    return out.getvalue()


def timed(fn, data: bytes, runs: int) -> tuple[float, object]:
    times, result = [], None
    for _ in range(runs):
        start = time.perf_counter()
        result = fn(data)
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times), result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    data = photo()
    ours, text = timed(decode_image, data, args.runs)
    base, texts = timed(decode_full_size, data, max(5, args.runs // 3))
    assert text == TEXT and texts == [TEXT], (text, texts)
    print(f"image: 4000x3000 JPEG, {len(data) / 1e6:.1f} MB, runs={args.runs}")
    print(f"decode_image (downscaled JPEG draft, QR only): median {ours:.1f} ms  (target < 40 ms: "
          f"{'yes' if ours < 40 else 'NO'})")
    print(f"baseline pyzbar on the full-size image:         median {base:.1f} ms")
    print(f"ratio ours/baseline: {ours / base:.2f} ({base / ours:.1f}x faster)")


if __name__ == "__main__":
    main()
