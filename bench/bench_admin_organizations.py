"""Benchmark: the admin organization list at 100,000 organizations, through the real view.

For the city admin and for inspector.q1 it measures the median server time of
  - the first page of /admin/organization/ (rows and total count), and
  - a filtered search (district filter + search term),
rendered by the Flask test client (so: routing, login, scope, queries, template — the whole server side),
and, in the same run, the same view's list queries (count + page) with and without the scope, so the
printed ratios say what the page costs beyond its data and what the scope costs.

    python bench/bench_admin_organizations.py [--database-url URL] [--organizations N] [--runs N]

The database (default: a temporary SQLite file; or BENCH_DATABASE_URL) gets its tables created and
filled; use a database of its own.
"""
from __future__ import annotations

import argparse
import os
import random
import re
import secrets
import statistics
import sys
import tempfile
import time
import types
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from flask_admin.contrib.sqla import ModelView  # noqa: E402
from flask_login import login_user  # noqa: E402
from sqlalchemy import func, insert, select, text  # noqa: E402

TARGET_MS = 150.0
PASSWORD = "bench-2021-pass"
_CSRF_RE = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


def build(url: str, organizations: int):
    os.environ.setdefault("BACKOFFICE_INSTANCE", tempfile.mkdtemp(prefix="bench-instance-"))
    from backoffice import create_app
    from backoffice.extensions import db

    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "bench", "TESTING": True,
                      "LOGIN_LIMIT_PER_IP": "100000 per minute", "LOGIN_LIMIT_PER_USERNAME": "100000 per minute",
                      "RATELIMIT_STORAGE_URI": "memory://", "WTF_CSRF_ENABLED": True})
    with app.app_context():
        db.drop_all()
        db.create_all()
        from backoffice.demo.seed import seed_demo
        seed_demo(organizations=40, residents=50, password=PASSWORD)
        started = time.perf_counter()
        added = _insert_organizations(organizations - 40)
        if db.engine.dialect.name == "postgresql":
            with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.execute(text("ANALYZE"))
        else:
            db.session.execute(text("ANALYZE"))
            db.session.commit()
        total = db.session.scalar(select(func.count()).select_from(db.metadata.tables["organizations"]))
        print(f"data: {total} organizations ({added} inserted set-based in {time.perf_counter() - started:.1f} s) "
              f"on {db.engine.dialect.name}")
    return app


def _insert_organizations(count: int) -> int:
    """Set-based insert, spread over the 22 districts in proportion to their wards, and over the sectors."""
    from backoffice.demo import generate as gen
    from backoffice.demo.seed import SECTOR_WEIGHTS
    from backoffice.extensions import db
    from backoffice.models import Organization, Ward
    from backoffice.models.base import utcnow

    rng = random.Random(2021)
    wards = db.session.execute(select(Ward.code, Ward.district_code)).all()
    sectors, weights = zip(*SECTOR_WEIGHTS.items())
    statuses, status_weights = ("active", "pending", "suspended", "rejected"), (90, 5, 4, 1)
    taken = set(db.session.scalars(select(Organization.tax_code)))
    now = utcnow()
    batch: list[dict] = []
    inserted = 0
    while inserted + len(batch) < count:
        code = gen.tax_code(rng)
        if code in taken:
            continue
        taken.add(code)
        ward, district = rng.choice(wards)
        sector = rng.choices(sectors, weights)[0]
        batch.append({"name": gen.org_name(rng, sector), "tax_code": code, "sector": sector,
                      "address": gen.address(rng), "ward_code": ward, "district_code": district,
                      "contact_name": gen.person_name(rng), "phone": gen.mobile(rng),
                      "email": f"lienhe.{code}@example.vn", "workers_on_site": rng.choice([8, 25, 60, 150, 420]),
                      "status": rng.choices(statuses, status_weights)[0], "qr_token": secrets.token_urlsafe(16),
                      "created_at": now, "updated_at": now})
        if len(batch) == 10_000:
            db.session.execute(insert(Organization), batch)
            inserted += len(batch)
            batch = []
    if batch:
        db.session.execute(insert(Organization), batch)
        inserted += len(batch)
    db.session.commit()
    return inserted


def login(app, username: str):
    client = app.test_client()
    token = _CSRF_RE.search(client.get("/login").get_data(as_text=True)).group(1)
    response = client.post("/login", data={"username": username, "password": PASSWORD, "csrf_token": token})
    assert response.status_code == 302, f"login {username}: {response.status_code}"
    return client


def median_ms(fn, runs: int) -> float:
    fn()  # warm-up: template compilation, statement caches
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def page_ms(client, url: str, runs: int) -> float:
    def get():
        response = client.get(url)
        assert response.status_code == 200, (url, response.status_code)
        response.get_data()
    return median_ms(get, runs)


def query_ms(app, username: str, query_string: str, runs: int, scoped: bool) -> tuple[float, int]:
    """The view's own list queries (count + first page) for this user and URL, with or without scope."""
    from backoffice.admin import admin_for
    from backoffice.extensions import db
    from backoffice.models import User

    view = next(v for v in admin_for(app)._views if v.endpoint == "organization")
    result = {}
    with app.test_request_context(f"/admin/organization/?{query_string}"):
        user = db.session.scalar(select(User).where(User.username == username))
        user.session_secret = "bench"
        login_user(user)
        if not scoped:  # Flask-Admin's unscoped queries, on this instance only, for this measurement
            view.get_query = types.MethodType(ModelView.get_query, view)
            view.get_count_query = types.MethodType(ModelView.get_count_query, view)
        try:
            args = view._get_list_extra_args()
            sort = view._get_column_by_idx(args.sort)

            def run():
                count, rows = view.get_list(args.page, sort[0] if sort else None, args.sort_desc, args.search,
                                            args.filters, page_size=view.page_size)
                result["count"] = count
                list(rows)
                db.session.expire_all()
            ms = median_ms(run, runs)
        finally:
            view.__dict__.pop("get_query", None)
            view.__dict__.pop("get_count_query", None)
    return ms, result["count"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL"))
    parser.add_argument("--organizations", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=15)
    options = parser.parse_args()
    url = options.database_url or f"sqlite:///{tempfile.mkdtemp(prefix='bench-')}/bench.sqlite3"
    app = build(url, options.organizations)
    # The filtered search: Quận 1, and a word that is in many names (ILIKE '%…%' on name and tax code).
    filtered = "flt0_0=760&search=Phương"
    worst = 0.0
    print(f"{'case':<44}{'page ms':>9}{'scoped q':>10}{'unscoped q':>11}{'page/unsc':>10}{'scope x':>8}"
          f"{'rows':>8}")
    for username in ("admin", "inspector.q1"):
        client = login(app, username)
        for label, query_string in (("first page", ""), ("district filter + search", filtered)):
            page = page_ms(client, f"/admin/organization/?{query_string}", options.runs)
            scoped, count = query_ms(app, username, query_string, options.runs, scoped=True)
            unscoped, _ = query_ms(app, username, query_string, options.runs, scoped=False)
            worst = max(worst, page)
            print(f"{username + ' — ' + label:<44}{page:>9.1f}{scoped:>10.1f}{unscoped:>11.1f}"
                  f"{page / unscoped:>10.2f}{scoped / unscoped:>8.2f}{count:>8}")
    verdict = "OK" if worst < TARGET_MS else "MISSED"
    print(f"worst page median {worst:.1f} ms — target {TARGET_MS:.0f} ms: {verdict}")
    return 0 if worst < TARGET_MS else 1


if __name__ == "__main__":
    sys.exit(main())
