import time

from core.commands import JsonCommand


class Command(JsonCommand):
    help = "Run the benchmarks in a scratch database and print their figures (never touches real books)."

    def add_arguments(self, parser):
        super().add_arguments(parser)
        parser.add_argument("--n", type=int, default=100_000, help="entries to post (default 100000)")
        parser.add_argument("--claims", type=int, default=1_000_000, help="claims to import (default 1000000)")
        parser.add_argument("--tb-postings", type=int, default=1_000_000,
                            help="postings in the book whose 科目余额表 is timed (default 1000000)")
        parser.add_argument("--ledger-entries", type=int, default=17_500,
                            help="entries in the book whose 明细账 a worker draws (default 17500: about 1,000 pages)")
        parser.add_argument("--only", choices=["ledger", "claims", "reports"], help="run one benchmark")

    def run(self, *, n, claims, tb_postings, ledger_entries, only=None, **options):
        from django.conf import settings

        from bench import claims as claims_bench
        from bench import ledger
        from bench import reports as reports_bench
        from bench.scratch import scratch_database

        # Measure what production runs: no per-query debug logging.
        settings.DEBUG = False

        t0 = time.perf_counter()
        figures = {}
        # Each benchmark gets a database of its own, so one's rows never slow the other.
        if only in (None, "ledger"):
            with scratch_database():
                figures.update(ledger.run(n))
        if only in (None, "claims"):
            with scratch_database():
                figures.update(claims_bench.run(claims))
        if only in (None, "reports"):
            with scratch_database():
                figures.update(reports_bench.run(tb_postings, ledger_entries))
        figures["seconds"] = round(time.perf_counter() - t0, 1)
        text = "\n".join(f"{k:>16}: {v}" for k, v in figures.items())
        return True, figures, text
