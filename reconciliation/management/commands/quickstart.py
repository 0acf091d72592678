import ctypes.util
import time
from datetime import date
from decimal import Decimal

from django.core.management import call_command

from accounts.models import Book
from core.commands import JsonCommand
from core.money import fmt
from core.text import ljust, rjust
from ledger.integrity import ledger_verify
from ledger.models import JournalEntry


class Command(JsonCommand):
    help = "Migrate, load the reference contracts, post the demo year, print premium status and trial balances; safe to run twice."

    def run(self, **options):
        from django.conf import settings

        from contracts.selectors import premium_status
        from contracts.text import premium_status_text
        from ledger.selectors import trial_balance
        from ledger.text import trial_balance_text
        from reconciliation.demo import demo_all
        from reconciliation.management.commands.settlement_calc import LABELS
        from reconciliation.premium import premium_statement
        from reconciliation.province import province_json, province_text
        from reports.demo import demo_reports_write

        t0 = time.perf_counter()
        call_command("migrate", verbosity=0, interactive=False)
        before = JournalEntry.objects.count()
        demo = demo_all(settings.BASE_DIR / "out")
        years, topups = demo["years"], demo["topups"]
        created = JournalEntry.objects.count() - before
        verified = ledger_verify()
        books = list(Book.objects.order_by("code"))
        out = [f"快速开始 / quickstart: {len(books)} 本账套，{len(years)} 个合同年度，"
               f"本次新记凭证 {created} 张（再次运行不会重复记账）。"]
        for cy in [cy for cy in years if cy.transfers.exists()]:
            out += ["", f"保费划拨 {cy.contract.name} {cy.year}年，应拨 {fmt(cy.premium)}（截至结算时点 {cy.cutoff}）"]
            out += premium_status_text(premium_statement(contract_year=cy, as_of=cy.cutoff).rows)
            st = premium_statement(contract_year=cy)  # as the settlement left it: the statement's reconciliation
            out.append(f"保费核对（{st.as_of_basis}）：" + "；".join(
                f"{label} {fmt(amount)}" for label, amount, kind in st.lines if kind in ("head", "sum", "less"))
                + ("；与年度结算一致" if st.checks and st.reconciles else ""))
        out += ["", f"吉林省2019年补缴表（15元/人）：合计 {fmt(topups.total_amount)} 元，参保 {topups.total_insured:,} 人；"
                    + "，".join(f"{k} {fmt(v)}" for k, v in sorted(topups.by_insurer.items()))
                    + f"；表内差异 {len([w for w in topups.warnings if w['found'] != '0'])} 处已按原表接受（见 import_topup）"]
        topup_rows = premium_status(year=2019, as_of=date(2019, 12, 31))
        topup_rows = [r for r in topup_rows if r.obligation.kind == "topup"]
        by_state = {}
        for r in topup_rows:
            n, total = by_state.get(r.state_label, (0, 0))
            by_state[r.state_label] = (n + 1, total + r.shortfall.amount if r.state == "overdue" else total + r.received.amount)
        out.append("截至2019-12-31：" + "；".join(f"{k} {n} 笔 {fmt(t)} 元" for k, (n, t) in by_state.items()))
        for c in demo["claims"]:
            d = c["discrepancies"]
            out += ["", f"{c['contract_year'].contract.name} {c['contract_year'].year}年赔案（合成数据 {c['file']}）："
                        f"{c['claims']} 笔，保险公司已付 {fmt(c['paid'])}；按 {c['contract_year'].benefit_policy} 重算"
                        f"不一致 {d['count']} 笔（多付 {fmt(d['overpaid'])}，少付 {fmt(d['underpaid'])}）"]
        for a in demo["advances"]:
            out += ["", f"基本医保先行垫付 {a.reference}：{fmt(a.amount)}，{a.advanced_on} 垫付，{a.materials_received_on} "
                        f"收到资料（赔案批次 {a.claims_batch_id}）"
                        + (f"，{a.due_on} 前划转" if a.due_on else "，本政策未规定划转时限")
                        + f"；{a.repaid_on} 划转，{a.received_on} 基金收回（两本账均已审核记账）"]
        for st in demo["settlements"]:
            cy = st.contract_year
            out += ["", f"{cy.contract.name} {cy.year}年度结算（{st.get_status_display()}，"
                        f"P {fmt(st.premium)}，C {fmt(st.claims)}，E {fmt(st.cost)}"
                        + (f"，考核得分 {st.score}" if st.score is not None else "") + "）"]
            out += ["  " + ljust(LABELS[k], 30) + rjust(fmt(Decimal(v)), 20)
                    for k, v in st.outcome.items() if v != "0.00"]
        province = demo["province"]
        out += [""] + province_text(province)
        out += ["", "年末结转并关闭年度：" + "，".join(f"{b.code} {y}" for b, y in demo["closed"])]
        year_of = {}
        for cy in years:
            year_of.setdefault(("fund", cy.contract.fund_id), cy.year)
            year_of.setdefault(("insurer", cy.contract.insurer_id), cy.year)
        for b in books:
            year = year_of.get((b.kind, b.fund_id or b.insurer_id))
            tb = trial_balance(book=b, year=year) if year else None
            if tb is not None and tb.totals.period_debit.amount:
                out += [""] + trial_balance_text(tb)
        reports = demo_reports_write(settings.BASE_DIR / "out")
        out += ["", f"报表（PDF 与同数据的 XLSX，均带核验码，可用 verify_report 核对）：{len(reports)} 份，位于 out/"]
        out += [f"  {r}" for r in reports]
        out.append("")
        out.append(f"verify_ledger: {'通过' if verified.ok else '失败'} — {verified.entries} 张凭证，{verified.postings} 条分录")
        if not ctypes.util.find_library("harfbuzz-subset"):
            out.append("注意: libharfbuzz-subset0 未安装，PDF 报表生成会慢约 35 倍 (apt-get install libharfbuzz-subset0)")
        out.append("查看: python manage.py createsuperuser 后运行 python manage.py runserver，打开 http://127.0.0.1:8000/admin/")
        payload = {
            "books": [{"code": b.code, "owner": str(b.owner), "kind": b.kind} for b in books],
            "reports": reports,
            "entries_created": created,
            "verified": verified.ok,
            "province": province_json(province),
            "advances": [{"reference": a.reference, "amount": f"{a.amount.amount:.2f}", "due_on": str(a.due_on or ""),
                          "repaid_on": str(a.repaid_on)} for a in demo["advances"]],
            "seconds": round(time.perf_counter() - t0, 2),
        }
        return verified.ok, payload, "\n".join(out)
