"""Every statement kind for the demo books, written under out/ by quickstart."""

from pathlib import Path

from accounts.models import Book

from .services import report_issue

# (kind, book, year, month)
DEMO = [
    ("trial-balance", "FUND-1405", 2019, None), ("trial-balance", "CLIC-1405-DB", 2019, None),
    ("trial-balance", "FUND-37", 2015, None), ("trial-balance", "PICC-37-DB", 2015, None),
    ("ledger", "CLIC-1405-DB", 2019, 12), ("vouchers", "FUND-1405", 2019, None),
    ("premium-status", "FUND-1405", 2019, None), ("premium-status", "FUND-37", 2015, None),
    ("settlement", "FUND-1405", 2019, None), ("settlement", "FUND-37", 2015, None),
    ("operations", "CLIC-1405-DB", 2019, None), ("bank-reconciliation", "FUND-1405", 2019, 4),
    ("general-ledger", "CLIC-1405-DB", 2019, None), ("cash-journal", "FUND-1405", 2019, None),
    ("province", "FUND-37", 2015, None),
]


def demo_reports_write(out_dir) -> list[str]:
    """Each statement as a signed PDF and, beside it, as an XLSX of the same figures (each with its own
    verification code): the paths written, PDF then XLSX."""
    written = []
    for kind, code, year, month in DEMO:
        stem = Path(out_dir) / "reports" / f"{kind}_{code}_{year}{f'-{month:02d}' if month else ''}"
        for fmt in ("pdf", "xlsx"):
            path = stem.with_suffix(f".{fmt}")
            report_issue(kind=kind, book=Book.objects.get(code=code), year=year, month=month, out=path,
                         by="quickstart", format=fmt)
            written.append(str(path.relative_to(Path(out_dir).parent)))
    return written
