"""Load data/contracts.json: the source documents' regions with a fund, an insurer, books and contracts."""

import json
from datetime import date
from pathlib import Path

from django.conf import settings
from django.db import transaction

from accounts.models import Book
from accounts.services import book_create, fund_ensure, insurer_ensure, region_ensure
from ledger.services import fiscal_year_open

from .models import ContractYear
from .services import contract_create, contract_year_create, contract_year_regions_set, obligations_generate

REFERENCE_FILE = Path(settings.BASE_DIR) / "data" / "contracts.json"


def _book(code: str, name: str, **owner) -> Book:
    return Book.objects.filter(code=code).first() or book_create(code=code, name=name, **owner)


@transaction.atomic
def reference_contracts_load(path: Path = REFERENCE_FILE) -> list[ContractYear]:
    """Create (or find) every contract year of the file with its obligations; loading again adds nothing."""
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    years = []
    for c in data["contracts"]:
        parent = None
        for r in c["regions"]:
            parent = region_ensure(code=r["code"], name=r["name"], level=r["level"], parent=parent)
        fund = fund_ensure(code=c["fund"]["code"], name=c["fund"]["name"], region=parent)
        insurer = insurer_ensure(code=c["insurer"]["code"], name=c["insurer"]["name"])
        fund_book = _book(c["fund"]["book"], c["fund"]["book_name"], fund=fund)
        insurer_book = _book(c["insurer"]["book"], c["insurer"]["book_name"], insurer=insurer)
        contract = contract_create(code=c["code"], name=c["name"], fund=fund, insurer=insurer,
                                   first_year=c["first_year"], last_year=c["last_year"], source=c["source"])
        for y in c["years"]:
            for book in (fund_book, insurer_book):
                fiscal_year_open(book=book, year=y["year"])
            terms = {k: v for k, v in y.items() if k not in {"cutoff", "report_due", "settle_due", "assigned_regions"}}
            for k in ("cutoff", "report_due", "settle_due"):
                if k in y:
                    terms[k] = date.fromisoformat(y[k])
            cy = contract_year_create(contract=contract, **terms)
            # Several insurers in one pool (Shandong): the regions this insurer serves, each with its count;
            # a region another contract already serves that year is refused.
            if y.get("assigned_regions"):
                contract_year_regions_set(contract_year=cy, regions=[
                    (region_ensure(code=r["code"], name=r["name"], level=r.get("level", "city"), parent=parent),
                     r["insured_count"]) for r in y["assigned_regions"]])
            obligations_generate(contract_year=cy)
            years.append(cy)
    return years
