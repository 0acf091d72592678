"""What the premium transfer list exports (core.exports)."""

from core.exports import ExportResource, date, money, number, text

from .models import PremiumTransfer


class PremiumTransferResource(ExportResource):
    reference = text("reference", "划拨编号")
    fund = text("fund__name", "基金")
    insurer = text("insurer__name", "承办机构")
    year = number("year", "保单年度")
    amount = money("amount", "金额")
    paid_on = date("paid_on", "拨付日期")
    received_on = date("received_on", "到账日期")
    entered_by = text("get_entered_by_side_display", "录入方")
    fund_voucher = text("fund_entry", "基金凭证")
    insurer_voucher = text("insurer_entry", "承办机构凭证")
    in_transit = text("in_transit", "在途")
    memo = text("memo", "备注")

    class Meta:
        model = PremiumTransfer
        name = "保费划拨"
        fields = ("reference", "fund", "insurer", "year", "amount", "paid_on", "received_on", "entered_by",
                  "fund_voucher", "insurer_voucher", "in_transit", "memo")

    def dehydrate_in_transit(self, transfer):
        return "是" if transfer.in_transit else "否"
