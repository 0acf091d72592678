"""Reading tables users upload: CSV in UTF-8 (with or without BOM) or GB18030, or XLSX — streamed.

Claims files run to a million rows, so rows are yielded one at a time and the file is
never held whole in memory; the encoding is settled by a first pass before any row is read.
"""

import codecs
import csv
from collections.abc import Iterator
from pathlib import Path

from .errors import Refused, problem

_CHUNK = 1 << 20


class Unreadable(Refused):
    """The file itself cannot be read as a table (empty, damaged, unknown encoding)."""

    def __init__(self, path: Path, field: str, expected: str, found):
        super().__init__([problem(str(Path(path).name), field, expected, found)])


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).replace("\u3000", " ").replace("\xa0", " ").strip()


def _encoding(path: Path) -> str:
    for encoding in ("utf-8-sig", "gb18030"):
        decoder = codecs.getincrementaldecoder(encoding)()
        try:
            with open(path, "rb") as f:
                while chunk := f.read(_CHUNK):
                    decoder.decode(chunk)
                decoder.decode(b"", final=True)
            return encoding
        except UnicodeDecodeError:
            continue
    raise Unreadable(path, "encoding", "UTF-8 or GB18030 text, or an XLSX workbook", "neither")


def _raw_rows(path: Path, head: bytes) -> Iterator[list]:
    if head == b"PK\x03\x04":
        from openpyxl import load_workbook

        try:
            book = load_workbook(path, read_only=True, data_only=True)
        except Exception as exc:  # openpyxl raises many kinds for a damaged workbook
            raise Unreadable(path, "file", "a readable XLSX workbook", exc) from None
        try:
            yield from book.worksheets[0].iter_rows(values_only=True)
        finally:
            book.close()
        return
    encoding = _encoding(path)
    with open(path, encoding=encoding, newline="") as text:
        yield from csv.reader(text)


def iter_table(path: Path) -> Iterator[tuple[int, list[str]]]:
    """(row number as a spreadsheet shows it, trimmed cell texts); trailing empty cells dropped, blank rows skipped."""
    path = Path(path)
    with open(path, "rb") as f:
        head = f.read(4)
        if not (head + f.read(1 << 16)).strip():
            raise Unreadable(path, "file", "a table with a header row and figures", "an empty file")
    for n, raw in enumerate(_raw_rows(path, head), start=1):
        cells = [_cell(c) for c in raw]
        while cells and not cells[-1]:
            cells.pop()
        if cells:
            yield n, cells
