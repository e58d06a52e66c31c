"""Reading what the back office prints: PDF pages to real PNGs (poppler's pdftoppm), QR decoding."""
from __future__ import annotations

import io
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
from PIL import Image
from pyzbar.pyzbar import ZBarSymbol, decode

needs_pdftoppm = pytest.mark.skipif(shutil.which("pdftoppm") is None,
                                    reason="poppler-utils (pdftoppm) is not installed: apt-get install poppler-utils")


def pdf_pages_png(pdf: bytes, dpi: int = 150) -> list[Image.Image]:
    """Rasterise every page of a PDF as a real viewer would (pdftoppm), one image per page."""
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "in.pdf"
        source.write_bytes(pdf)
        subprocess.run(["pdftoppm", "-r", str(dpi), "-png", str(source), str(Path(tmp) / "page")], check=True,
                       capture_output=True, timeout=60)
        return [Image.open(io.BytesIO(p.read_bytes())).copy() for p in sorted(Path(tmp).glob("page-*.png"))]


def pdf_text(pdf: bytes) -> str:
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "in.pdf"
        source.write_bytes(pdf)
        return subprocess.run(["pdftotext", "-enc", "UTF-8", str(source), "-"], check=True, capture_output=True,
                              timeout=60).stdout.decode("utf-8")


def qr_texts(image: Image.Image) -> list[str]:
    return sorted(s.data.decode("ascii") for s in decode(image.convert("L"), symbols=[ZBarSymbol.QRCODE]))


def png_qr_texts(data: bytes) -> list[str]:
    image = Image.open(io.BytesIO(data))
    assert image.format == "PNG"
    return qr_texts(image)
