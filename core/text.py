"""Terminal columns that line up with Chinese text (CJK characters take two cells)."""

import unicodedata


def width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def ljust(text: str, cells: int) -> str:
    return text + " " * max(0, cells - width(text))


def rjust(text: str, cells: int) -> str:
    return " " * max(0, cells - width(text)) + text
