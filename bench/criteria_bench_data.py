"""Shared by the criteria benchmarks: stored assessments, set-based, with real results from the real sets.

Answers are drawn at random per assessment (so values vary as they would), scored by the real engine and
inserted with Core inserts in batches of 10,000.
"""
from __future__ import annotations

import random
import time
from datetime import timedelta

from sqlalchemy import func, insert, select

SETS = ("hcm-food-service", "hcm-1203-risk", "hcm-school", "hcm-enterprise")


def random_answers(compiled, rng: random.Random) -> dict:
    answers = {}
    for item in compiled.asked():
        if item.answer == "yes_no":
            answers[item.id] = rng.choice(("yes", "no"))
        elif item.answer == "choice":
            answers[item.id] = rng.choice([o.id for o in item.options])
        else:
            value = rng.uniform(item.min, min(item.max, item.min + 200))
            answers[item.id] = int(value) if item.integer else round(value, 1)
    return answers


def random_facts(compiled, rng: random.Random) -> dict:
    pool = {"staff_green_share": lambda: rng.choice([None, round(rng.random(), 2), 1.0]),
            "active_checkpoints": lambda: float(rng.randint(0, 4)),
            "checkins_last_7_days": lambda: float(rng.randint(0, 500)),
            "workers_on_site": lambda: rng.choice([None, 8.0, 60.0, 150.0, 700.0, 1200.0, 6000.0])}
    facts = {}
    for name in sorted(compiled.fact_names):
        value = pool[name]()
        facts[name] = {"value": value, "reason": None if value is not None else "no_staff", "count": None}
    return facts


def insert_assessments(count: int, seed: int = 2021) -> tuple[int, float]:
    """`count` submitted assessments (self-assessments, a tenth inspections) over the organizations."""
    from backoffice.criteria import service
    from backoffice.criteria.registry import registry
    from backoffice.extensions import db
    from backoffice.models import Assessment, Organization
    from backoffice.models.base import utcnow
    from backoffice.timeutil import local_today

    rng = random.Random(seed)
    versions = {}
    for set_id in SETS:
        loaded = registry().current(set_id, local_today())
        versions[set_id] = (service.freeze(loaded), loaded.compiled)
    db.session.commit()
    orgs = db.session.execute(select(Organization.id, Organization.district_code).order_by(Organization.id)).all()
    now = utcnow()
    started = time.perf_counter()
    batch, inserted = [], 0
    for i in range(count):
        org_id, district = orgs[i % len(orgs)]
        set_id = SETS[i % len(SETS)]
        version, compiled = versions[set_id]
        answers, facts = random_answers(compiled, rng), random_facts(compiled, rng)
        result = compiled.score(answers, facts)
        at = now - timedelta(days=rng.randint(0, 90), minutes=rng.randint(0, 1440))
        batch.append({"organization_id": org_id, "district_code": district,
                      "kind": "inspection" if i % 10 == 9 else "self", "state": "submitted",
                      "set_version_id": version.id, "ruleset_id": set_id, "ruleset_version": version.version,
                      "answers": answers, "facts": facts, "result": result,
                      "score": result["aggregates"]["score"], "percent": result["aggregates"]["percent"],
                      "level": result["level"], "submitted_at": at, "created_at": at, "updated_at": at, "note": ""})
        if len(batch) == 10_000:
            db.session.execute(insert(Assessment), batch)
            inserted += len(batch)
            batch = []
    if batch:
        db.session.execute(insert(Assessment), batch)
        inserted += len(batch)
    db.session.commit()
    return inserted, time.perf_counter() - started


def assessment_count() -> int:
    from backoffice.extensions import db
    from backoffice.models import Assessment
    return db.session.scalar(select(func.count(Assessment.id))) or 0
