"""`flask jobs worker` (the queue's consumer and its scheduler), `flask jobs run-due`, `flask jobs runs`."""
from __future__ import annotations

import click
from flask import Flask, current_app
from flask.cli import AppGroup

jobs_cli = AppGroup("jobs", help="The task queue's worker and the periodic jobs.")


@jobs_cli.command("worker")
@click.option("--workers", default=2, show_default=True, help="Threads running tasks.")
@click.option("--no-periodic", is_flag=True, help="Run queued tasks only; another worker schedules.")
def worker(workers: int, no_periodic: bool) -> None:
    """Run the queue's consumer (and, unless --no-periodic, the scheduler of the periodic jobs)."""
    from huey.consumer import Scheduler

    from backoffice.jobs import tasks
    from backoffice.jobs.queue import huey
    tasks.use_app(current_app._get_current_object())
    # How often the scheduler looks for periodic tasks (Huey's default: each minute); tests shorten it.
    Scheduler.periodic_task_seconds = int(current_app.config.get("BACKOFFICE_SCHEDULER_SECONDS", 60) or 60)
    huey.create_consumer(workers=workers, worker_type="thread", periodic=not no_periodic,
                         check_worker_health=True).run()


@jobs_cli.command("run-due")
def run_due_command() -> None:
    """Run the periodic jobs whose period nobody has run yet (what each worker's scheduler does every minute)."""
    from backoffice.jobs.periodic import run_due
    for line in run_due() or ["nothing due"]:
        click.echo(line)


@jobs_cli.command("runs")
@click.option("--limit", default=20, show_default=True)
def runs_command(limit: int) -> None:
    """The latest runs of the periodic jobs."""
    from sqlalchemy import select

    from backoffice.extensions import db
    from backoffice.models import JobRun
    from backoffice.timeutil import format_local
    for run in db.session.scalars(select(JobRun).order_by(JobRun.started_at.desc()).limit(limit)):
        click.echo(f"{run.job}#{run.slot}\t{run.status}\t{format_local(run.started_at)}\t{run.host}\t{run.detail}")


def init_app(app: Flask) -> None:
    app.cli.add_command(jobs_cli)
