"""Plain-text renderings of ledger reads for the terminal (commands print these)."""

from core.money import fmt
from core.text import ljust, rjust

from .selectors import TrialBalance


def trial_balance_text(tb: TrialBalance, *, skip_empty: bool = True) -> list[str]:
    """科目余额表 as lines: accounts with movements or balances, then the totals."""
    state = "借贷平衡" if tb.balanced else "不平衡!"
    lines = [f"科目余额表 {tb.book.code} {tb.book.name} {tb.year}年{tb.month_from}–{tb.month_to}月（{state}）",
             ljust("科目", 30) + "".join(rjust(h, 18) for h in ("期初借方", "期初贷方", "本期借方", "本期贷方",
                                                               "期末借方", "期末贷方"))]
    for r in tb.rows:
        figures = (r.opening_debit, r.opening_credit, r.period_debit, r.period_credit, r.closing_debit,
                   r.closing_credit)
        if skip_empty and not any(f.amount for f in figures):
            continue
        lines.append(ljust("  " * r.depth + f"{r.account.code} {r.account.name}", 30)
                     + "".join(rjust(fmt(f), 18) for f in figures))
    t = tb.totals
    lines.append(ljust("合计", 30) + "".join(
        rjust(fmt(f), 18) for f in (t.opening_debit, t.opening_credit, t.period_debit, t.period_credit,
                                    t.closing_debit, t.closing_credit)))
    return lines
