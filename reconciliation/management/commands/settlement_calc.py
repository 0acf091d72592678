import json
from pathlib import Path

from django.core.management.base import CommandError
from django.utils.translation import gettext_lazy as _

from core.commands import JsonCommand
from core.errors import Refused, problem
from core.text import ljust, rjust
from reconciliation.settlement import settlement_compute, terms_from_dict

LABELS = {
    "premium": "已实现保费 P", "claims": "赔款 C", "cost": "经营费用 E", "margin": "比较额（盈余为正）",
    "retained": "承办机构留存", "surplus_returned": "返还基本医保基金", "surplus_carried": "结转下年度大病保险资金",
    "loss": "亏损", "loss_insurer": "承办机构承担", "loss_fund": "基金分担（政策性亏损）",
    "loss_deferred": "通过下年度政策解决（备查）", "deposit_released": "服务保证金支付", "deposit_forfeited": "服务保证金扣除",
    "cost_allowed": "准予列支经营费用（按考核结果）", "cost_withheld": "考核扣减经营费用",
}


class Command(JsonCommand):
    help = "The settlement outcome for given figures under the given terms, without touching any book."

    def add_arguments(self, parser):
        super().add_arguments(parser)
        parser.add_argument("--terms", required=True, metavar="FILE", help="settlement terms JSON (DESIGN.md)")
        parser.add_argument("--premium", required=True, metavar="P")
        parser.add_argument("--claims", required=True, metavar="C")
        parser.add_argument("--cost", default="0", metavar="E")
        parser.add_argument("--deposit", default="0", metavar="D", help="the part of P held back as deposit")
        parser.add_argument("--score", metavar="S", help="assessment score 0–100")
        parser.add_argument("--policy-loss", metavar="X", help="the policy-caused part of a loss")

    def run(self, *, terms, premium, claims, cost, deposit, score, policy_loss, **options):
        path = Path(terms)
        if not path.is_file():
            raise CommandError(_("no such file: %(file)s") % {"file": terms}, returncode=2)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise Refused([problem(str(path), _("file"), _("a JSON terms file"), exc)]) from None
        outcome = settlement_compute(terms=terms_from_dict(data), premium=premium, claims=claims, cost=cost,
                                     deposit=deposit, score=score, policy_loss=policy_loss)
        payload = outcome.as_json()
        text = "\n".join(ljust(LABELS[k], 30) + rjust(f"{getattr(outcome, k):,.2f}", 20) for k in payload)
        return True, payload, text

