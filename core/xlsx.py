"""Writing cells of an XLSX workbook (openpyxl) the one safe way: statements (reports.xlsx) and list
exports (core.exports) both go through here.

- Text is text: a value starting with = + - @ or a tab / carriage return (`=cmd|' /C calc'!A0`, a DDE
  payload in a memo) is stored as a string cell (data type "s") with Excel's quote prefix, so no
  spreadsheet reads it as a formula, not even when the cell is edited; what it shows is the text as typed.
  Characters an XLSX cannot hold (control characters) are dropped rather than failing the whole file.
- Money is a number: Decimal yuan (never float) in a numeric cell formatted #,##0.00.
"""

from datetime import date, datetime
from decimal import Decimal

from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
from openpyxl.utils import get_column_letter

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
MONEY = "#,##0.00"
INTEGER = "#,##0"
DATE = "yyyy-mm-dd"
THIN = Side(style="thin", color="FF555555")
BOX = Border(left=THIN, right=THIN, top=THIN, bottom=THIN)
BOLD = Font(bold=True)
HEAD_FILL = PatternFill("solid", fgColor="FFEEEEEE")
SUM_FILL = PatternFill("solid", fgColor="FFF4F4F4")
CENTER = Alignment(horizontal="center", vertical="center", wrap_text=True)


def formula_like(text: str) -> bool:
    """Whether a spreadsheet would take this text for a formula (or a DDE call) if it were typed in."""
    return text.startswith(FORMULA_START)


def safe_text(cell, value) -> None:
    """Put `value` into `cell` as text, never as a formula."""
    text = ILLEGAL_CHARACTERS_RE.sub("", "" if value is None else str(value))
    cell.value = text
    if formula_like(text) or cell.data_type != "s":
        cell.data_type = "s"
        cell.quotePrefix = True


def money_cell(cell, amount) -> None:
    """Put an amount (Decimal, Money, or a statement's "1234.50" string) into `cell` as a number in yuan."""
    if amount is None or amount == "":
        cell.value = None
        return
    value = amount.amount if hasattr(amount, "amount") else Decimal(str(amount))
    cell.value = value.quantize(Decimal("0.01"))
    cell.number_format = MONEY


def put(cell, value) -> None:
    """Any value by its type: Decimal/Money → money, int → integer, date → date, everything else → safe text."""
    if value is None:
        cell.value = None
    elif hasattr(value, "amount") and hasattr(value, "currency") or isinstance(value, Decimal):
        money_cell(cell, value)
    elif isinstance(value, bool):
        safe_text(cell, "是" if value else "否")
    elif isinstance(value, int):
        cell.value = value
        cell.number_format = INTEGER
    elif isinstance(value, datetime):
        cell.value = value.replace(tzinfo=None)
        cell.number_format = "yyyy-mm-dd hh:mm"
    elif isinstance(value, date):
        cell.value = value
        cell.number_format = DATE
    else:
        safe_text(cell, value)


def widths(ws, columns: dict[int, float]) -> None:
    """Column widths in characters, by 1-based column number."""
    for col, width in columns.items():
        ws.column_dimensions[get_column_letter(col)].width = width


def print_setup(ws, *, landscape: bool, header_rows: str | None, left: str = "", center: str = "",
                footer_left: str = "") -> None:
    """A4, fit to the page width, header rows repeated on every page, running header and footer."""
    ws.page_setup.paperSize = ws.PAPERSIZE_A4
    ws.page_setup.orientation = "landscape" if landscape else "portrait"
    ws.page_setup.fitToWidth = 1
    ws.page_setup.fitToHeight = 0
    ws.sheet_properties.pageSetUpPr.fitToPage = True
    if header_rows:
        ws.print_title_rows = header_rows
    for hf in (ws.oddHeader, ws.evenHeader):
        hf.left.text, hf.left.size = _hf(left), 8
        hf.right.text, hf.right.size = _hf(center), 8
    for hf in (ws.oddFooter, ws.evenFooter):
        hf.left.text, hf.left.size = _hf(footer_left), 7
        hf.right.text, hf.right.size = "第 &P 页 / 共 &N 页", 8


def _hf(text: str) -> str:
    # "&" starts a header/footer code: a literal one is doubled.
    return text.replace("&", "&&")
