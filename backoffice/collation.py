"""Vietnamese alphabetical order, and the natural order of administrative unit names ("Phường 2" before
"Phường 10", numbered wards before named ones).

Vietnamese orders letters a ă â b c d đ e ê g h i k l m n o ô ơ p q r s t u ư v x y: the breve, circumflex, horn
and the stroke of đ make letters of their own, while the five tone marks only break ties (CLDR's `vi` tailoring).
Python's string order and the root Unicode collation (pyuca) both get this wrong ("Ăn" before "Az"); ICU gets it
right, but PyICU has no wheel and needs a C++ compiler and ICU's headers on every machine, so the tailoring,
which is small, is written out here."""
from __future__ import annotations

import re
import unicodedata

# Marks that make a letter of its own, in alphabetical order after the bare letter (a < ă < â, o < ô < ơ).
_LETTER_MARKS = {"\u0306": 1, "\u0302": 2, "\u031b": 3}  # breve, circumflex, horn
# Tone marks: secondary, in the order Vietnamese dictionaries use (none, grave, hook, tilde, acute, dot below).
_TONES = {"\u0300": 1, "\u0309": 2, "\u0303": 3, "\u0301": 4, "\u0323": 5}
_NUMBER = re.compile(r"(\d+)")


def vi_key(text: str) -> tuple:
    """A sort key giving Vietnamese alphabetical order (case-insensitive; tones then case break ties)."""
    primary: list[tuple[str, int]] = []
    tones: list[int] = []
    for char in unicodedata.normalize("NFD", text.casefold()):
        if char in _LETTER_MARKS and primary:
            primary[-1] = (primary[-1][0], _LETTER_MARKS[char])
        elif char in _TONES:
            if tones:
                tones[-1] = _TONES[char]
        elif unicodedata.combining(char):
            continue
        elif char == "đ":
            primary.append(("d", 1))
            tones.append(0)
        else:
            primary.append((char, 0))
            tones.append(0)
    return tuple(primary), tuple(tones), text


def natural_key(name: str) -> tuple:
    """Numbers compare as numbers and come before words at the same place: "Phường 1", "Phường 2", …
    "Phường 10", then "Phường An Khánh", "Phường Bến Nghé"… in Vietnamese order."""
    parts = []
    for index, part in enumerate(_NUMBER.split(name.strip())):
        if not part.strip():
            continue
        parts.append((0, int(part), ()) if index % 2 else (1, 0, vi_key(part.strip())))
    return tuple(parts)


def sorted_naturally(items, key=lambda item: item):
    """`items` in natural Vietnamese order of `key(item)`."""
    return sorted(items, key=lambda item: natural_key(key(item)))
