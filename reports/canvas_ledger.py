"""明细账 drawn straight onto the PDF canvas (ReportLab).

A year's ledger runs to a thousand pages; the HTML renderer needs about a quarter of a second a
page for its cascade and table layout (profiled), this one a few milliseconds. Same font, page
box, running header, footer with the verification code, and "第 x 页 / 共 y 页" as every other
statement. Rows are laid out first (a memo too wide wraps onto more lines), so the page count is
known before the first page is drawn.
"""

import io

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
COLS = [0.11, 0.15, 0.32, 0.14, 0.14, 0.14]  # 日期 凭证号 摘要 借方 贷方 余额
HEADS = ["日期", "凭证号", "摘要", "借方", "贷方", "余额"]
SIZE, LINE, PAD = 8.5, 3.6 * mm, 1.2 * mm
ROW = LINE + 2 * PAD
GREY, SUM = (0.93, 0.93, 0.93), (0.96, 0.96, 0.96)


def _wrap(text: str, width: float) -> list[str]:
    lines, current = [], ""
    for ch in text:
        if stringWidth(current + ch, "LedgerSans", SIZE) > width and current:
            lines.append(current)
            current = ch
        else:
            current += ch
    return lines + [current] if current or not lines else lines


def _amount(value: str) -> str:
    return fmt(value) if value not in ("", None) else ""


def _rows(account: dict):
    """(cells, bold) for every row of one account: opening, lines, total."""
    yield ["", "", "期初余额", "", "", _amount(account["opening"])], False
    for ln in account["lines"]:
        yield [ln["date"], ln["voucher"], ln["memo"], _amount(ln["debit"]), _amount(ln["credit"]),
               _amount(ln["balance"])], False
    yield ["", "", "本期合计 / 期末余额", _amount(account["debit"]), _amount(account["credit"]),
           _amount(account["closing"])], True


def _paginate(data: dict) -> list[list]:
    """Pages of drawing items: ("heading", text), ("head",), ("row", cells, lines, bold), ("gap",), ("upper", text)."""
    memo_w = WIDTH * COLS[2] - 2 * PAD
    # The first page carries the title (and the chain position the statement stands on).
    pages, page, room = [], [], PAGE_H - TOP - BOTTOM - (21 if data.get("chain") else 17) * mm

    def new_page():
        nonlocal page, room
        pages.append(page)
        page, room = [], PAGE_H - TOP - BOTTOM

    for account in data["accounts"]:
        title = f"{account['code']} {account['name']}"
        if room < 7 * mm + 2 * ROW:
            new_page()
        page += [("heading", title), ("head",)]
        room -= 7 * mm + ROW
        for cells, bold in _rows(account):
            memo = _wrap(cells[2], memo_w)
            height = ROW + (len(memo) - 1) * LINE
            if height > room:
                new_page()
                page += [("heading", f"{title}（续）"), ("head",)]
                room -= 7 * mm + ROW
            page.append(("row", cells, memo, bold))
            room -= height
        page.append(("gap",))
        room -= 3 * mm
    t = data["totals"]
    if room < 8 * mm:
        new_page()
    page.append(("upper", f"全部明细科目本期借方合计 {t['debit']}，贷方合计 {t['credit']}。"))
    pages.append(page)
    return pages


def _check_glyphs(data: dict, cmap: set[int]) -> None:
    texts = [data["title"]] + [a["name"] for a in data["accounts"]] + [
        ln["memo"] for a in data["accounts"] for ln in a["lines"]] + [ln["voucher"] for a in data["accounts"]
                                                                       for ln in a["lines"]]
    missing = sorted({ch for t in texts for ch in t if ord(ch) > 0x7F and ord(ch) not in cmap})
    if missing:
        raise Refused([problem("明细账", "text", "characters the shipped font has", "".join(missing))])


def ledger_pdf(*, data: dict, book, period: str, code: str, mark: str, by: str, at) -> tuple[bytes, int]:
    cmap = fonts_register()
    _check_glyphs(data, cmap)
    pages = _paginate(data)
    out = io.BytesIO()
    c = Canvas(out, pagesize=A4, pageCompression=1, invariant=0)
    c.setTitle(f"{data['title']} {book.code} {period}")
    c.setKeywords(f"{mark}{code}")
    c.setCreator("城乡居民大病保险资金核算账本")
    x = [LEFT]
    for w in COLS:
        x.append(x[-1] + WIDTH * w)
    for number, items in enumerate(pages, 1):
        c.setFont("LedgerSans", 8)
        c.setFillGray(0.33)
        c.drawString(LEFT, PAGE_H - TOP + 6 * mm, f"{book.code} {book.name}")
        c.drawRightString(PAGE_W - RIGHT, PAGE_H - TOP + 6 * mm, f"{data['title']}　{period}")
        c.setFont("LedgerSans", 7)
        c.drawString(LEFT, BOTTOM - 8 * mm, f"核验码 {mark}{code}（verify_report 可核对账簿）")
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
                cells, memo, bold = (HEADS, [HEADS[2]], True) if head else item[1:]
                height = ROW + (len(memo) - 1) * LINE
                if head or bold:
                    c.setFillColorRGB(*(GREY if head else SUM))
                    c.rect(LEFT, y - height, WIDTH, height, stroke=0, fill=1)
                    c.setFillGray(0)
                c.rect(LEFT, y - height, WIDTH, height, stroke=1, fill=0)
                for xi in x[1:-1]:
                    c.line(xi, y, xi, y - height)
                c.setFont("LedgerSans-Bold" if bold else "LedgerSans", SIZE)
                base = y - PAD - SIZE * 0.85
                for i, text in enumerate(cells):
                    if i == 2:
                        for k, part in enumerate(memo):
                            c.drawString(x[2] + PAD, base - k * LINE, part)
                    elif i >= 3 and not head:
                        c.drawRightString(x[i + 1] - PAD, base, text)
                    else:
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
