"""Every statement kind (reports.registry.KINDS) as an XLSX workbook, written from the very data dict its
PDF is made from, so the figures are the same to the fen: amounts are numeric cells (Decimal yuan, format
#,##0.00), totals are the figures the data carries (computed by the same code as the PDF's), never a
spreadsheet formula. Headings are the PDF's; each sheet has its header rows frozen and repeated on every
printed page, A4 fitted to the width; the verification code and the chain position are in a cell at the
top, in the running header/footer, and in the workbook's properties (keywords and a custom property),
where `verify_report` finds them. Every text cell goes through core.xlsx.safe_text.
"""

import io
import re
from decimal import Decimal

from openpyxl import Workbook
from openpyxl.packaging.custom import StringProperty
from openpyxl.styles import Alignment, Font

from core.xlsx import BOLD, BOX, CENTER, HEAD_FILL, SUM_FILL, money_cell, print_setup, safe_text, widths

from .province import province_xlsx

CODE_PROPERTY = "LedgerVerificationCode"
CREATOR = "城乡居民大病保险资金核算账本"


class Sheet:
    """One worksheet: the statement's heading rows, then tables written row by row."""

    def __init__(self, wb, name: str, ctx: dict, *, landscape: bool = True, ncols: int = 8):
        self.ws = wb.create_sheet(_sheet_name(name, wb))
        self.ctx, self.ncols, self.landscape = ctx, ncols, landscape
        self.row = 1
        self.header_end = None
        ws = self.ws
        self.merged(ctx["title"], font=Font(bold=True, size=15), align=CENTER, height=24)
        self.merged(f"账套：{ctx['book'].code} {ctx['book'].name}　期间：{ctx['period']}　单位：元　"
                    f"生成：{ctx['at']:%Y-%m-%d %H:%M}（{ctx['by']}）", align=CENTER)
        # The code in a cell of its own (and the chain position the statement stands on).
        self.merged(ctx["code_line"], font=Font(size=8), align=CENTER)
        ws.sheet_view.showGridLines = True

    # -- writing -----------------------------------------------------------------------------------
    def merged(self, text: str, *, font=None, align=None, height=None, fill=None) -> None:
        c = self.ws.cell(self.row, 1)
        safe_text(c, text)
        if font is not None:
            c.font = font
        c.alignment = align or Alignment(wrap_text=True, vertical="top")
        if fill is not None:
            c.fill = fill
        if self.ncols > 1:
            self.ws.merge_cells(start_row=self.row, start_column=1, end_row=self.row, end_column=self.ncols)
        if height:
            self.ws.row_dimensions[self.row].height = height
        elif len(text) > 12 * self.ncols:
            self.ws.row_dimensions[self.row].height = 15 * (1 + len(text) // (12 * self.ncols))
        self.row += 1

    def heading(self, text: str) -> None:
        self.merged(text, font=Font(bold=True, size=11))

    def head(self, *rows, freeze: bool = False) -> None:
        """Column heads; a row given as [(text, span), …] merges a head over `span` columns, and a head
        spanning rows (text, span, 2) covers the row below too."""
        top = self.row
        for cells in rows:
            col = 1
            for item in cells:
                text, span, down = (item, 1, 1) if isinstance(item, str) else (tuple(item) + (1,))[:3]
                if text is None:
                    col += span
                    continue
                c = self.ws.cell(self.row, col)
                safe_text(c, text)
                if span > 1 or down > 1:
                    self.ws.merge_cells(start_row=self.row, start_column=col, end_row=self.row + down - 1,
                                        end_column=col + span - 1)
                col += span
            for col in range(1, self.ncols + 1):
                c = self.ws.cell(self.row, col)
                c.font, c.fill, c.alignment, c.border = BOLD, HEAD_FILL, CENTER, BOX
            self.row += 1
        if freeze and self.header_end is None:
            self.header_end = self.row - 1
            self.ws.freeze_panes = self.ws.cell(self.row, 1)
            self.ws.print_title_rows = f"{top}:{self.header_end}"

    def line(self, values, *, money=(), bold: bool = False, indent: dict | None = None, border: bool = True) -> int:
        """A table row: `values` by column; the columns (0-based) named in `money` are amounts."""
        for i, v in enumerate(values):
            c = self.ws.cell(self.row, i + 1)
            if i in money:
                money_cell(c, v)
            elif v is not None:
                safe_text(c, v)
            if border:
                c.border = BOX
            if bold:
                c.font, c.fill = BOLD, SUM_FILL
            if indent and i in indent:
                c.alignment = Alignment(indent=indent[i])
        self.row += 1
        return self.row - 1

    def gap(self) -> None:
        self.row += 1

    def finish(self, col_widths: dict[int, float]) -> None:
        widths(self.ws, col_widths)
        ctx = self.ctx
        if self.header_end is None:  # no table to freeze under: the heading rows stay in view
            self.ws.freeze_panes = "A4"
            self.ws.print_title_rows = "1:3"
        print_setup(self.ws, landscape=self.landscape, header_rows=None,
                    left=f"{ctx['book'].code} {ctx['book'].name}", center=f"{ctx['title']}　{ctx['period']}",
                    footer_left=f"核验码 {ctx['mark']}{ctx['code']}（凭此码可在系统中核对账簿）{ctx['chain_text']}")


def _sheet_name(name: str, wb) -> str:
    base = re.sub(r"[\[\]:*?/\\']", "", name).strip()[:31] or "Sheet"
    taken = {ws.title for ws in wb.worksheets}
    candidate, n = base, 2
    while candidate in taken:
        suffix = f"({n})"
        candidate, n = base[:31 - len(suffix)] + suffix, n + 1
    return candidate


def _money(row: dict, keys) -> list:
    return [row[k] for k in keys]


# -- the kinds ---------------------------------------------------------------------------------------

def trial_balance_xlsx(wb, data: dict, ctx: dict) -> None:
    s = Sheet(wb, data["title"], ctx, ncols=8)
    s.head([("科目编码", 1, 2), ("科目名称", 1, 2), ("期初余额", 2), ("本期发生额", 2), ("期末余额", 2)],
           [(None, 2), "借方", "贷方", "借方", "贷方", "借方", "贷方"], freeze=True)
    keys = ("od", "oc", "pd", "pc", "cd", "cc")
    for r in data["rows"]:
        name = r["name"] + ("（反向余额）" if r.get("wrong") else "")
        s.line([r["code"], name, *_money(r, keys)], money=range(2, 8), bold=False, indent={1: r["depth"]})
        if not r["leaf"]:
            for col in range(1, 9):
                s.ws.cell(s.row - 1, col).font = BOLD
    s.line(["合计（明细科目）", "", *_money(data["totals"], keys)], money=range(2, 8), bold=True)
    s.ws.merge_cells(start_row=s.row - 1, start_column=1, end_row=s.row - 1, end_column=2)
    s.merged(f"本期发生额合计（大写）：{data['upper']['pd']}；期末余额合计（大写）：{data['upper']['cd']}；"
             + ("借贷平衡。" if data["balanced"] else "借贷不平衡！"))
    s.finish({1: 12, 2: 34, 3: 16, 4: 16, 5: 16, 6: 16, 7: 16, 8: 16})


def _book_xlsx(wb, data: dict, ctx: dict, sheet) -> None:
    """明细账 / 总分类账 / 银行存款日记账: one sheet, every account's block under its heading, the PDF's
    columns (reports.canvas_ledger) with the account in the first two, so the rows can be filtered."""
    cols = sheet.columns
    s = Sheet(wb, data["title"], ctx, ncols=2 + len(cols), landscape=False)
    s.head(["科目编码", "科目名称", *(c.head for c in cols)], freeze=True)
    amounts = {2 + i for i, c in enumerate(cols) if c.key in ("debit", "credit", "balance", "signed")}
    for block in data["accounts"]:
        name = block["name"] + (f"（{block['journal']}）" if block.get("journal") == "现金日记账" else "")
        for r in block["rows"]:
            values = [block["code"], name]
            for c in cols:
                values.append(_book_cell(r, c.key))
            s.line(values, money=amounts, bold=r["kind"] in ("day", "month", "year"))
    summary = sheet.summary.format(**{k: f"{Decimal(v):,.2f}" for k, v in data["totals"].items()})
    s.gap()
    s.merged(summary)
    # The totals as figures too, each in a numeric cell beside its name.
    for key, value in data["totals"].items():
        s.line([_TOTAL_NAMES.get(key, key), value], money={1}, bold=True)
    s.finish({1: 12, 2: 24, **{3 + i: (46 if c.key in ("memo", "counter") else 16 if c.key not in ("date", "dc") else 9)
                               for i, c in enumerate(cols)}})


_TOTAL_NAMES = {"debit": "本期借方合计", "credit": "本期贷方合计", "receipts": "本期收入合计",
                "payments": "本期支出合计", "closing": "期末余额合计"}


def _book_cell(row: dict, key: str):
    """As reports.canvas_ledger._cell prints it, an amount left a figure (None where the PDF is blank)."""
    kind = row["kind"]
    if key == "date":
        return row["date"][5:] if row.get("date") else ""
    if key in ("debit", "credit"):
        if kind == "open" or (kind == "line" and row[key] == "0.00"):
            return None
        return row[key]
    if key == "balance":
        return row["balance"]
    if key == "signed":
        return f"-{row['balance']}" if row["dc"] == "贷" else row["balance"]
    return row.get(key, "")


def ledger_xlsx(wb, data, ctx):
    from .canvas_ledger import LEDGER

    _book_xlsx(wb, data, ctx, LEDGER)


def general_ledger_xlsx(wb, data, ctx):
    from .canvas_ledger import GENERAL

    _book_xlsx(wb, data, ctx, GENERAL)


def cash_journal_xlsx(wb, data, ctx):
    from .canvas_ledger import CASH

    _book_xlsx(wb, data, ctx, CASH)


def vouchers_xlsx(wb, data: dict, ctx: dict) -> None:
    """One sheet, every line of every voucher, then the voucher's 合计 row as the PDF prints it."""
    s = Sheet(wb, data["title"], ctx, ncols=12)
    s.head(["凭证字号", "日期", "摘要", "会计科目", "借方金额", "贷方金额", "附件（张）", "制单", "审核", "记账",
            "会计主管", "链哈希"], freeze=True)
    for v in data["vouchers"]:
        for ln in v["lines"]:
            s.line([v["voucher"], v["date"], ln["memo"], ln["account"],
                    None if ln["debit"] == "0.00" else ln["debit"], None if ln["credit"] == "0.00" else ln["credit"],
                    v["attachments"], v["made_by"], v["reviewed_by"], v["posted_by"], v["supervisor"] or "（未设）",
                    v["hash"]], money={4, 5})
        s.line([v["voucher"], v["date"], f"合计：{v['upper']}", v["memo"], v["amount"], v["amount"]], money={4, 5},
               bold=True)
    t = data["totals"]
    s.line(["凭证合计", "", f"凭证 {t['count']} 张（{data['upper']}）", "", t["amount"], t["amount"]], money={4, 5},
           bold=True)
    s.finish({1: 18, 2: 11, 3: 40, 4: 30, 5: 15, 6: 15, 7: 8, 8: 9, 9: 9, 10: 9, 11: 9, 12: 18})


PREMIUM_KEYS = ("amount", "withheld", "received", "in_transit", "shortfall")


def premium_status_xlsx(wb, data: dict, ctx: dict) -> None:
    for i, b in enumerate(data["blocks"], 1):
        s = Sheet(wb, f"{i} {b['contract']}", ctx, ncols=9)
        s.heading(f"{b['contract']}（对账日 {b['as_of']}：{b['as_of_basis']}）")
        s.head(["划拨义务", "到期日", "应拨", "考核扣留", "已到账", "在途", "差额", "状态", "逾期天数"], freeze=True)
        for r in b["rows"]:
            s.line([r["what"], r["due"], *_money(r, PREMIUM_KEYS), r["state"], r["days_late"]], money=range(2, 7))
        s.line(["合计", "", *_money(b["totals"], PREMIUM_KEYS), "", ""], money=range(2, 7), bold=True)
        if b["pending"]:
            s.merged("双方凭证均待审核、未计入上表的划拨：" + "；".join(
                f"{t['reference']}（{t['paid_on']}，{t['amount']} 元）" for t in b["pending"]) + "。")
            for t in b["pending"]:
                s.line([t["reference"], t["paid_on"], t["amount"]], money={2})
        if b["unbooked_by_fund"] != "0.00":
            s.line(["其中承办机构已确认收款、基金尚未记账的（计入已到账）", "", b["unbooked_by_fund"]], money={2})
        d = b["deposit"]
        if d:
            s.gap()
            s.heading("服务保证金")
            s.head(["计提基数（合同保费）", "比例（%）", "应留保证金", "考核得分", "适用档次", "应支付（释放）", "考核扣留",
                    "已到账", "在途"])
            s.line([d["base"], d["pct"], d["required"], d["score"], d["band"], d["released"], d["withheld"],
                    d["received"], d["in_transit"]], money={0, 2, 5, 6, 7, 8})
            s.line(["差额", "", d["shortfall"]], money={2})
            s.merged(f"应留保证金 {d['required']} = 合同保费 {d['base']} × {d['pct']}%；考核得分 {d['score']}"
                     + (f"（{d['assessed']}）" if d["assessed"] else "")
                     + f"，适用“{d['band']}”：支付 {d['released']}（保证金的 {d['released_of_deposit']}%，合同保费的 "
                       f"{d['released_of_premium']}%），扣留 {d['withheld']}（保证金的 {d['withheld_of_deposit']}%，"
                       f"合同保费的 {d['withheld_of_premium']}%）。合同档次：{d['bands']}。依据：{d['basis']}。")
        if b["lines"]:
            s.gap()
            s.heading("保费核对（合同保费 → 扣减后保费 → 尚未拨付）")
            for ln in b["lines"]:
                s.line([ln["label"], "", ln["amount"]], money={2}, bold=ln["kind"] in ("sum", "head"))
            if b["checks"]:
                s.gap()
                s.head(["核对项", "依据", "应为", "本表", "差异", "结果"])
                for c in b["checks"]:
                    s.line([c["label"], c["source"], c["expected"], c["found"], c["difference"], c["ok"]],
                           money={2, 3, 4})
            else:
                s.merged("年度结算尚未编制：扣减后保费待结算确认。")
        s.finish({1: 40, 2: 14, 3: 16, 4: 16, 5: 16, 6: 16, 7: 16, 8: 12, 9: 10})
    s = Sheet(wb, "全部合计", ctx, ncols=6)
    s.head(["全部合计", "应拨", "考核扣留", "已到账", "在途", "差额"], freeze=True)
    s.line(["合计", *_money(data["totals"], PREMIUM_KEYS)], money=range(1, 6), bold=True)
    t = data["totals"]
    s.merged(f"应拨合计 {t['amount']}，考核扣留 {t['withheld']}，已到账 {t['received']}，在途 {t['in_transit']}，"
             f"差额 {t['shortfall']}（大写：{data['upper']['shortfall']}）。")
    s.merged("注：" + "".join(f"\n{i}. {d}" for i, d in enumerate(data["definitions"], 1)), height=110)
    s.finish({1: 30, 2: 16, 3: 16, 4: 16, 5: 16, 6: 16})


def settlement_xlsx(wb, data: dict, ctx: dict) -> None:
    for i, b in enumerate(data["blocks"], 1):
        s = Sheet(wb, f"{i} {b['contract']}", ctx, ncols=2, landscape=False)
        s.heading(f"{b['contract']}（{b['status']}，截至 {b['as_of']}，考核得分 {b['score']}）")
        s.head(["项目", "金额"], freeze=True)
        for ln in b["lines"]:
            s.line([ln["label"], ln["amount"]], money={1})
        for u in b["upper"]:
            s.merged(f"{u['label']}（大写）：{u['words']}")
        if b["reason"]:
            s.merged(f"亏损划分理由：{b['reason']}")
        if b.get("netting"):
            s.gap()
            s.heading("保费拨付与结算轧差")
            for ln in b["netting"]:
                s.line([ln["label"], ln["amount"]], money={1})
            s.merged(f"轧差净额（大写）：{b['net_words']}")
            if b["unpaid_reason"]:
                s.merged(f"保费未足额拨付，编制人决定按应拨保费结算、尚欠保费轧差，理由：{b['unpaid_reason']}")
        s.merged(f"编制：{b['prepared_by']}　　复核：{b['reviewed_by']}")
        s.finish({1: 48, 2: 20})


def operations_xlsx(wb, data: dict, ctx: dict) -> None:
    for i, b in enumerate(data["blocks"], 1):
        s = Sheet(wb, f"{i} {b['contract']}", ctx, ncols=6)
        s.heading(b["contract"])
        s.merged(f"报告期间：{b['period']}　　保费口径：{b['premium_basis']}")
        s.heading("一、概况")
        s.head(["项目", "数值"], freeze=True)
        for x in b["summary"]:
            s.line([x["label"], x["value"]], money={1} if x["money"] else set())
        s.gap()
        s.heading("二、分季度赔付情况")
        s.head(["期间", "赔付人次", "赔款", "赔付率", "累计赔款", "累计赔付率"])
        for q in b["quarters"]:
            s.line([q["label"], q["episodes"], q["amount"], q["ratio"], q["cumulative"], q["cumulative_ratio"]],
                   money={2, 4})
        t = b["totals"]
        for title, key, head in (("三、按赔付渠道", "channels", "渠道"), ("四、按参保人群", "groups", "人群"),
                                 (f"五、按医疗机构（赔款前 10 家，共 {b['hospital_count']} 家）", "hospitals", "医疗机构")):
            s.gap()
            s.heading(title)
            s.head([head, "受益人数", "赔付人次", "赔款", "占比"])
            for x in b[key]:
                s.line([x["label"], x["persons"], x["episodes"], x["amount"], x["share"]], money={3})
            s.line(["合计", t["persons"] if key == "groups" else "", t["episodes"], t["claims"], "100.00%"], money={3},
                   bold=True)
        s.gap()
        s.heading("六、按结算月份")
        s.head(["月份", "赔付人次", "赔款", "占比"])
        for x in b["months"]:
            s.line([x["label"], x["episodes"], x["amount"], x["share"]], money={2})
        s.line(["合计", t["episodes"], t["claims"], "100.00%"], money={2}, bold=True)
        if b["unpaid"] != "0":
            s.merged(f"另有赔付金额为 0 的赔案 {b['unpaid']} 笔（如未达起付线），不计人次。")
        s.gap()
        s.heading(f"七、赔款与承办机构账簿 6511 赔付支出核对（{b['date_from']} 至 {b['date_to']}）")
        s.head(["项目", "金额", "说明"])
        for r in b["recon"]:
            s.line([r["label"], r["amount"], r["detail"]], money={1}, bold=r["kind"] != "item")
        p = b["pending"]
        if p["claims"] != "0":
            s.merged(f"待审核批次 {p['batches']} 个、赔案 {p['claims']} 笔、金额 {p['amount']}：未计入本报告，也未入账，"
                     "不构成差异。")
        s.finish({1: 44, 2: 16, 3: 16, 4: 16, 5: 16, 6: 14})
    s = Sheet(wb, "合计", ctx, ncols=2, landscape=False)
    s.head(["项目", "金额"], freeze=True)
    t = data["totals"]
    for label, key in (("扣减后保费", "premium"), ("赔款", "claims"), ("6511 本期发生额", "ledger_6511"),
                       ("未解释差异", "unexplained")):
        s.line([label, t[key]], money={1}, bold=True)
    s.merged("注：" + "".join(f"\n{i}. {n}" for i, n in enumerate(data["notes"], 1)), height=150)
    s.finish({1: 60, 2: 20})


def bank_reconciliation_xlsx(wb, data: dict, ctx: dict) -> None:
    for i, b in enumerate(data["blocks"], 1):
        s = Sheet(wb, f"{i} {b['account']}", ctx, ncols=6, landscape=False)
        s.heading(f"银行账户 {b['account']}")
        s.head([("单位账面", 3), ("银行对账单", 3)], freeze=True)
        s.line(["账面余额", "", b["book_balance"], "对账单余额", "", b["bank_balance"]], money={2, 5}, bold=True)

        def section(left_title, left, right_title, right, s=s):
            s.line([left_title, "", "", right_title, "", ""], bold=True)
            for k in range(max(len(left), len(right), 1)):
                lv = [left[k]["date"], left[k]["what"], left[k]["amount"]] if k < len(left) else (
                    ["无", "", None] if k == 0 else ["", "", None])
                rv = [right[k]["date"], right[k]["what"], right[k]["amount"]] if k < len(right) else (
                    ["无", "", None] if k == 0 else ["", "", None])
                s.line(lv + rv, money={2, 5})

        section("加：银行已收、企业未收", b["bank_in"], "加：企业已收、银行未收", b["book_in"])
        section("减：银行已付、企业未付", b["bank_out"], "减：企业已付、银行未付", b["book_out"])
        s.line(["调节后余额", "", b["adjusted_book"], "调节后余额", "", b["adjusted_bank"]], money={2, 5}, bold=True)
        s.merged(("两方调节后余额相等。" if b["balanced"] else "两方调节后余额不相等，请核查！") + "本表只作调节，不据以记账。")
        s.finish({1: 11, 2: 34, 3: 16, 4: 11, 5: 34, 6: 16})


WRITERS = {
    "trial-balance": trial_balance_xlsx, "ledger": ledger_xlsx, "general-ledger": general_ledger_xlsx,
    "cash-journal": cash_journal_xlsx, "vouchers": vouchers_xlsx, "premium-status": premium_status_xlsx,
    "settlement": settlement_xlsx, "operations": operations_xlsx, "bank-reconciliation": bank_reconciliation_xlsx,
    "province": province_xlsx,
}


def xlsx_of(*, kind: str, book, year: int, month: int | None, data: dict, code: str, mark: str, by: str, at,
            period: str | None = None) -> bytes:
    """The statement as an XLSX workbook (bytes)."""
    period = period or (f"{year}年" + (f"{month}月" if month else "1–12月"))
    chain = data.get("chain")
    chain_text = f"　依据账簿链：前 {chain['length']} 张凭证，链头 {chain['head']}" if chain else ""
    ctx = {"title": data["title"], "book": book, "period": data.get("period_label") or period, "code": code,
           "mark": mark, "by": by, "at": at, "chain_text": chain_text,
           "code_line": f"核验码 {mark}{code}（凭此码可在系统中核对账簿）{chain_text}"}
    wb = Workbook()
    wb.remove(wb.active)
    WRITERS[kind](wb, data, ctx)
    props = wb.properties
    props.title = f"{data['title']} {book.code} {period}"
    props.keywords = f"{mark}{code}"
    props.creator = CREATOR
    props.subject = ctx["code_line"]
    wb.custom_doc_props.append(StringProperty(name=CODE_PROPERTY, value=f"{mark}{code}"))
    if chain:
        wb.custom_doc_props.append(StringProperty(name="LedgerChain", value=f"{chain['length']}:{chain['head']}"))
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def xlsx_code(raw: bytes, mark: str) -> str | None:
    """The verification code a workbook carries (its custom property, else its keywords), or None."""
    from openpyxl import load_workbook

    try:
        wb = load_workbook(io.BytesIO(raw), read_only=True)
    except Exception:  # noqa: BLE001 - not a workbook at all: no code
        return None
    values = [p.value for p in wb.custom_doc_props.props if p.name == CODE_PROPERTY] + [wb.properties.keywords or ""]
    for value in values:
        found = re.fullmatch(re.escape(mark) + r"([0-9A-F]{16})", str(value or "").strip())
        if found:
            return found.group(1)
    return None

