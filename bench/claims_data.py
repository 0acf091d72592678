"""Synthetic claims that look like a real year: used by the claims benchmark and by tests.

About 5% of insured persons claim, 1–6 episodes each in the year, log-normal out-of-pocket
amounts, a few percent in special groups; ID numbers are valid (GB 11643 check character)
and made up. The insurer's paid figure is the policy's own figure unless a claim is picked
to be wrong, so a recomputation must flag exactly those.
"""

import csv
import random
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

from claims.identity import check_digit
from claims.rules import Policy

HEADER = ["claim_no", "id_number", "group", "admitted_on", "discharged_on", "settled_on", "hospital_code",
          "hospital_name", "oop", "paid", "channel"]
SPECIAL = ["dibao", "extreme_poverty", "registered_poor", "orphan", "low_income_elderly"]


def make_id(rng: random.Random) -> str:
    born = date(1940, 1, 1) + timedelta(days=rng.randrange(30000))
    body = f"220{rng.randrange(100, 999)}{born:%Y%m%d}{rng.randrange(1000):03d}"
    return body + check_digit(body)


def write_claims(path: Path, *, n_claims: int, year: int, policy: Policy, seed: int = 2019, hospitals: int = 200,
                 wrong: int = 0, late_share: float = 0.01, oop_scale: float = 1.0) -> dict:
    """Write about n_claims claims; return what was written ({"claims", "persons", "wrong": {claim_no: diff}})."""
    rng = random.Random(seed)
    start = date(year, 1, 1)
    wrong_at = set(rng.sample(range(n_claims), wrong)) if wrong else set()
    written, persons, errors = 0, 0, {}
    used = set()  # two made-up persons must never share an ID number
    paid_groups = set(policy.accepted())  # the groups this policy pays (listed or mapped by its document)
    with open(path, "w", encoding="utf-8", newline="") as f:
        out = csv.writer(f)
        out.writerow(HEADER)
        while written < n_claims:
            persons += 1
            idno = make_id(rng)
            while idno in used:
                idno = make_id(rng)
            used.add(idno)
            group = rng.choice(SPECIAL) if rng.random() < 0.04 else "general"
            if group not in paid_groups:  # one the policy does not pay (orphans under Shanxi 2019): drawn as general,
                group = "general"  # so the random sequence, and every other figure, stays the same
            rule = policy.rule(group)
            episodes = []
            for _ in range(min(rng.randint(1, 6), n_claims - written)):
                admitted = start + timedelta(days=rng.randrange(330))
                discharged = min(admitted + timedelta(days=rng.randint(1, 20)), date(year, 12, 31))
                late = rng.random() < late_share
                settled = date(year + 1, 4, 15) if late else discharged + timedelta(days=rng.randint(0, 25))
                oop = Decimal(int(rng.lognormvariate(9.6, 0.9) * oop_scale * 100)) / 100
                episodes.append((settled, admitted, discharged, oop))
            # The insurer pays in settlement order, as the recomputation replays them.
            episodes.sort()
            cumulative, payable = Decimal(0), Decimal(0)
            for settled, admitted, discharged, oop in episodes:
                cumulative += oop
                now = rule.yearly_payable(cumulative)
                paid = now - payable
                payable = now
                claim_no = f"{year}-{written + 1:08d}"
                if written in wrong_at:
                    delta = Decimal(rng.choice([-1, 1]) * rng.randint(1, 50000)) / 100
                    if paid + delta < 0:
                        delta = -delta
                    paid += delta
                    errors[claim_no] = delta
                h = rng.randrange(1, hospitals + 1)
                channel = "direct" if rng.random() < 0.9 else rng.choice(["manual", "advance"])
                out.writerow([claim_no, idno, group, admitted.isoformat(), discharged.isoformat(), settled.isoformat(),
                              f"H{h:04d}", f"定点医院{h:04d}", f"{oop:.2f}", f"{paid:.2f}", channel])
                written += 1
    return {"claims": written, "persons": persons, "wrong": errors}
