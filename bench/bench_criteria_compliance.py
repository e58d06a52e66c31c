"""Benchmark: the compliance list's first page at 100,000 organizations (and 100,000 assessments).

Median server time of GET /admin/compliance/ (routing, login, scope, the latest-assessment subqueries, staff
green shares, template) for the city admin and inspector.q1, and in the same run the plain query the page
stands on — the first 50 organizations in scope by name, and their count, with no assessment at all — so the
ratio says what the latest-assessment lookups and the page add.

    python bench/bench_criteria_compliance.py [--database-url URL] [--organizations N] [--runs N]
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from sqlalchemy import func, select  # noqa: E402

from bench_admin_organizations import build, login, median_ms, page_ms  # noqa: E402
from criteria_bench_data import insert_assessments  # noqa: E402

TARGET_MS = 200.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL"))
    parser.add_argument("--organizations", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=15)
    options = parser.parse_args()
    url = options.database_url or f"sqlite:///{tempfile.mkdtemp(prefix='bench-')}/bench.sqlite3"
    app = build(url, options.organizations)
    from backoffice.auth.scope import scope_clause
    from backoffice.criteria import compliance
    from backoffice.extensions import db
    from backoffice.models import Organization, User
    from backoffice.timeutil import now_utc

    with app.app_context():
        inserted, seconds = insert_assessments(options.organizations)
        print(f"data: {inserted} assessments inserted in {seconds:.1f} s")
        from sqlalchemy import text
        if db.engine.dialect.name == "postgresql":
            with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.execute(text("ANALYZE"))
        else:
            db.session.execute(text("ANALYZE"))
            db.session.commit()
    worst = 0.0
    print(f"{'case':<36}{'page ms':>9}{'list q ms':>10}{'plain q ms':>11}{'page/plain':>11}{'rows':>8}")
    for username in ("admin", "inspector.q1"):
        client = login(app, username)
        page = page_ms(client, "/admin/compliance/", options.runs)
        with app.test_request_context():
            user = db.session.scalar(select(User).where(User.username == username))

            def listing():
                rows, total = compliance.page(user, compliance.Filters(), now_utc(), 30, 1, 50)
                listing.total = total
                db.session.expire_all()

            def plain():
                clause = scope_clause(Organization, user)
                db.session.execute(select(Organization.id, Organization.name).where(clause)
                                   .order_by(Organization.name, Organization.id).limit(50)).all()
                db.session.scalar(select(func.count(Organization.id)).where(clause))

            list_ms = median_ms(listing, options.runs)
            plain_ms = median_ms(plain, options.runs)
        worst = max(worst, page)
        print(f"{username + ' — first page':<36}{page:>9.1f}{list_ms:>10.1f}{plain_ms:>11.1f}"
              f"{page / plain_ms:>11.1f}{listing.total:>8}")
    verdict = "OK" if worst < TARGET_MS else "MISSED"
    print(f"worst first-page median {worst:.1f} ms — target {TARGET_MS:.0f} ms: {verdict}")
    return 0 if worst < TARGET_MS else 1


if __name__ == "__main__":
    sys.exit(main())
