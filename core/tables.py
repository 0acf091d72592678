"""Reading tables users upload: CSV in UTF-8 (with or without BOM) or GB18030, XLSX or legacy XLS — streamed.

Claims files run to a million rows, so rows are yielded one at a time and the file is
never held whole in memory; the encoding is settled by a first pass before any row is read.
"""

import codecs
import csv
import re
from collections.abc import Iterator
from functools import cache
from itertools import chain, count, islice
from operator import itemgetter
from pathlib import Path

from django.utils.translation import gettext_lazy as _

from .errors import Refused, lazy_format, problem

_CHUNK = 1 << 20
_BLOCK_ROWS = 1000  # raw rows read and trimmed at once by iter_table
_LAST = itemgetter(-1)


def _spaceless(text: str) -> bool:
    """No character str.strip() would take away anywhere in text (Unicode whitespace: ideographic and no-break
    spaces too). str.split() splits where str.isspace(), as re's \\s matches: one C pass, a third of the
    regular expression's time on a claims row (half a second of a million-row file)."""
    parts = text.split()
    return not text or (len(parts) == 1 and len(parts[0]) == len(text))


class Unreadable(Refused):
    """The file itself cannot be read as a table (empty, damaged, unknown encoding)."""

    def __init__(self, path: Path, field: str, expected: str, found, line: int | None = None):
        name = Path(path).name
        where = name if line is None else lazy_format(_("%(file)s line %(line)s"), file=name, line=line)
        p = problem(where, field, expected, found)
        if line:
            p["row"] = line
        super().__init__([p])


def _text_cell(text: str) -> str:
    if "\u3000" in text or "\xa0" in text:
        text = text.replace("\u3000", " ").replace("\xa0", " ")
    return text.strip()


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).replace("\u3000", " ").replace("\xa0", " ").strip()


# Latin-1 (or any 8-bit) text often decodes as GB18030 too, into rare ideographs (Müller → M黮ler):
# an accented letter followed by an ASCII one lands outside GB2312, where everyday Chinese text
# (names, 摘要, hospital names) nearly never goes. A file read as GB18030 must therefore mostly use
# GB2312 characters, and use no 4-byte sequences, which no GBK export produces.
GB2312_SHARE_MIN = 0.9
_SAMPLE = 24


@cache
def _gb_tables() -> tuple[re.Pattern, dict]:
    """A pattern finding characters neither ASCII nor GB2312, and a str.translate table deleting
    every GB18030 two-byte character (what survives it came from a four-byte sequence)."""
    gb2312, two_byte = [], {}
    for lead in range(0x81, 0xFF):
        for trail in (*range(0x40, 0x7F), *range(0x80, 0xFF)):
            try:
                ch = bytes((lead, trail)).decode("gb18030")
            except UnicodeDecodeError:
                continue
            two_byte[ord(ch)] = None
            # GB2312's rows: symbols A1–A9, ideographs B0–F7, trail A1–FE; the private-use area is not text.
            if trail >= 0xA1 and (0xA1 <= lead <= 0xA9 or 0xB0 <= lead <= 0xF7) and not 0xE000 <= ord(ch) <= 0xF8FF:
                gb2312.append(ch)
    # A character class rather than a translate table: measured 4× faster over a million claims rows.
    return re.compile("[^\\x00-\\x7f" + "".join(re.escape(c) for c in sorted(gb2312)) + "]"), two_byte


class _Plausible:
    """Counts, chunk by chunk, how much of a GB18030 reading is everyday Chinese text."""

    def __init__(self):
        self.non_ascii = self.rare = self.four_byte = self.lines = 0
        self.sample, self.line = "", None

    def feed(self, text: str) -> None:
        uncommon, two_byte = _gb_tables()
        self.non_ascii += len(text) - len(text.encode("ascii", "ignore"))
        rest = "".join(uncommon.findall(text))
        if rest:
            self.rare += len(rest)
            self.four_byte += len(rest.translate(two_byte))
            if not self.sample:
                at = text.find(rest[0])
                self.sample = " ".join(text[max(0, at - _SAMPLE // 2): at + _SAMPLE].split())
                self.line = self.lines + text.count("\n", 0, at) + 1  # where a user can look first
        self.lines += text.count("\n")

    def problem(self):
        if self.four_byte:
            return lazy_format(_("neither (as GB18030 it has %(n)s four-byte characters; it reads %(sample)s)"),
                               n=self.four_byte, sample=repr(self.sample))
        if self.non_ascii and (self.non_ascii - self.rare) / self.non_ascii < GB2312_SHARE_MIN:
            share = (self.non_ascii - self.rare) / self.non_ascii
            return lazy_format(_("neither (read as GB18030 only %(share)s of its non-ASCII characters are common "
                                 "Chinese, as in %(sample)s: Latin-1 or another encoding?)"),
                               share=f"{share:.0%}", sample=repr(self.sample))
        return None


def _encoding(path: Path) -> str:
    expected = _("UTF-8 or GB18030 text, or an XLSX workbook")
    not_utf8 = None  # (line, byte) where UTF-8 failed, to show where a user can look
    for encoding in ("utf-8-sig", "gb18030"):
        decoder = codecs.getincrementaldecoder(encoding)()
        check = _Plausible() if encoding == "gb18030" else None
        lines = 0
        try:
            with open(path, "rb") as f:
                while chunk := f.read(_CHUNK):
                    try:
                        text = decoder.decode(chunk)
                    except UnicodeDecodeError as exc:
                        at = max(exc.start - len(exc.object) + len(chunk), 0)  # the decoder may hold bytes back
                        not_utf8 = not_utf8 or (lines + chunk.count(b"\n", 0, at) + 1, chunk[at:at + 1])
                        raise
                    lines += text.count("\n")
                    if check is not None:
                        check.feed(text)
                decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            continue
        if check is not None and (found := check.problem()):
            raise Unreadable(path, _("encoding"), expected, found, line=check.line)
        return encoding
    line, byte = not_utf8 or (None, b"")
    found = lazy_format(_("neither (byte 0x%(byte)s on line %(line)s is not UTF-8, and the file does not read as "
                          "GB18030 either)"), byte=byte.hex().upper(), line=line) if line else _("neither")
    raise Unreadable(path, _("encoding"), expected, found, line=line)


def _raw_rows(path: Path, head: bytes) -> Iterator[list]:
    if head == b"PK\x03\x04":
        from openpyxl import load_workbook

        try:
            book = load_workbook(path, read_only=True, data_only=True)
        except Exception as exc:  # openpyxl raises many kinds for a damaged workbook
            raise Unreadable(path, _("file"), _("a readable XLSX workbook"), exc) from None
        try:
            yield from book.worksheets[0].iter_rows(values_only=True)
        finally:
            book.close()
        return
    if head == b"\xd0\xcf\x11\xe0":  # an OLE2 file: the legacy XLS that Chinese online banking still exports
        yield from _xls_rows(path)
        return
    encoding = _encoding(path)
    with open(path, encoding=encoding, newline="") as text:
        reader = csv.reader(text)
        try:
            yield from reader
        except csv.Error as exc:  # a cell over the reader's limit: it stopped on that line, name it
            raise Unreadable(path, _("cell"), lazy_format(_("CSV cells of at most %(n)s characters"),
                                                          n=csv.field_size_limit()),
                             lazy_format(_("a cell the CSV reader refused (%(error)s)"), error=exc),
                             line=reader.line_num) from None


def _xls_rows(path: Path) -> Iterator[list]:
    """The first sheet of a legacy XLS workbook (xlrd): dates as datetimes, errors as their text."""
    import xlrd

    try:
        book = xlrd.open_workbook(path, on_demand=True)
    except Exception as exc:  # xlrd raises many kinds for a damaged or foreign OLE2 file
        raise Unreadable(path, _("file"), _("a readable XLS workbook"), exc) from None
    try:
        sheet = book.sheet_by_index(0)
        for r in range(sheet.nrows):
            row = []
            for cell in sheet.row(r):
                if cell.ctype == xlrd.XL_CELL_DATE:
                    row.append(xlrd.xldate.xldate_as_datetime(cell.value, book.datemode))
                elif cell.ctype == xlrd.XL_CELL_ERROR:
                    row.append(xlrd.error_text_from_code.get(cell.value, "#ERR"))
                else:
                    row.append(cell.value)
            yield row
    finally:
        book.release_resources()


def iter_table(path: Path) -> Iterator[tuple[int, list[str]]]:
    """(row number as a spreadsheet shows it, trimmed cell texts); trailing empty cells dropped, blank rows skipped."""
    path = Path(path)
    with open(path, "rb") as f:
        head = f.read(4)
        if not (head + f.read(1 << 16)).strip():
            raise Unreadable(path, _("file"), _("a table with a header row and figures"), _("an empty file"))
    text_only = head not in (b"PK\x03\x04", b"\xd0\xcf\x11\xe0")  # CSV: every cell is already text
    raw_rows = _raw_rows(path, head)
    n = 1
    while block := list(islice(raw_rows, _BLOCK_ROWS)):
        # Nearly every block of a CSV has no whitespace in any cell, no empty row and no empty last cell: its
        # rows are then taken as they are, found so by a few calls over the whole block (a million rows:
        # one function call a row was a second).
        if text_only and _spaceless("".join(chain.from_iterable(block))) and all(block) and all(map(_LAST, block)):
            yield from zip(count(n), block)
        else:
            for i, raw in enumerate(block, start=n):
                cells = _trimmed(raw) if text_only else [_cell(c) for c in raw]
                while cells and not cells[-1]:
                    cells.pop()
                if cells:
                    yield i, cells
        n += len(block)


def _trimmed(raw: list[str]) -> list[str]:
    """A CSV row's cells trimmed (what _cell does to text): a row with no whitespace at all (nearly all) is
    taken as it is, one with no ideographic or no-break space trimmed by str.strip alone."""
    joined = "".join(raw)
    if _spaceless(joined):
        return raw
    if "\u3000" not in joined and "\xa0" not in joined:
        return [c.strip() for c in raw]
    return [_text_cell(c) for c in raw]
