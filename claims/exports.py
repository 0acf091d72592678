"""What the claim list exports (core.exports). The person is the keyed pseudonym, as the list shows it."""

from core.exports import ExportResource, date, money, text

from .models import Claim


class ClaimResource(ExportResource):
    claim_no = text("claim_no", "赔案号")
    contract_year = text("contract_year", "合同年度")
    person = text("person", "参保人（化名）")
    group = text("group_code", "人群")
    admitted_on = date("admitted_on", "入院日期")
    discharged_on = date("discharged_on", "出院日期")
    settled_on = date("settled_on", "结算日期")
    hospital = text("hospital__name", "医疗机构")
    oop = money("oop", "合规自付费用")
    expected = money("expected", "按政策应付")
    paid = money("paid", "已赔付")
    channel = text("get_channel_display", "渠道")
    charged_to = text("charged_to", "计入年度")

    class Meta:
        model = Claim
        name = "赔案"
        fields = ("claim_no", "contract_year", "person", "group", "admitted_on", "discharged_on", "settled_on",
                  "hospital", "oop", "expected", "paid", "channel", "charged_to")

    def dehydrate_group(self, claim):
        from .rules import GROUPS

        return str(GROUPS.get(claim.group_code, claim.group_code))
