"""QR images, personal QR cards and location posters (PNG, SVG, PDF).

Pure functions: they take the texts, the payload or URL and the colour, and return bytes. Which payload,
which colour and which URL are decided by the operations (`printing.cards`, `printing.locations`); nothing here reads
the database. Printed texts are in Vietnamese whatever the UI language of the person printing (posters and
cards are for the public of Ho Chi Minh City), with a small English line on posters for foreign visitors.
"""
from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import date
from typing import Iterable, Sequence

import qrcode
import qrcode.image.svg
from flask_babel import force_locale
from flask_babel import lazy_gettext as _l
from qrcode.constants import ERROR_CORRECT_M

from backoffice.printing.layout import QR, Box, Page, Text, paragraph, pdf_bytes, png_bytes, qr_image, text_width

GREEN = "#00703c"  # dark enough that a greyscale scanner still sees strong contrast against white
BLACK = "#000000"
INK = {"green": GREEN, "black": BLACK}
BRAND = "#0b4f8a"
GREY = "#555555"

A4 = (210.0, 297.0)
CARD = (85.6, 54.0)  # ID-1, the size of a bank card: fits a wallet, can be laminated
CARD_GRID = (2, 4)  # cards per A4 sheet: columns, rows

T_LOCATION = _l("LOCATION QR CODE")
T_ORGANIZATION = _l("ORGANIZATION QR CODE")
T_SCAN = _l("Scan this code with your phone's camera to check in here")
T_BRING = _l("Have your personal QR code or your ID number ready")
T_TYPE = _l("Or open this address:")
T_FOOTER = _l("Ho Chi Minh City — safe operation against COVID-19")
T_PERSONAL = _l("PERSONAL QR CODE")
T_ID = _l("ID no.")
T_PRINTED = _l("Printed")
T_STATUS = _l("Status when printed")
# The English line under the Vietnamese title stays English whatever the catalogs say.
SUBTITLES_EN = {True: "Location QR code — self check-in", False: "Organization QR code — self check-in"}
COLOUR_WORDS = {"green": _l("Green"), "black": _l("Black")}


def _vi(text) -> str:
    with force_locale("vi"):
        return str(text)


def _en(text) -> str:
    with force_locale("en"):
        return str(text)


# --- plain QR images -----------------------------------------------------------------------------
def qr_png(text: str, colour: str = "black", size_px: int = 600) -> bytes:
    out = io.BytesIO()
    qr_image(text, INK.get(colour, colour), size_px).save(out, "PNG", optimize=True)
    return out.getvalue()


def qr_svg(text: str) -> bytes:
    code = qrcode.QRCode(error_correction=ERROR_CORRECT_M, border=4,
                         image_factory=qrcode.image.svg.SvgPathImage)
    code.add_data(text.encode("ascii"))
    code.make(fit=True)
    out = io.BytesIO()
    code.make_image().save(out)
    return out.getvalue()


# --- posters -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Poster:
    """What a poster shows. `location_name` is empty for the organization's own QR ("Mã QR đơn vị")."""

    organization_name: str
    location_name: str
    address: str
    url: str


def poster_page(poster: Poster) -> Page:
    width, height = A4
    page = Page(width, height)
    title = T_ORGANIZATION if not poster.location_name else T_LOCATION
    page.add(Box(0, 0, width, 34, fill=BRAND),
             Text(width / 2, 19, _vi(title), 30, True, "center", "#ffffff"),
             Text(width / 2, 28, SUBTITLES_EN[title is T_LOCATION], 11, False, "center", "#dce8f5"))
    y = 44.0
    lines, y = paragraph(15, y, poster.organization_name, 20, width - 30, bold=True, align="center", max_lines=3)
    page.add(*lines)
    if poster.location_name:
        lines, y = paragraph(15, y + 2, poster.location_name, 28, width - 30, bold=True, align="center",
                             colour=BRAND, max_lines=2)
        page.add(*lines)
    if poster.address:
        lines, y = paragraph(15, y + 1, poster.address, 12, width - 30, align="center", colour=GREY, max_lines=2)
        page.add(*lines)
    footer_top = height - 62
    size = min(140.0, footer_top - y - 8)
    page.add(QR((width - size) / 2, y + 4, size, poster.url, BLACK))
    y = footer_top
    for text, pt, bold, colour in ((_vi(T_SCAN), 15, True, BLACK), (_vi(T_BRING), 12, False, BLACK),
                                   (_en(T_SCAN) + ". " + _en(T_BRING) + ".", 9, False, GREY)):
        lines, y = paragraph(15, y, text, pt, width - 30, bold=bold, align="center", colour=colour, max_lines=2)
        page.add(*lines)
        y += 1.5
    url_size = 10 if text_width(poster.url, 10) < width - 30 else 7
    page.add(Text(width / 2, y + 4, f"{_vi(T_TYPE)} {poster.url}" if url_size == 10 else poster.url,
                  url_size, False, "center", GREY),
             Box(15, height - 16, width - 30, 0.4, fill=BRAND),
             Text(width / 2, height - 9, _vi(T_FOOTER), 9, False, "center", GREY))
    return page


def poster_pdf(posters: Sequence[Poster], title: str = "") -> bytes:
    """One A4 page per poster, in one PDF (an organization prints all its posters at once)."""
    return pdf_bytes([poster_page(p) for p in posters], title=title or _vi(T_LOCATION))


def poster_png(poster: Poster, dpi: int = 150) -> bytes:
    return png_bytes(poster_page(poster), dpi)


# --- personal QR cards ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Card:
    full_name: str
    masked_id: str
    payload: str  # the signed personal QR text
    colour: str  # green or black: the status on the day of printing
    printed_on: date
    ward: str = ""


def _card_elements(card: Card, x0: float, y0: float) -> list:
    w, h = CARD
    ink = INK.get(card.colour, BLACK)
    qr_size = h - 10
    text_w = w - qr_size - 8
    out: list = [Box(x0, y0, w, h, stroke=ink, radius=3)]
    out.append(Text(x0 + 4, y0 + 7, _vi(T_PERSONAL), 8, True, "left", BRAND))
    lines, y = paragraph(x0 + 4, y0 + 10, card.full_name, 9.5, text_w, bold=True, max_lines=3)
    out += lines
    details = [f"{_vi(T_ID)} {card.masked_id}"]
    if card.ward:
        details.append(card.ward)
    details.append(f"{_vi(T_PRINTED)}: {card.printed_on:%d/%m/%Y}")
    y = max(y + 2, y0 + 26)
    for line in details:
        lines, y = paragraph(x0 + 4, y, line, 6.5, text_w, max_lines=2)
        out += lines
    status = f"{_vi(T_STATUS)}: {_vi(COLOUR_WORDS.get(card.colour, card.colour))}"
    lines, _y = paragraph(x0 + 4, y0 + h - 10, status, 6.5, text_w, bold=True, colour=ink, max_lines=2)
    out += lines
    out.append(QR(x0 + w - qr_size - 4, y0 + 5, qr_size, card.payload, ink))
    return out


def card_sheet_pages(cards: Iterable[Card]) -> list[Page]:
    """Cards laid out CARD_GRID per A4 sheet, with dashed cutting guides."""
    cols, rows = CARD_GRID
    w, h = CARD
    gap_x = (A4[0] - cols * w) / (cols + 1)
    gap_y = (A4[1] - rows * h) / (rows + 1)
    pages: list[Page] = []
    for index, card in enumerate(cards):
        slot = index % (cols * rows)
        if slot == 0:
            pages.append(Page(*A4))
        x = gap_x + (slot % cols) * (w + gap_x)
        y = gap_y + (slot // cols) * (h + gap_y)
        pages[-1].add(Box(x - 2, y - 2, w + 4, h + 4, stroke="#bbbbbb", dashed=True), *_card_elements(card, x, y))
    return pages


def cards_pdf(cards: Sequence[Card]) -> bytes:
    """All cards in one printable PDF (A4 sheets, cut along the dashed lines)."""
    if not cards:
        raise ValueError("no cards to print")
    return pdf_bytes(card_sheet_pages(cards), title=_vi(T_PERSONAL))


def personal_card_pdf(card: Card) -> bytes:
    return cards_pdf([card])


def personal_card_png(card: Card, dpi: int = 300) -> bytes:
    page = Page(*CARD)
    page.add(*_card_elements(card, 0, 0))
    return png_bytes(page, dpi)
