"""Printable pages described once and drawn twice: as vector PDF (reportlab) and as PNG (Pillow).

A page is a list of elements placed in millimetres from the top-left corner. Text is wrapped when the layout
is built (with reportlab's metrics of the same TrueType font both backends draw with), so the PDF and the PNG
of a poster show the same lines. The font is DejaVu Sans, which matplotlib ships: it covers Vietnamese
(precomposed letters with stacked diacritics such as "ệ", "ữ", "Đ"), and no system font is needed.
"""
from __future__ import annotations

import io
import os
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Iterable, Sequence, Union

import matplotlib
import qrcode
from PIL import Image, ImageDraw, ImageFont
from qrcode.constants import ERROR_CORRECT_M
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen import canvas

FONT_DIR = os.path.join(matplotlib.get_data_path(), "fonts", "ttf")
FONTS = {False: ("DejaVuSans", "DejaVuSans.ttf"), True: ("DejaVuSans-Bold", "DejaVuSans-Bold.ttf")}
PT_TO_MM = 25.4 / 72
QUIET_ZONE = 4  # modules of white around a QR symbol, as ISO/IEC 18004 requires


@dataclass(frozen=True)
class Text:
    x: float  # mm; the left edge, or the centre when align == "center"
    baseline: float  # mm from the top of the page
    text: str
    size: float = 11  # points
    bold: bool = False
    align: str = "left"
    colour: str = "#000000"


@dataclass(frozen=True)
class QR:
    x: float
    y: float
    size: float  # mm, quiet zone included
    text: str
    colour: str = "#000000"


@dataclass(frozen=True)
class Box:
    x: float
    y: float
    w: float
    h: float
    fill: str | None = None
    stroke: str | None = None
    dashed: bool = False
    radius: float = 0


Element = Union[Text, QR, Box]


@dataclass
class Page:
    width: float  # mm
    height: float
    elements: list[Element] = field(default_factory=list)

    def add(self, *elements: Element) -> None:
        self.elements.extend(elements)


# --- fonts and text ------------------------------------------------------------------------------
@lru_cache(maxsize=None)
def _register(bold: bool) -> str:
    name, filename = FONTS[bold]
    pdfmetrics.registerFont(TTFont(name, os.path.join(FONT_DIR, filename)))
    return name


def text_width(text: str, size: float, bold: bool = False) -> float:
    """Width of `text` in millimetres."""
    return pdfmetrics.stringWidth(text, _register(bold), size) * PT_TO_MM


def wrap(text: str, size: float, width: float, bold: bool = False, max_lines: int = 3) -> list[str]:
    """Greedy word wrap to `width` mm; the last allowed line ends with "…" when the text is longer."""
    words, lines, line = text.split(), [], ""
    for word in words:
        candidate = f"{line} {word}".strip()
        if line and text_width(candidate, size, bold) > width:
            lines.append(line)
            line = word
        else:
            line = candidate
    if line:
        lines.append(line)
    if len(lines) > max_lines:
        lines = lines[:max_lines]
        last = lines[-1]
        while last and text_width(last + "…", size, bold) > width:
            last = last[:-1]
        lines[-1] = last.rstrip() + "…"
    return lines


def paragraph(x: float, top: float, text: str, size: float, width: float, *, bold: bool = False,
              align: str = "left", colour: str = "#000000", max_lines: int = 3,
              leading: float = 1.25) -> tuple[list[Text], float]:
    """Wrapped lines starting at `top` (mm); returns them and the y just below the last line."""
    step = size * leading * PT_TO_MM
    lines = wrap(text, size, width, bold, max_lines)
    anchor = x + width / 2 if align == "center" else x
    out = [Text(anchor, top + size * 0.8 * PT_TO_MM + i * step, line, size, bold, align, colour)
           for i, line in enumerate(lines)]
    return out, top + step * len(lines)


def qr_matrix(text: str) -> list[list[bool]]:
    """The QR symbol's modules (quiet zone included). ECC level M: survives a crease or a smudge on paper."""
    code = qrcode.QRCode(error_correction=ERROR_CORRECT_M, border=QUIET_ZONE)
    code.add_data(text.encode("ascii"))
    code.make(fit=True)
    return code.get_matrix()


def _runs(row: Sequence[bool]) -> Iterable[tuple[int, int]]:
    """(start, length) of each run of dark modules in a row: one rectangle per run, not per module."""
    start = None
    for i, dark in enumerate(list(row) + [False]):
        if dark and start is None:
            start = i
        elif not dark and start is not None:
            yield start, i - start
            start = None


# --- PDF -----------------------------------------------------------------------------------------
def pdf_bytes(pages: Sequence[Page], title: str = "") -> bytes:
    out = io.BytesIO()
    c = canvas.Canvas(out, pageCompression=1)
    c.setTitle(title)
    c.setCreator("HCMC safe-operation back office")
    for page in pages:
        c.setPageSize((page.width * mm, page.height * mm))
        for element in page.elements:
            _pdf_draw(c, page, element)
        c.showPage()
    c.save()
    return out.getvalue()


def _pdf_draw(c: canvas.Canvas, page: Page, e: Element) -> None:
    top = page.height
    if isinstance(e, Box):
        c.setDash(3, 2) if e.dashed else c.setDash()
        if e.fill:
            c.setFillColor(e.fill)
        if e.stroke:
            c.setStrokeColor(e.stroke)
            c.setLineWidth(0.5)
        c.roundRect(e.x * mm, (top - e.y - e.h) * mm, e.w * mm, e.h * mm, e.radius * mm,
                    stroke=1 if e.stroke else 0, fill=1 if e.fill else 0)
        c.setDash()
    elif isinstance(e, Text):
        c.setFont(_register(e.bold), e.size)
        c.setFillColor(e.colour)
        draw = c.drawCentredString if e.align == "center" else c.drawString
        draw(e.x * mm, (top - e.baseline) * mm, e.text)
    elif isinstance(e, QR):
        matrix = qr_matrix(e.text)
        module = e.size / len(matrix)
        c.setFillColor("#ffffff")
        c.rect(e.x * mm, (top - e.y - e.size) * mm, e.size * mm, e.size * mm, stroke=0, fill=1)
        c.setFillColor(e.colour)
        for r, row in enumerate(matrix):
            y = top - e.y - (r + 1) * module
            for start, length in _runs(row):
                # A hair of overlap keeps PDF viewers from drawing seams between adjacent rows.
                c.rect((e.x + start * module) * mm, y * mm, length * module * mm, module * mm * 1.02,
                       stroke=0, fill=1)


# --- PNG -----------------------------------------------------------------------------------------
@lru_cache(maxsize=64)
def _pil_font(bold: bool, px: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(os.path.join(FONT_DIR, FONTS[bold][1]), px)


def png_bytes(page: Page, dpi: int = 150) -> bytes:
    scale = dpi / 25.4  # px per mm
    image = Image.new("RGB", (round(page.width * scale), round(page.height * scale)), "#ffffff")
    draw = ImageDraw.Draw(image)
    for e in page.elements:
        if isinstance(e, Box):
            box = [e.x * scale, e.y * scale, (e.x + e.w) * scale, (e.y + e.h) * scale]
            draw.rounded_rectangle(box, radius=e.radius * scale, fill=e.fill, outline=e.stroke,
                                   width=max(1, round(0.3 * scale)) if e.stroke else 0)
        elif isinstance(e, Text):
            font = _pil_font(e.bold, max(1, round(e.size * PT_TO_MM * scale)))
            draw.text((e.x * scale, e.baseline * scale), e.text, font=font, fill=e.colour,
                      anchor="ms" if e.align == "center" else "ls")
        elif isinstance(e, QR):
            image.paste(qr_image(e.text, e.colour, round(e.size * scale)), (round(e.x * scale), round(e.y * scale)))
    out = io.BytesIO()
    image.save(out, "PNG", dpi=(dpi, dpi), optimize=True)
    return out.getvalue()


def qr_image(text: str, colour: str = "#000000", size_px: int = 600) -> Image.Image:
    """The QR symbol as an RGB image about `size_px` square, with whole-pixel modules (crisp edges decode best)."""
    matrix = qr_matrix(text)
    n = len(matrix)
    module = max(1, size_px // n)
    symbol = Image.new("1", (n, n), 1)
    symbol.putdata([0 if dark else 1 for row in matrix for dark in row])
    symbol = symbol.resize((n * module, n * module), Image.NEAREST)
    coloured = Image.new("RGB", symbol.size, colour)
    white = Image.new("RGB", symbol.size, "#ffffff")
    coloured = Image.composite(white, coloured, symbol)
    if coloured.size[0] == size_px:
        return coloured
    canvas_ = Image.new("RGB", (size_px, size_px), "#ffffff")
    offset = (size_px - coloured.size[0]) // 2
    canvas_.paste(coloured, (offset, offset))
    return canvas_
