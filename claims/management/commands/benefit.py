
from django.core.management.base import CommandError
from django.utils.translation import gettext_lazy as _

from claims.policies import policy_from_file, policy_get
from claims.rules import GROUPS
from core.commands import JsonCommand
from core.errors import Refused, lazy_format, problem
from core.money import AmountError, to_decimal


class Command(JsonCommand):
    help = ("What a policy pays for a cumulative policy-scope out-of-pocket amount, and for the episode "
            "that raised the prior amount by --oop.")

    def add_arguments(self, parser):
        super().add_arguments(parser)
        source = parser.add_mutually_exclusive_group(required=True)
        source.add_argument("--policy", metavar="CODE")
        source.add_argument("--policy-file", metavar="FILE")
        parser.add_argument("--group", default="general", help=f"one of: {', '.join(GROUPS)}")
        parser.add_argument("--oop", required=True, metavar="AMOUNT", help="this episode's policy-scope OOP")
        parser.add_argument("--prior-oop", default="0", metavar="AMOUNT", help="OOP earlier in the same year")
        parser.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                            help="set a policy parameter the document leaves open; a band table as "
                                 "FROM:RATIO,FROM:RATIO… or JSON [[from, ratio], …]")

    def run(self, *, policy=None, policy_file=None, group, oop, prior_oop, param, **options):
        overrides = {}
        for item in param:
            if "=" not in item:
                raise CommandError(_("--param: expected NAME=VALUE, found %(value)r") % {"value": item}, returncode=2)
            name, value = item.split("=", 1)
            overrides[name.strip()] = value.strip()
        problems, amounts = [], {}
        for name, raw in (("oop", oop), ("prior_oop", prior_oop)):
            try:
                amounts[name] = to_decimal(raw)
            except AmountError as exc:
                problems.append(problem(_("benefit"), f"--{name.replace('_', '-')}", _("a CNY amount"),
                                        lazy_format(_("%(value)s (%(why)s)"), value=raw, why=exc)))
                continue
            if amounts[name] < 0:
                problems.append(problem(_("benefit"), f"--{name.replace('_', '-')}", _("an amount ≥ 0"), raw))
        if problems:
            raise Refused(problems)
        p = policy_file_or_code(policy, policy_file, overrides)
        yearly, episode = p.payable(group, oop=amounts["oop"], prior_oop=amounts["prior_oop"])
        cumulative = amounts["oop"] + amounts["prior_oop"]
        paid_as = p.paid_as(group)
        payload = {"policy": p.code, "group": group, "cumulative_oop": f"{cumulative:.2f}",
                   "yearly_payable": f"{yearly:.2f}", "episode_payable": f"{episode:.2f}",
                   "unconfirmed": list(p.unconfirmed), "paid_as": paid_as}
        text = [f"{p.name}（{p.code}） 人群 {GROUPS[group]}（{group}）"]
        if paid_as != group:
            payload["paid_as_because"] = p.maps[group][1]
            text.append(f"按 {GROUPS[paid_as]}（{paid_as}）的标准支付：{p.maps[group][1]}")
        text.append(f"年度累计合规自付 {cumulative:,.2f} 元 → 年度应付 {yearly:,.2f} 元；本次应付 {episode:,.2f} 元")
        text += [f"注意 {n}" for n in p.unconfirmed]
        return True, payload, "\n".join(text)


def policy_file_or_code(code, path, overrides):
    if path:
        return policy_from_file(path=path, overrides=overrides)
    return policy_get(code=code, overrides=overrides)


