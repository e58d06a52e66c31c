"""Benchmark: re-score 100,000 stored assessments on one core, against the cost of merely loading them.

Loads every submitted assessment (answers, facts, stored result, set version), then re-scores each with its
frozen set version and checks the new result equals the stored one (a stored result must never change).
Printed: the baseline (load only), re-scoring with the engine as shipped (compiled expressions, memoised on
their inputs), and re-scoring with the memo disabled (every expression evaluated by rule-engine), as
assessments per second and as a ratio to the baseline.

    python bench/bench_criteria_rescore.py [--database-url URL] [--assessments N]
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from sqlalchemy import select  # noqa: E402

TARGET_PER_S = 5000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL"))
    parser.add_argument("--assessments", type=int, default=100_000)
    options = parser.parse_args()
    url = options.database_url or f"sqlite:///{tempfile.mkdtemp(prefix='bench-')}/bench.sqlite3"
    os.environ.setdefault("BACKOFFICE_INSTANCE", tempfile.mkdtemp(prefix="bench-instance-"))
    from backoffice import create_app
    from backoffice.extensions import db
    from criteria_bench_data import insert_assessments

    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "bench", "TESTING": True})
    with app.app_context():
        db.drop_all()
        db.create_all()
        from backoffice.demo.seed import seed_demo
        seed_demo(organizations=200, residents=50, password="bench-2021-pass")
        inserted, seconds = insert_assessments(options.assessments)
        print(f"data: {inserted} assessments inserted (scored and inserted set-based in {seconds:.1f} s) "
              f"on {db.engine.dialect.name}")
        from backoffice.criteria import engine
        from backoffice.criteria.registry import registry
        from backoffice.models import Assessment, CriteriaSetVersion

        db.session.expunge_all()
        needs = select(Assessment.set_version_id, Assessment.answers, Assessment.facts) \
            .where(Assessment.submitted_at.is_not(None)).order_by(Assessment.id)
        stored_results = select(Assessment.result).where(Assessment.submitted_at.is_not(None)) \
            .order_by(Assessment.id)
        versions = {v.id: registry().compiled_for(v) for v in db.session.scalars(select(CriteriaSetVersion))}

        def timed(fn):
            # CPU time of this process: "one core", and not skewed by whatever else runs on the machine.
            started = time.process_time()
            value = fn()
            return time.process_time() - started, value

        # Baseline: what re-scoring must read anyway (answers, facts, set version) for every assessment.
        load_s, rows = timed(lambda: db.session.execute(needs).all())
        for compiled in versions.values():  # a cold start: nothing memoised from the inserts
            _clear(compiled)
        score_s, results = timed(lambda: [versions[v].score(a, f) for v, a, f in rows])
        both_s, _ = timed(lambda: [versions[v].score(a, f) for v, a, f in db.session.execute(needs)])
        original = engine.Expr.evaluate
        engine.Expr.evaluate = lambda self, values: self.rule.evaluate({n: values[n] for n in self.names})
        try:
            raw_s, raw_results = timed(lambda: [versions[v].score(a, f) for v, a, f in rows])
        finally:
            engine.Expr.evaluate = original
        from backoffice.criteria.service import verify_stored_results
        job_s, (checked, different) = timed(verify_stored_results)
        stored = list(db.session.scalars(stored_results))
        mismatches = sum(1 for new, old in zip(results, stored) if new != old)
        raw_mismatches = sum(1 for new, old in zip(raw_results, stored) if new != old)
        n = len(rows)
        print(f"{'case (' + str(n) + ' assessments, one core)':<56}{'cpu s':>9}{'per s':>10}{'x load':>8}")
        for label, secs in (("baseline: load answers + facts + set version", load_s),
                            ("re-score only (as shipped: memoised expressions)", score_s),
                            ("re-score only (memo off: rule-engine every time)", raw_s),
                            ("load + re-score, end to end", both_s),
                            ("verify_stored_results(): load all + re-score + compare", job_s)):
            print(f"{label:<56}{secs:>9.2f}{n / secs:>10.0f}{secs / load_s:>8.2f}")
        print(f"results different from the stored ones: {mismatches} (memo off: {raw_mismatches}; "
              f"batch job: {len(different)} of {checked})")
        rate = n / job_s
        ok = rate >= TARGET_PER_S and mismatches == 0 and raw_mismatches == 0 and not different
        print(f"batch re-score rate (load + re-score + compare) {rate:.0f}/s — target {TARGET_PER_S}/s on one core: "
              f"{'OK' if ok else 'MISSED'}")
    return 0 if ok else 1


def _clear(compiled) -> None:
    for crit in compiled.criteria:
        for expr, _band in crit.bands:
            if expr is not None:
                expr._cache.clear()
        if crit.compute is not None:
            crit.compute._cache.clear()
    for expr, _index in compiled.classification:
        if expr is not None:
            expr._cache.clear()


if __name__ == "__main__":
    sys.exit(main())
