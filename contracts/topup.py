"""The Jilin-style top-up table (补缴表): read, check every figure, turn paying regions into obligations.

The table (吉医保联〔2019〕26号 attachment) lists a grand total (合计), subtotals (一 市区小计,
二 县（市）小计), numbered cities and counties (1, 2, …) and their districts (⑴, ⑵, …).
Each amount should be the per-capita top-up × the insured count; each city with districts
the sum of its districts; each subtotal the sum of the numbered rows under it; the grand
total the sum of the subtotals. Rows are numbered as a spreadsheet shows them: the header
is row 1, the first figures row 2.

Rows are matched to their regions by name — a city or county among the province's regions,
a district among its city's — never by position or 序号, which differ from table to table.
The regions are reference data (data/regions/22_jilin.csv, loaded by accounts.services.regions_load).
"""

import hashlib
import re
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.utils.translation import gettext_lazy as _
from django.utils.translation import override

from accounts.models import Insurer, Region
from accounts.services import fund_ensure, insurer_ensure
from audit.services import audit_record
from core.errors import Refused
from core.tables import Unreadable, iter_table
from core.values import BadValue, amount, whole_number

from .models import PremiumObligation

COLUMNS = ("序号", "市县名称", "补缴金额", "参保人数", "上缴保险公司")
CODE_COLUMNS = ("代码", "区划代码", "地区代码", "code")  # an optional sixth column
PROVINCE = ("22", "吉林省")
REGIONS_FILE = Path(settings.BASE_DIR) / "data" / "regions" / "22_jilin.csv"
# More persons than China has is no count of insured; it also keeps within the column's integer range.
PERSONS_MAX = 1_500_000_000
# Insurers the shipped table names, by the code this product gives them.
KNOWN_INSURERS = {"人保财险": "INS-PICC", "人寿保险": "INS-CLIC"}
SUBTOTAL = re.compile(r"^[一二三四五六七八九十]+$")
NUMBERED = re.compile(r"^[0-9]+$")  # ASCII digits only: str.isdigit() also accepts ⑴
DISTRICT = re.compile(r"^[\u2474-\u2487]$|^[（(][0-9]+[)）]$")  # ⑴…⒇ or (1)


@dataclass
class TopupRow:
    row: int  # spreadsheet row number (header = 1)
    seq: str
    name: str
    amount: Decimal | None  # None: the cell was refused (a problem says why)
    count: int | None
    insurer_cell: str
    kind: str = ""  # total | subtotal | city | district
    parent: "TopupRow | None" = None
    children: list = field(default_factory=list)
    insurer: str = ""
    code_cell: str = ""  # the table's own region code, when it has a code column
    region: Region | None = None


@dataclass
class TopupResult:
    rows: int = 0
    total_amount: Decimal = Decimal(0)
    total_insured: int = 0
    by_insurer: dict = field(default_factory=dict)
    obligations: int = 0
    problems: list = field(default_factory=list)
    warnings: list = field(default_factory=list)
    paying: list = field(default_factory=list)

    def payload(self) -> dict:
        return {
            "rows": self.rows, "total_amount": f"{self.total_amount:.2f}", "total_insured": self.total_insured,
            "by_insurer": {k: f"{v:.2f}" for k, v in self.by_insurer.items()}, "obligations": self.obligations,
            "problems": self.problems, "warnings": self.warnings,
        }


def _p(row, region, field_name, expected, found, note: str = "") -> dict:
    with override("en"):  # the table's problems are read in English (--json); a lazy part is put in English
        p = {"row": row, "region": region, "field": str(field_name), "expected": str(expected), "found": str(found)}
    if note:
        p["note"] = note
    return p


def _number(text: str, row: int, region: str, name: str, problems: list, whole: bool):
    # Chinese documents sometimes group thousands with a full-width comma.
    text = text.replace("，", ",")
    try:
        if whole:
            return whole_number(text, limit=PERSONS_MAX, what=_("a whole number of persons ≥ 0"))
        return amount(text, limit=settings.TOPUP_AMOUNT_LIMIT, limit_name="TOPUP_AMOUNT_LIMIT")
    except BadValue as exc:
        problems.append(_p(row, region, name, exc.expected, exc.found))
        return None


def topup_read(path: Path) -> tuple[list[TopupRow], list[dict]]:
    """The table's rows, structured (total, subtotals, cities, districts), and every problem of form."""
    try:
        table = list(iter_table(path))  # the shared reader: CSV in UTF-8/BOM/GB18030, or XLSX
    except Unreadable as exc:
        p = exc.problems[0]
        return [], [_p(p.get("row", 0), "", p["field"], p["expected"], p["found"])]
    problems = []
    header = table[0][1] if table else []
    width = 6 if len(header) == 6 and header[5].strip().lower() in CODE_COLUMNS else 5
    if len(header) != width or not all(h.startswith(c) or c in h for h, c in zip(header, COLUMNS, strict=False)):
        problems.append(_p(1, "", "header", "序号, 市县名称, 补缴金额…, …参保人数, 上缴保险公司 (and optionally 代码)",
                           ", ".join(header)))
    rows: list[TopupRow] = []
    for n, r in table[1:]:
        if len(r) > width or len(r) < 4:
            problems.append(_p(n, r[1] if len(r) > 1 else "", "columns", width, len(r)))
            continue
        seq, name = r[0], re.sub(r"\s+", "", r[1])
        yuan = _number(r[2], n, name, "amount", problems, whole=False)
        count = _number(r[3], n, name, "count", problems, whole=True)
        insurer = re.sub(r"\s+", "", r[4]) if len(r) > 4 else ""
        # A row with a bad figure stays in the structure, so its districts are not reported as orphans.
        rows.append(TopupRow(n, seq, name, yuan, count, insurer, code_cell=r[5] if len(r) > 5 else ""))
    if not rows and not problems:
        problems.append(_p(2, "", "rows", "at least one row of figures", "none"))
    _structure(rows, problems)
    _match(rows, problems, code_header=header[5] if width == 6 else "")
    return rows, problems


def _structure(rows: list[TopupRow], problems: list) -> None:
    total = subtotal = city = None
    seen = defaultdict(set)
    insurer_above = ""
    for r in rows:
        if r.name == "合计" and not r.seq:
            r.kind = "total"
            if total is not None:
                problems.append(_p(r.row, r.name, "合计", "one grand total row", f"another at row {total.row}"))
            total = r
            continue
        if SUBTOTAL.match(r.seq):
            r.kind, r.parent, subtotal, city = "subtotal", total, r, None
            if total is None:
                problems.append(_p(r.row, r.name, "序号", "the grand total (合计) before subtotals", r.seq))
            else:
                total.children.append(r)
            continue
        if NUMBERED.match(r.seq):
            r.kind, r.parent, city = "city", subtotal, r
            if subtotal is None:
                problems.append(_p(r.row, r.name, "序号", "a subtotal (一, 二 …) before numbered rows", r.seq))
            else:
                subtotal.children.append(r)
        elif DISTRICT.match(r.seq):
            r.kind, r.parent = "district", city
            if city is None:
                problems.append(_p(r.row, r.name, "序号", "a numbered city or county before its districts", r.seq))
                continue
            city.children.append(r)
        else:
            problems.append(_p(r.row, r.name, "序号", "合计, 一/二…, 1, 2… or ⑴, ⑵…", r.seq or "(empty)"))
            continue
        parent_key = r.parent.row if r.parent is not None and r.kind == "district" else "province"
        if r.name in seen[parent_key]:
            problems.append(_p(r.row, r.name, "市县名称", "each region once", "listed again"))
        seen[parent_key].add(r.name)
        # A blank insurer cell continues the merged cell above it.
        if r.insurer_cell:
            known = set(KNOWN_INSURERS) | set(Insurer.objects.values_list("name", flat=True))
            if r.insurer_cell not in known:
                problems.append(_p(r.row, r.name, "上缴保险公司", f"one of {', '.join(sorted(known))}",
                                   r.insurer_cell))
            insurer_above = r.insurer_cell
        elif not insurer_above:
            problems.append(_p(r.row, r.name, "上缴保险公司", "an insurer (nothing above to continue)", "(blank)"))
        r.insurer = r.insurer_cell or insurer_above
    if rows and total is None:
        problems.append(_p(rows[0].row, "", "合计", "a grand total row", "none"))


def _match(rows: list[TopupRow], problems: list, code_header: str) -> None:
    """Find each city or county among the province's regions and each district among its city's, by name."""
    province = Region.objects.filter(code=PROVINCE[0]).first()
    if province is None:
        problems.append(_p(1, PROVINCE[1], "市县名称", f"the regions of {PROVINCE[1]} loaded "
                           f"(accounts.services.regions_load, data/regions/{REGIONS_FILE.name})",
                           f"no region {PROVINCE[0]}"))
        return
    by_parent = defaultdict(list)
    for region in Region.objects.filter(parent__in=[province, *province.children.all()]):
        by_parent[region.parent_id].append(region)
    for r in rows:
        if r.kind not in ("city", "district") or (r.kind == "district" and (r.parent is None or r.parent.region is None)):
            continue  # a district under a city that was not found is not looked for
        parent = province if r.kind == "city" else r.parent.region
        found = [x for x in by_parent[parent.pk] if x.name == r.name]
        if len(found) != 1:
            where = f"a city or county of {parent.name}" if r.kind == "city" else f"a district of {parent.name}"
            problems.append(_p(r.row, r.name, "市县名称", f"{where}, named as in data/regions/{REGIONS_FILE.name}",
                               r.name if not found else f"{r.name} ({len(found)} regions: "
                               f"{', '.join(x.code for x in found)})"))
            continue
        r.region = found[0]
        if r.code_cell and r.code_cell != r.region.code:
            problems.append(_p(r.row, r.name, code_header, f"{r.region.code} ({r.region.path()})", r.code_cell))


def _hint(diff: Decimal, candidates: list[TopupRow]) -> str:
    """Name the rows whose figures make up a difference, when one row or a trailing run does."""
    for r in candidates:
        if r.amount == abs(diff):
            return f"the difference {abs(diff):,.2f} equals row {r.row} {r.name}"
    for k in range(2, len(candidates) + 1):
        tail = candidates[-k:]
        if sum(x.amount for x in tail) == abs(diff):
            named = " + ".join(f"row {x.row} {x.name}" for x in tail)
            return f"the difference {abs(diff):,.2f} equals {named}"
    return ""


def topup_check(rows: list[TopupRow], per_capita: Decimal) -> list[dict]:
    """Every discrepancy: 15 × count on each row, and each total against its parts."""
    found = []
    numbered = [r for r in rows if r.kind in ("city", "district")]
    for r in rows:
        expected = (per_capita * r.count).quantize(Decimal("0.01"))
        if r.amount != expected:
            found.append(_p(r.row, r.name, "amount", f"{per_capita} × {r.count} = {expected:,.2f}",
                            f"{r.amount:,.2f}"))
    for r in rows:
        if not r.children:
            continue
        parts_amount = sum((c.amount for c in r.children), Decimal(0))
        parts_count = sum(c.count for c in r.children)
        what = {"total": "the subtotals", "subtotal": "its numbered rows", "city": "its districts"}[r.kind]
        if r.amount != parts_amount:
            hint = _hint(r.amount - parts_amount, r.children if r.amount < parts_amount else numbered)
            found.append(_p(r.row, r.name, "amount", f"{parts_amount:,.2f} (the sum of {what})",
                            f"{r.amount:,.2f}", hint))
        if r.count != parts_count:
            found.append(_p(r.row, r.name, "count", f"{parts_count:,} (the sum of {what})", f"{r.count:,}"))
    return found


def _paying(rows: list[TopupRow]) -> list[TopupRow]:
    """The lowest level listed pays: districts where a city lists them, else the city or county."""
    return [r for r in rows if r.kind == "district" or (r.kind == "city" and not r.children)]


@transaction.atomic
def topup_import(*, path: Path, year: int = 2019, per_capita="15", due: date = date(2019, 11, 30), by=None,
                 dry_run: bool = False, accept_discrepancies: bool = False) -> TopupResult:
    """Check the whole table, then create funds, insurers and one obligation per paying region.

    Every row must name a region already loaded (regions_load): an unknown or ambiguous name is
    a problem of form. Refused (nothing written) on any problem of form, and on any discrepancy unless
    `accept_discrepancies`; a dry run writes nothing either. Importing the same table
    again creates nothing new.
    """
    result = TopupResult()
    try:
        per_capita = amount(str(per_capita))
    except BadValue as exc:
        raise Refused([{**_p(0, "", "per_capita", exc.expected, exc.found), "entry": "top-up import"}]) from None
    rows, problems = topup_read(path)
    result.rows = len(rows)
    total = next((r for r in rows if r.kind == "total"), None)
    if total is not None:
        result.total_amount, result.total_insured = total.amount or Decimal(0), total.count or 0
    paying = _paying(rows)
    for r in paying:
        result.by_insurer[r.insurer] = result.by_insurer.get(r.insurer, Decimal(0)) + (r.amount or Decimal(0))
    discrepancies = topup_check(rows, per_capita) if not problems else []
    if problems:
        result.problems = problems
    elif discrepancies and not accept_discrepancies:
        result.problems = discrepancies
    else:
        result.warnings = discrepancies
    result.warnings += [_p(r.row, r.name, "amount", "an amount above 0 to create an obligation", "0")
                        for r in paying if r.amount == 0]
    result.paying = paying
    if result.problems or dry_run:
        return result

    digest = hashlib.sha256(Path(path).read_bytes()).hexdigest()[:16]
    insurers = {name: Insurer.objects.filter(name=name).first() or insurer_ensure(code=KNOWN_INSURERS[name], name=name)
                for name in {r.insurer for r in paying}}
    conflicts = []
    for r in paying:
        if r.amount == 0:
            continue
        region = r.region
        fund = fund_ensure(code=f"F-{region.code}", name=f"{region.name}城乡居民大病保险资金", region=region)
        key = f"topup/{year}/{region.code}"
        ob, created = PremiumObligation.objects.get_or_create(key=key, defaults=dict(
            fund=fund, insurer=insurers[r.insurer], year=year, kind=PremiumObligation.Kind.TOPUP, sequence=1,
            description=f"{year}年农村居民大病保险资金补缴（{per_capita:g}元/人）", amount=r.amount, due_date=due,
            insured_count=r.count, source=f"补缴表第 {r.row} 行（文件 SHA-256 {digest}）"))
        if not created and (ob.amount.amount != r.amount or ob.insurer_id != insurers[r.insurer].pk):
            conflicts.append(_p(r.row, r.name, "amount", f"{ob.amount.amount:,.2f} to {ob.insurer} (imported before)",
                                f"{r.amount:,.2f} to {r.insurer}"))
        result.obligations += int(created)
    if conflicts:
        raise Refused([{**c, "entry": f"row {c['row']} {c['region']}"} for c in conflicts])
    if result.obligations:
        audit_record(action="imported", actor=by, digest=hashlib.sha256(Path(path).read_bytes()).hexdigest(),
                     detail={"kind": "top-up table", "file": Path(path).name, "year": year,
                             "obligations": result.obligations})
    return result
