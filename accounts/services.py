"""Writes for regions, funds, insurers, books and their charts of accounts."""

import json
from decimal import Decimal
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.utils.translation import gettext_lazy as _

from core.errors import Refused, lazy_format, problem

from .models import Account, Book, ConsortiumMember, Fund, Insurer, Region

CHARTS_DIR = Path(settings.BASE_DIR) / "data" / "charts"


def chart_template(name: str) -> dict:
    path = CHARTS_DIR / f"{name}.json"
    if not path.exists():
        known = sorted(p.stem for p in CHARTS_DIR.glob("*.json"))
        raise Refused([problem(_("chart template"), _("name"), lazy_format(_("one of %(names)s"), names=", ".join(known)),
                               name)])
    return json.loads(path.read_text(encoding="utf-8"))


@transaction.atomic
def region_ensure(*, code: str, name: str, level: str, parent: Region | None = None) -> Region:
    region, _created = Region.objects.get_or_create(code=code, defaults={"name": name, "level": level, "parent": parent})
    return region


@transaction.atomic
def fund_ensure(*, code: str, name: str, region: Region) -> Fund:
    fund, _created = Fund.objects.get_or_create(code=code, defaults={"name": name, "region": region})
    return fund


@transaction.atomic
def insurer_ensure(*, code: str, name: str, members: list[tuple[Insurer, Decimal]] | None = None) -> Insurer:
    """An insurer, or a consortium (共保体) when members with shares adding up to 100% are given."""
    insurer, created = Insurer.objects.get_or_create(
        code=code, defaults={"name": name, "is_consortium": bool(members)}
    )
    if created and members:
        total = sum((Decimal(share) for _member, share in members), Decimal(0))
        if total != Decimal(100):
            raise Refused([problem(lazy_format(_("consortium %(name)s"), name=name), _("member shares"),
                                   _("shares adding up to 100%"), f"{total}%")])
        ConsortiumMember.objects.bulk_create(
            [ConsortiumMember(consortium=insurer, member=m, share_pct=Decimal(share)) for m, share in members]
        )
    return insurer


@transaction.atomic
def book_create(*, code: str, name: str, fund: Fund | None = None, insurer: Insurer | None = None,
                template: str | None = None) -> Book:
    """A new book for one fund or one insurer, its chart loaded from the template in one call.

    The template defaults to the owner's kind: `fund` (社会保险基金会计制度) or `insurer`.
    """
    if (fund is None) == (insurer is None):
        raise Refused([problem(lazy_format(_("book %(code)s"), code=code), _("owner"), _("exactly one fund or one insurer"),
                               _("both") if fund else _("neither"))])
    if Book.objects.filter(code=code).exists():
        raise Refused([problem(lazy_format(_("book %(code)s"), code=code), _("code"), _("a code no other book has"), code)])
    kind = Book.Kind.FUND if fund is not None else Book.Kind.INSURER
    chart = chart_template(template or kind)
    book = Book.objects.create(code=code, name=name, kind=kind, fund=fund, insurer=insurer)
    by_code = {}
    for row in chart["accounts"]:
        by_code[row["code"]] = Account.objects.create(
            book=book, code=row["code"], name=row["name"], type=row["type"], normal_side=row["normal_side"],
            parent=by_code[row["parent"]] if row.get("parent") else None, source=row.get("source", ""),
            deficit=row.get("deficit", Account.Deficit.ALLOW),
        )
    return book


@transaction.atomic
def account_create(*, book: Book, parent_code: str, code: str, name: str) -> Account:
    """A sub-account (明细科目) under a national code: the parent's code plus digits, same type and side."""
    parent = Account.objects.filter(book=book, code=parent_code).first()
    label = lazy_format(_("account %(code)s"), code=code)
    if parent is None:
        raise Refused([problem(label, _("parent"), lazy_format(_("an account of book %(code)s"), code=book.code),
                               parent_code)])
    if not (code.startswith(parent.code) and len(code) > len(parent.code) and code.isdigit()):
        raise Refused([problem(label, _("code"), lazy_format(_("digits starting with %(code)s"), code=parent.code), code)])
    existing = Account.objects.filter(book=book, code=code).first()
    if existing is not None:
        if existing.parent_id != parent.pk:
            raise Refused([problem(label, _("code"), lazy_format(_("a sub-account of %(code)s"), code=parent.code),
                                   lazy_format(_("one under %(name)s"), name=existing.parent))])
        return existing
    if parent.postings.exists():
        raise Refused([problem(label, _("parent"), _("an account without postings (postings go to leaf accounts)"),
                               lazy_format(_("%(code)s already has postings"), code=parent.code))])
    return Account.objects.create(book=book, code=code, name=name, type=parent.type,
                                  normal_side=parent.normal_side, parent=parent, source="明细科目",
                                  deficit=parent.deficit)


@transaction.atomic
def regions_load(path: Path) -> int:
    """Load reference regions from a CSV (code, name, level, parent_code; parents first). Returns how many
    were created: loading again creates none. A region already there must agree in name, level and parent,
    since books and funds hang off it: reference data never silently rewrites a region."""
    import csv

    path = Path(path)
    problems, created = [], 0
    known = {}
    with path.open(encoding="utf-8-sig", newline="") as f:
        for n, row in enumerate(csv.DictReader(f), start=2):
            where = lazy_format(_("%(file)s row %(n)s"), file=path.name, n=n)
            code, name, level, parent_code = (row.get(k, "").strip() for k in ("code", "name", "level", "parent_code"))
            if level not in Region.Level.values or not code or not name:
                problems.append(problem(where, _("level"), lazy_format(_("code, name and a level of %(levels)s"),
                                                                        levels=", ".join(Region.Level.values)),
                                        f"{code}, {name}, {level}"))
                continue
            parent = None
            if parent_code:
                parent = known.get(parent_code) or Region.objects.filter(code=parent_code).first()
                if parent is None:
                    problems.append(problem(where, _("parent_code"), _("a region listed above or already loaded"),
                                            parent_code))
                    continue
            region = Region.objects.filter(code=code).first()
            if region is None:
                clash = Region.objects.filter(parent=parent, name=name).first()
                if clash is not None:
                    problems.append(problem(where, _("name"),
                                            lazy_format(_("a name no other region under %(parent)s has"), parent=parent),
                                            lazy_format(_("%(name)s (already region %(code)s)"), name=name,
                                                        code=clash.code)))
                    continue
                region = Region.objects.create(code=code, name=name, level=level, parent=parent)
                created += 1
            elif (region.name, region.level, region.parent_id) != (name, level, parent.pk if parent else None):
                problems.append(problem(where, _("code"),
                                        lazy_format(_("region %(code)s as loaded before: %(name)s, %(level)s, "
                                                      "under %(parent)s"), code=code, name=region.name,
                                                    level=region.level, parent=region.parent or _("(none)")),
                                        lazy_format(_("%(name)s, %(level)s, under %(parent)s"), name=name, level=level,
                                                    parent=parent or _("(none)"))))
                continue
            known[code] = region
    if problems:
        raise Refused(problems)
    return created
