import ctypes.util
import time

from django.core.management import call_command

from accounts.models import Book
from core.commands import JsonCommand
from core.money import fmt
from core.text import ljust, rjust
from ledger.integrity import ledger_verify
from ledger.models import JournalEntry


class Command(JsonCommand):
    help = "Migrate, load the demo books and post the demo year, print trial balances; safe to run twice."

    def run(self, **options):
        from ledger.demo import YEAR, demo_year_post
        from ledger.selectors import trial_balance

        t0 = time.perf_counter()
        call_command("migrate", verbosity=0, interactive=False)
        before = JournalEntry.objects.count()
        demo_year_post()
        created = JournalEntry.objects.count() - before
        verified = ledger_verify()
        books = [{"code": b.code, "owner": str(b.owner), "kind": b.kind} for b in Book.objects.order_by("code")]
        out = [f"快速开始 / quickstart: {len(books)} 本账套，本次新记凭证 {created} 张（再次运行不会重复记账）。"]
        for b in Book.objects.order_by("code"):
            tb = trial_balance(book=b, year=YEAR)
            out.append("")
            out.append(f"科目余额表 {b.code} {b.name} {YEAR}年1–12月（{'借贷平衡' if tb.balanced else '不平衡!'}）")
            out.append(ljust("科目", 30) + "".join(rjust(h, 18) for h in ("本期借方", "本期贷方", "期末借方", "期末贷方")))
            for r in tb.rows:
                figures = (r.period_debit, r.period_credit, r.closing_debit, r.closing_credit)
                if any(f.amount for f in figures):
                    name = "  " * r.depth + f"{r.account.code} {r.account.name}"
                    out.append(ljust(name, 30) + "".join(rjust(fmt(f), 18) for f in figures))
            t = tb.totals
            out.append(ljust("合计", 30) + "".join(
                rjust(fmt(f), 18) for f in (t.period_debit, t.period_credit, t.closing_debit, t.closing_credit)))
        out.append("")
        out.append(f"verify_ledger: {'通过' if verified.ok else '失败'} — {verified.entries} 张凭证，{verified.postings} 条分录")
        if not ctypes.util.find_library("harfbuzz-subset"):
            out.append("注意: libharfbuzz-subset0 未安装，PDF 报表生成会慢约 35 倍 (apt-get install libharfbuzz-subset0)")
        out.append("查看: python manage.py createsuperuser 后运行 python manage.py runserver，打开 http://127.0.0.1:8000/admin/")
        seconds = round(time.perf_counter() - t0, 2)
        payload = {"books": books, "reports": [], "entries_created": created, "verified": verified.ok,
                   "seconds": seconds}
        return verified.ok, payload, "\n".join(out)
