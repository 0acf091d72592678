"""What the voucher list exports (core.exports): one row per voucher, or one per line of the vouchers shown."""

from core.exports import ExportResource, date, money, number, text

from .models import JournalEntry, Posting


class JournalEntryResource(ExportResource):
    voucher = text("voucher", "凭证字号")
    book = text("book__code", "账套")
    day = date("date", "日期")
    memo = text("memo", "摘要")
    status = text("get_status_display", "状态")
    amount = money("total_fen", "借贷金额")
    made_by = text("made_by", "制单")
    reviewed_by = text("reviewed_by", "审核")
    seq = number("seq", "链位置")

    class Meta:
        model = JournalEntry
        name = "凭证（每张一行）"
        fields = ("voucher", "book", "day", "memo", "status", "amount", "made_by", "reviewed_by", "seq")

    def dehydrate_amount(self, entry):
        """Σ借方 of the voucher in yuan (the list's annotation, a Money, where the list computed it)."""
        from decimal import Decimal

        total = getattr(entry, "total_fen", None)
        if total is None:
            total = sum((p.debit.amount for p in entry.postings.all()), Decimal(0))
        return (total.amount if hasattr(total, "amount") else Decimal(total)).quantize(Decimal("0.01"))


class PostingResource(ExportResource):
    """The lines of the vouchers the list shows (its filter and search), 借 and 贷 in yuan."""

    voucher = text("entry__voucher", "凭证字号")
    book = text("book__code", "账套")
    day = date("entry__date", "日期")
    line = number("line", "行号")
    account_code = text("account__code", "科目编码")
    account_name = text("account__name", "科目名称")
    memo = text("memo", "摘要")
    debit = money("debit", "借方金额")
    credit = money("credit", "贷方金额")
    counterparty = text("counterparty", "往来单位")
    status = text("entry__get_status_display", "状态")

    class Meta:
        model = Posting
        name = "凭证分录（每行一条）"
        fields = ("voucher", "book", "day", "line", "account_code", "account_name", "memo", "debit", "credit",
                  "counterparty", "status")

    def export(self, queryset=None, **kwargs):
        if queryset is not None and queryset.model is JournalEntry:
            queryset = (Posting.objects.filter(entry__in=queryset.order_by().values("pk"))
                        .select_related("entry", "book", "account")
                        .order_by("entry__book", "entry__date", "entry__month_number", "entry_id", "line"))
        return super().export(queryset=queryset, **kwargs)

    def dehydrate_memo(self, posting):
        return posting.memo or posting.entry.memo
