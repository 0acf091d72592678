"""Controls that must hold between processes, on PostgreSQL: two people reversing the same voucher at once,
a maker editing a draft while a reviewer posts it, and a claims import killed half-way.

Each ends in one clean state and, for whoever lost the race, a refusal that says why — never a
database error and never half of something.
"""

import multiprocessing
import os
import signal
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connection, connections

from claims.models import Claim, ClaimBatch
from claims.policies import policy_get
from ledger.integrity import ledger_verify
from ledger.models import JournalEntry
from ledger.services import Line, entry_draft_post, entry_draft_save, entry_post, entry_reverse

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="row locks across processes: PostgreSQL"),
]
LINES = [Line("5101", debit="64000000.00"), Line("1004", credit="64000000.00")]


def _in_process(target, worker, start, results, *args):
    """Run `target(start, *args)` in a forked process with its own connection; report (worker, outcome…)."""
    from core.errors import Refused

    try:
        connections.close_all()  # never share the parent's socket
        try:
            results.put((worker, *target(start, *args)))
        except Refused as exc:
            results.put((worker, "refused", exc.problems[0]))
    except Exception as exc:  # reported to the parent, which fails the test
        results.put((worker, "error", repr(exc)))
    finally:
        connections.close_all()


def _run(target, args_list):
    """Each args tuple in its own process, all released at the same moment; their outcomes, by worker."""
    connections.close_all()
    ctx = multiprocessing.get_context("fork")
    results, start = ctx.Queue(), ctx.Barrier(len(args_list))
    procs = [ctx.Process(target=_in_process, args=(target, w, start, results, *args))
             for w, args in enumerate(args_list, start=1)]
    for p in procs:
        p.start()
    outcomes = sorted(results.get(timeout=120) for _ in procs)
    for p in procs:
        p.join(timeout=60)
    return outcomes


def _reverse(start, entry_id, username):
    user = get_user_model().objects.get(username=username)
    start.wait(timeout=60)
    return "drafted", entry_reverse(entry=JournalEntry.objects.get(pk=entry_id), made_by=user).pk


def test_two_people_reversing_one_voucher_at_once_prepare_one_reversal(fund_book, maker, reviewer, signed):
    from tests.conftest import person

    person("zhaosi", "赵四", "fund_accountant", regions=["37"])
    original = entry_post(book=fund_book, date=date(2015, 12, 18), memo="拨付尾款20%", lines=LINES, **signed)
    outcomes = _run(_reverse, [(original.pk, "zhangsan"), (original.pk, "zhaosi")])
    assert [o[1] for o in outcomes] in (["drafted", "drafted"], ["drafted", "refused"]), outcomes
    # Both get the one reversal back, or the second is refused; either way there is exactly one.
    drafted = {o[2] for o in outcomes if o[1] == "drafted"}
    reversal = JournalEntry.objects.get(reverses=original)
    assert drafted == {reversal.pk} and reversal.status == "draft"
    entry_draft_post(entry=reversal, reviewed_by=reviewer)
    assert JournalEntry.objects.filter(reverses=original).count() == 1 and ledger_verify().ok


def _edit_or_post(start, draft_id, role):
    User = get_user_model()
    draft = JournalEntry.objects.get(pk=draft_id)
    start.wait(timeout=60)
    if role == "maker":
        entry_draft_save(book=draft.book, date=draft.date, memo="尾款（改为 6,400,000.00）", entry=draft,
                         lines=[Line("5101", debit="6400000.00"), Line("1004", credit="6400000.00")],
                         made_by=User.objects.get(username="zhangsan"))
    else:
        entry_draft_post(entry=draft, reviewed_by=User.objects.get(username="lisi"))
    return role, "done"


@pytest.mark.parametrize("attempt", range(6))
def test_a_maker_editing_while_a_reviewer_posts_gets_a_clear_answer(fund_book, maker, reviewer, attempt):
    draft = entry_draft_save(book=fund_book, date=date(2015, 12, 18), memo="尾款", lines=LINES, made_by=maker)
    outcomes = {}
    for worker, what, detail in _run(_edit_or_post, [(draft.pk, "maker"), (draft.pk, "reviewer")]):
        assert what != "error", detail
        # Worker 1 edits, worker 2 posts; whoever lost the race was refused, saying why.
        outcomes[("maker", "reviewer")[worker - 1]] = detail["found"] if what == "refused" else detail
    draft.refresh_from_db()
    amounts = sorted(p.debit.amount + p.credit.amount for p in draft.postings.all())
    assert draft.status == "posted" and outcomes["reviewer"] == "done"
    if outcomes["maker"] == "done":  # the edit came first: what was posted is the edited voucher
        assert draft.memo == "尾款（改为 6,400,000.00）" and amounts == [6400000, 6400000]
    else:  # the posting came first: the edit is refused, the posted voucher is the one reviewed
        assert outcomes["maker"] == "posted meanwhile: reverse it instead"
        assert draft.memo == "尾款" and amounts == [64000000, 64000000]
    assert ledger_verify().ok


def test_a_claims_import_killed_half_way_leaves_nothing_and_runs_again_to_the_end(jincheng_people, tmp_path):
    from bench.claims_data import write_claims

    made = write_claims(tmp_path / "year.csv", n_claims=60000, year=2019, policy=policy_get(code="shanxi-2019"),
                        wrong=0, hospitals=20, seed=5, late_share=0)
    db = connection.settings_dict
    env = {**os.environ, "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
           "DJANGO_SETTINGS_MODULE": "config.settings", "PSEUDONYM_KEY": settings.PSEUDONYM_KEY}
    command = [sys.executable, "manage.py", "import_claims", str(tmp_path / "year.csv"), "--contract", "JC-2019",
               "--as", "clic1405-liuyang", "--json"]
    connections.close_all()
    proc = subprocess.Popen(command, cwd=Path(settings.BASE_DIR), env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    # Killed once it is inside the import: its transaction holds claim rows nobody else can see yet.
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND state = 'idle in transaction'"
                           " OR (datname = %s AND query ILIKE %s)", [db["NAME"], db["NAME"], "%claims_claim%"])
            if cursor.fetchone()[0]:
                break
        time.sleep(0.05)
    time.sleep(0.5)
    assert proc.poll() is None, "the import finished before it could be interrupted"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    assert (Claim.objects.count(), ClaimBatch.objects.count()) == (0, 0)  # killed: nothing at all
    finished = subprocess.run(command, cwd=Path(settings.BASE_DIR), env=env, capture_output=True, timeout=600)
    assert finished.returncode == 0, finished.stderr.decode()[-2000:]
    batch = ClaimBatch.objects.get()
    assert (batch.status, batch.rows, Claim.objects.count()) == ("prepared", made["claims"], made["claims"])


def _pay_in_full(start):
    """Record the whole Jincheng 2019 premium as paid, then have the fund's reviewer post it."""
    from contracts.models import ContractYear
    from contracts.services import transfer_approve, transfer_record

    User = get_user_model()
    cy = ContractYear.objects.get(contract__code="JC-2019", year=2019)
    maker, checker = User.objects.get(username="jc-limin"), User.objects.get(username="jc-zhangwei")
    start.wait(timeout=60)
    t = transfer_record(reference=f"RACE-{os.getpid()}", contract_year=cy, insurer=cy.contract.insurer,
                        amount="147333645.00", paid_on=date(2019, 4, 26), user=maker)
    transfer_approve(transfer=t, user=checker)
    return "posted", t.reference


def test_three_processes_paying_the_whole_premium_at_once_post_it_once(jincheng_people):
    # Jincheng 2019 owes 147,333,645.00 (85 yuan × 1,733,337). Three processes record all of it at the same
    # moment: the check of what is still owed runs under a lock on the contract year, so one is posted and
    # the other two are refused with nothing written.
    from contracts.models import ContractYear, PremiumTransfer
    from contracts.selectors import premium_status

    outcomes = _run(_pay_in_full, [(), (), ()])
    assert sorted(o[1] for o in outcomes) == ["posted", "refused", "refused"], outcomes
    assert {o[2]["expected"] for o in outcomes if o[1] == "refused"} == {"at most what is still owed, 0.00"}
    cy = ContractYear.objects.get(contract__code="JC-2019", year=2019)
    transfers = PremiumTransfer.objects.filter(contract_year=cy)
    assert transfers.count() == 1 and transfers.get().fund_confirmed
    assert JournalEntry.objects.filter(source="premium-transfer").count() == 1
    rows = premium_status(contract_year=cy, as_of=date(2020, 3, 31))
    assert sum(r.shortfall.amount for r in rows) == 0 and all(r.shortfall.amount >= 0 for r in rows)
    assert ledger_verify().ok
