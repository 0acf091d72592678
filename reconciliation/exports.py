"""What the bank statement line list exports (core.exports)."""

from core.exports import ExportResource, date, money, number, text

from .models import BankLine


class BankLineResource(ExportResource):
    account = text("statement__account", "银行账户")
    book = text("statement__account__book__code", "账套")
    period = text("statement", "对账单")
    line = number("line", "行号")
    day = date("date", "日期")
    amount = money("amount", "金额（收+ 付−）")
    description = text("description", "摘要")
    reference = text("reference", "参考号")
    counterparty = text("counterparty", "对方户名")
    matched = text("matched", "已勾对分录")
    matched_by = text("matched_by", "勾对人")

    class Meta:
        model = BankLine
        name = "银行对账单明细"
        fields = ("account", "book", "period", "line", "day", "amount", "description", "reference", "counterparty",
                  "matched", "matched_by")

    def dehydrate_matched(self, line):
        return "；".join(f"{p.entry.voucher} {p.account.code}" for p in line.matched.all())
