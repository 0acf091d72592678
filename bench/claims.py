"""Claims throughput: import, recompute and post a synthetic year of claims.

The file is written first (not timed); then one insurer book takes the whole file
through the real services, as an accountant's import would.
"""

import resource
import tempfile
import time
from pathlib import Path

from accounts.services import book_create, fund_ensure, insurer_ensure, region_ensure
from claims.policies import policy_get
from claims.services import claims_import, claims_post, claims_recompute
from contracts.services import contract_create, contract_year_create

from .claims_data import write_claims
from .ledger import signers

YEAR = 2019


def _contract():
    region = region_ensure(code="14", name="山西省", level="province")
    fund = fund_ensure(code="F-BENCH", name="基准测试大病保险资金", region=region)
    insurer = insurer_ensure(code="INS-BENCH", name="基准测试保险公司")
    book_create(code="FUND-BENCH", name="基准测试基金账", fund=fund)
    book_create(code="INS-BENCH-DB", name="基准测试大病保险专账", insurer=insurer)
    contract = contract_create(code="BENCH", name="基准测试合同", fund=fund, insurer=insurer, first_year=YEAR,
                               last_year=YEAR + 1)
    for year in (YEAR, YEAR + 1):
        contract_year_create(contract=contract, year=year, per_capita="85", insured_count=20_000_000,
                             tranches=[{"due": f"{year}-04-30", "cumulative_pct": "100"}], benefit_policy="shanxi-2019")
    return contract


def run(n: int) -> dict:
    contract = _contract()
    with tempfile.TemporaryDirectory(prefix="bench-claims-") as tmp:
        path = Path(tmp) / "claims.csv"
        t = time.perf_counter()
        made = write_claims(path, n_claims=n, year=YEAR, policy=policy_get(code="shanxi-2019"), wrong=100)
        generate_s = time.perf_counter() - t
        t0 = time.perf_counter()
        signed = signers()
        result = claims_import(path=path, contract=contract, by=signed["made_by"])
        import_s = time.perf_counter() - t0
        t = time.perf_counter()
        recomputed = sum(claims_recompute(contract_year=cy) for cy in contract.years.all())
        recompute_s = time.perf_counter() - t
        t = time.perf_counter()
        entries = claims_post(batch=result.batch, reviewed_by=signed["reviewed_by"])
        post_s = time.perf_counter() - t
        total_s = time.perf_counter() - t0
    from claims.selectors import claims_discrepancies

    flagged = sum(claims_discrepancies(contract_year=cy, limit=0)["count"] for cy in contract.years.all())  # posted
    assert flagged == len(made["wrong"]), f"flagged {flagged}, altered {len(made['wrong'])}"
    return {
        "claims": made["claims"], "persons": made["persons"], "generate_s": round(generate_s, 1),
        "import_s": round(import_s, 1), "recompute_s": round(recompute_s, 1), "post_s": round(post_s, 1),
        "claims_total_s": round(total_s, 1), "claims_per_s": round(made["claims"] / total_s),
        "claims_recomputed": recomputed, "claims_flagged": flagged, "claims_entries": entries,
        "peak_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }
