"""The account books — 明细账, 总分类账, 银行存款日记账 — drawn straight onto the PDF canvas (ReportLab).

A year's ledger runs to a thousand pages; the HTML renderer needs about a quarter of a second a
page for its cascade and table layout (profiled), this one a few milliseconds. Same font, page
box, running header, footer with the verification code, and "第 x 页 / 共 y 页" as every other
statement. Rows are laid out first (a memo too wide wraps onto more lines), so the page count is
known before the first page is drawn. Each book is a `Sheet`: its columns and what a row shows in them.

Conventions (docs/books.md):

- 日期 prints month and day (04-26); the year is the statement's (its header says which).
- 借或贷 says on which side the balance stands (借 / 贷 / 平) and 余额 is never negative; the 日记账
  prints the balance of a cash account as it stands, negative only if overdrawn.
- When an account runs past the foot of a page, the page ends with **过次页** and the next begins with
  **承前页**, both carrying the same figures: the debits and credits since January 1 up to the last row
  of the page (本年累计 to that point, the usual convention) and the balance there with its 借或贷. A
  本月合计 row and its 本年累计 row are never parted by a page break.
- 摘要 and 对方科目 wrap at spaces, Chinese characters and punctuation, never inside a run of ASCII
  letters and digits ("定点医院00/02" breaks, if at all, after the "/"), closing punctuation stays with
  what it closes; only a run wider than the column is cut.
- Every amount is printed with thousands separators (core.money.fmt), the closing totals too.
"""

import io
import re
from dataclasses import dataclass

from django.utils.translation import gettext_lazy as _
from reportlab.lib.pagesizes import A4
from reportlab.lib.units import mm
from reportlab.pdfbase.pdfmetrics import stringWidth
from reportlab.pdfgen.canvas import Canvas

from core.errors import Refused, problem
from core.money import fmt

from .fonts_ttf import fonts_register

PAGE_W, PAGE_H = A4
LEFT, RIGHT, TOP, BOTTOM = 12 * mm, 12 * mm, 18 * mm, 18 * mm
WIDTH = PAGE_W - LEFT - RIGHT
SIZE, LINE, PAD = 8.5, 3.6 * mm, 1.2 * mm
ROW = LINE + 2 * PAD
GREY, SUM = (0.93, 0.93, 0.93), (0.96, 0.96, 0.96)
# At most this many table rows a page when set (tests force page breaks with it); else as many as fit.
PAGE_ROWS: int | None = None
TOTALS = ("day", "month", "year", "carry")


@dataclass(frozen=True)
class Column:
    head: str
    key: str  # what the column shows of a row (see _cell)
    width: float  # mm; 0: what the fixed columns leave (shared evenly by such columns)
    align: str = "l"  # l, r or c
    wrap: bool = False


@dataclass(frozen=True)
class Sheet:
    columns: tuple[Column, ...]
    summary: str  # the closing sentence, formatted with the statement's totals (amounts with separators)

    def widths(self) -> list[float]:
        fixed = sum(c.width * mm for c in self.columns)
        free = [c for c in self.columns if not c.width]
        return [c.width * mm or (WIDTH - fixed) / len(free) for c in self.columns]


DATE, VOUCHER = Column("日期", "date", 11), Column("凭证字号", "voucher", 26)
MEMO = Column("摘要", "memo", 0, wrap=True)
DC = Column("借或贷", "dc", 11, "c")
LEDGER = Sheet((DATE, VOUCHER, MEMO, Column("借方", "debit", 27, "r"), Column("贷方", "credit", 27, "r"), DC,
                Column("余额", "balance", 27, "r")),
               "全部明细科目本期借方合计 {debit}，贷方合计 {credit}。")
GENERAL = Sheet((DATE, MEMO, Column("借方", "debit", 31, "r"), Column("贷方", "credit", 31, "r"), DC,
                 Column("余额", "balance", 31, "r")),
                "全部总账科目本期借方合计 {debit}，贷方合计 {credit}。")
CASH = Sheet((DATE, VOUCHER, Column("摘要", "memo", 38, wrap=True), Column("对方科目", "counter", 0, wrap=True),
              Column("收入（借方）", "debit", 26, "r"), Column("支出（贷方）", "credit", 26, "r"),
              Column("余额", "signed", 26, "r")),
             "全部现金及银行存款账户本期收入合计 {receipts}，支出合计 {payments}，期末余额合计 {closing}。")

# A run of ASCII letters and digits is one word; closing punctuation (and a slash) stays with what precedes
# it, opening punctuation with what follows.
_TOKEN = re.compile(r"[A-Za-z0-9]+|\s+|.", re.S)
_CLOSING = set("，。、；：！？）」』】》〉”’·,.;:!?)]}%/-_")
_OPENING = set("（「『【《〈“‘([{")


def _tokens(text: str) -> list[str]:
    out = []
    for tok in _TOKEN.findall(text):
        if out and (tok in _CLOSING or out[-1][-1] in _OPENING) and not out[-1].isspace():
            out[-1] += tok
        else:
            out.append(tok)
    return out


def _wrap(text: str, width: float, font: str = "LedgerSans", size: float = SIZE) -> list[str]:
    """Lines of at most `width` points, broken between words (see _tokens); a word wider than a line is cut."""
    lines, current = [], ""
    for tok in _tokens(text):
        if stringWidth(current + tok, font, size) <= width:
            current += tok
            continue
        if current.strip():
            lines.append(current.rstrip())
        current = "" if tok.isspace() else tok
        while stringWidth(current, font, size) > width and len(current) > 1:  # a word wider than the column
            cut = len(current) - 1
            while cut > 1 and stringWidth(current[:cut], font, size) > width:
                cut -= 1
            lines.append(current[:cut])
            current = current[cut:]
    return lines + [current] if current or not lines else lines


def _cell(row: dict, key: str) -> str:
    """What a column shows of a row: amounts with separators, an empty side of a line left blank."""
    kind = row["kind"]
    if key == "date":
        return row["date"][5:] if row.get("date") else ""
    if key in ("debit", "credit"):
        if kind == "open" or (kind == "line" and row[key] == "0.00"):
            return ""
        return fmt(row[key])
    if key == "balance":
        return fmt(row["balance"])
    if key == "signed":  # a cash account's balance as it stands: negative only when overdrawn
        return fmt(f"-{row['balance']}" if row["dc"] == "贷" else row["balance"])
    return row.get(key, "")


def _carry(memo: str, row: dict) -> dict:
    """过次页 / 承前页: the year-to-date debits and credits and the balance after `row`."""
    return {"kind": "carry", "date": "", "memo": memo, "debit": row["cum_debit"], "credit": row["cum_credit"],
            "dc": row["dc"], "balance": row["balance"]}


def _heading(block: dict) -> str:
    title = f"{block['code']} {block['name']}"
    return f"{title}（{block['journal']}）" if block.get("journal") == "现金日记账" else title


def _paginate(data: dict, sheet: Sheet, page_rows: int | None = None) -> list[list]:
    """Pages of drawing items: ("heading", text), ("head",), ("row", cells, lines, bold), ("gap",), ("upper", text).

    `page_rows`: at most that many table rows a page (过次页 and 承前页 included), else as many as fit."""
    if page_rows is not None and page_rows < 4:
        raise ValueError("a page holds at least 4 rows: 承前页, two rows, 过次页")
    fonts_register()  # widths are measured in the shipped font
    widths = sheet.widths()
    fonts = {False: "LedgerSans", True: "LedgerSans-Bold"}

    def laid(row: dict):
        bold = row["kind"] in TOTALS
        cells = [_cell(row, c.key) for c in sheet.columns]
        lines = {i: _wrap(cells[i], widths[i] - 2 * PAD, fonts[bold]) for i, c in enumerate(sheet.columns) if c.wrap}
        height = ROW + (max((len(v) for v in lines.values()), default=1) - 1) * LINE
        return ("row", cells, lines, bold), height

    # The first page carries the title (and the chain position the statement stands on).
    pages, page = [], []
    room, count = PAGE_H - TOP - BOTTOM - (21 if data.get("chain") else 17) * mm, 0

    def new_page():
        nonlocal page, room, count
        pages.append(page)
        page, room, count = [], PAGE_H - TOP - BOTTOM, 0

    def fits(height: float, rows: int) -> bool:
        return height <= room and (page_rows is None or count + rows <= page_rows)

    def put(item, height: float, rows: int = 1):
        nonlocal room, count
        page.append(item)
        room -= height
        count += rows

    for block in data["accounts"]:
        title, rows = _heading(block), block["rows"]
        items = [laid(r) for r in rows]
        first = items[0][1] + (ROW if len(rows) > 1 else 0)  # the opening row, and a 过次页 after it
        if not fits(7 * mm + ROW + first, 1 + (len(rows) > 1)):
            new_page()
        put(("heading", title), 7 * mm, 0)
        put(("head",), ROW, 0)
        i = 0
        while i < len(rows):
            # 本月合计 and its 本年累计 stay together.
            n = 2 if rows[i]["kind"] == "month" and i + 1 < len(rows) and rows[i + 1]["kind"] == "year" else 1
            height = sum(h for _, h in items[i:i + n])
            last = i + n == len(rows)
            if not fits(height + (0 if last else ROW), n + (0 if last else 1)):
                carried = rows[i - 1]
                put(laid(_carry("过次页", carried))[0], ROW)
                new_page()
                put(("heading", f"{title}（续）"), 7 * mm, 0)
                put(("head",), ROW, 0)
                put(laid(_carry("承前页", carried))[0], ROW)
            for item, h in items[i:i + n]:
                put(item, h)
            i += n
        page.append(("gap",))
        room -= 3 * mm
    if room < 8 * mm:
        new_page()
    page.append(("upper", sheet.summary.format(**{k: fmt(v) for k, v in data["totals"].items()})))
    pages.append(page)
    return pages


def _check_glyphs(data: dict, cmap: set[int]) -> None:
    texts = [data["title"]]
    for block in data["accounts"]:
        texts += [block["name"], block.get("journal", "")]
        texts += [row.get(k, "") for row in block["rows"] for k in ("memo", "voucher", "counter")]
    missing = sorted({ch for t in texts for ch in t if ord(ch) > 0x7F and ord(ch) not in cmap})
    if missing:
        raise Refused([problem(data["title"], _("text"), _("characters the shipped font has"), "".join(missing))])


def _fit(c: Canvas, text: str, font: str, width: float) -> None:
    """The font at the body size, or smaller for a figure wider than its column."""
    natural = stringWidth(text, font, SIZE)
    c.setFont(font, SIZE if natural <= width else SIZE * width / natural)


def book_pdf(sheet: Sheet, *, data: dict, book, period: str, code: str, mark: str, by: str, at) -> tuple[bytes, int]:
    cmap = fonts_register()
    _check_glyphs(data, cmap)
    pages = _paginate(data, sheet, PAGE_ROWS)
    out = io.BytesIO()
    c = Canvas(out, pagesize=A4, pageCompression=1, invariant=0)
    c.setTitle(f"{data['title']} {book.code} {period}")
    c.setKeywords(f"{mark}{code}")
    c.setCreator("城乡居民大病保险资金核算账本")
    x = [LEFT]
    for w in sheet.widths():
        x.append(x[-1] + w)
    heads = [col.head for col in sheet.columns]
    for number, items in enumerate(pages, 1):
        c.setFont("LedgerSans", 8)
        c.setFillGray(0.33)
        c.drawString(LEFT, PAGE_H - TOP + 6 * mm, f"{book.code} {book.name}")
        c.drawRightString(PAGE_W - RIGHT, PAGE_H - TOP + 6 * mm, f"{data['title']}　{period}")
        c.setFont("LedgerSans", 7)
        c.drawString(LEFT, BOTTOM - 8 * mm, f"核验码 {mark}{code}（凭此码可在系统中核对账簿）")
        c.setFillGray(0)
        c.setFont("LedgerSans", 8)
        c.drawRightString(PAGE_W - RIGHT, BOTTOM - 8 * mm, f"第 {number} 页 / 共 {len(pages)} 页")
        y = PAGE_H - TOP
        if number == 1:
            c.setFont("LedgerSans-Bold", 15)
            c.drawCentredString(PAGE_W / 2, y - 6 * mm, "　".join(data["title"]))
            c.setFont("LedgerSans", SIZE)
            c.drawCentredString(PAGE_W / 2, y - 12 * mm, f"账套：{book.code} {book.name}　期间：{period}　单位：元　"
                                                          f"生成：{at:%Y-%m-%d %H:%M}（{by}）")
            if data.get("chain"):  # the chain position the statement stands on: verification checks from there
                c.drawCentredString(PAGE_W / 2, y - 16 * mm, f"依据账簿链：前 {data['chain']['length']} 张凭证，"
                                                              f"链头 {data['chain']['head']}")
                y -= 4 * mm
            y -= 17 * mm
        c.setLineWidth(0.4)
        for item in items:
            if item[0] == "heading":
                c.setFont("LedgerSans-Bold", 10)
                c.drawString(LEFT, y - 5 * mm, item[1])
                y -= 7 * mm
            elif item[0] in ("head", "row"):
                head = item[0] == "head"
                cells, lines, bold = (heads, {}, True) if head else item[1:]
                height = ROW + (max((len(v) for v in lines.values()), default=1) - 1) * LINE
                if head or bold:
                    c.setFillColorRGB(*(GREY if head else SUM))
                    c.rect(LEFT, y - height, WIDTH, height, stroke=0, fill=1)
                    c.setFillGray(0)
                c.rect(LEFT, y - height, WIDTH, height, stroke=1, fill=0)
                for xi in x[1:-1]:
                    c.line(xi, y, xi, y - height)
                font = "LedgerSans-Bold" if bold else "LedgerSans"
                base = y - PAD - SIZE * 0.85
                for i, (col, text) in enumerate(zip(sheet.columns, cells, strict=True)):
                    c.setFont(font, SIZE)
                    if head:
                        c.drawCentredString((x[i] + x[i + 1]) / 2, base, text)
                    elif i in lines:
                        for k, part in enumerate(lines[i]):
                            c.drawString(x[i] + PAD, base - k * LINE, part)
                    elif col.align == "r":
                        _fit(c, text, font, x[i + 1] - x[i] - 2 * PAD)
                        c.drawRightString(x[i + 1] - PAD, base, text)
                    elif col.align == "c":
                        c.drawCentredString((x[i] + x[i + 1]) / 2, base, text)
                    else:
                        _fit(c, text, font, x[i + 1] - x[i] - 2 * PAD)
                        c.drawString(x[i] + PAD, base, text)
                y -= height
            elif item[0] == "gap":
                y -= 3 * mm
            elif item[0] == "upper":
                c.setFont("LedgerSans", SIZE)
                c.drawString(LEFT, y - 5 * mm, item[1])
        c.showPage()
    c.save()
    return out.getvalue(), len(pages)


def ledger_pdf(**kwargs) -> tuple[bytes, int]:
    """明细账 (三栏式)."""
    return book_pdf(LEDGER, **kwargs)


def general_ledger_pdf(**kwargs) -> tuple[bytes, int]:
    """总分类账."""
    return book_pdf(GENERAL, **kwargs)


def cash_journal_pdf(**kwargs) -> tuple[bytes, int]:
    """银行存款日记账 / 现金日记账."""
    return book_pdf(CASH, **kwargs)
