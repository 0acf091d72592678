"""Plain-text renderings of premium reads for the terminal."""

from core.money import fmt
from core.text import ljust, rjust


def premium_status_text(rows, *, with_fund: bool = False) -> list[str]:
    """One line per obligation: what, due, required, withheld, received (confirmed by the insurer), in transit,
    shortfall (required − withheld − received − in transit), state (days late); a line of totals."""
    width = 76 if with_fund else 44
    heads = ("应拨", "考核扣留", "已到账", "在途", "差额")
    lines = [ljust("义务", width) + ljust("到期日", 12) + "".join(rjust(h, 18) for h in heads) + "  状态"]
    totals = [0] * len(heads)
    for r in rows:
        o = r.obligation
        state = r.state_label + (f" {r.days_late}天" if r.days_late else "")
        what = f"{o.fund.name} {o.description}" if with_fund else o.description
        figures = (r.amount, r.withheld, r.received, r.in_transit, r.shortfall)
        totals = [t + f.amount for t, f in zip(totals, figures, strict=True)]
        lines.append(ljust(what, width) + ljust(str(o.due_date or "考核后"), 12)
                     + "".join(rjust(fmt(f), 18) for f in figures) + "  " + state)
    lines.append(ljust("合计", width + 12) + "".join(rjust(fmt(t), 18) for t in totals))
    return lines
