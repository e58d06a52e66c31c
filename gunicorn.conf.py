"""gunicorn settings for production (see README, Deployment). Every value can be overridden by the
environment variable named beside it, so several hosts run the same file."""
import multiprocessing
import os

bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("GUNICORN_WORKERS", multiprocessing.cpu_count() * 2 + 1))
# Two threads a worker: one runs while the other waits on the database. More only add contention for the GIL
# (measured with bench/bench_qr_scans.py on 2 cores, 2 workers: 4 threads 10% fewer scans/s than 2 on SQLite).
threads = int(os.environ.get("GUNICORN_THREADS", 2))
worker_class = "gthread"
timeout = int(os.environ.get("GUNICORN_TIMEOUT", 60))
graceful_timeout = 30
keepalive = 5
# Recycle workers now and then so a slow leak can never take a host down.
max_requests = int(os.environ.get("GUNICORN_MAX_REQUESTS", 5000))
max_requests_jitter = 500
# Load the app in the master: workers fork with config and rule files already validated.
preload_app = os.environ.get("GUNICORN_PRELOAD", "1") == "1"
accesslog = os.environ.get("GUNICORN_ACCESSLOG", "-")
errorlog = os.environ.get("GUNICORN_ERRORLOG", "-")
# The client as the proxy saw it, which worker (pid) answered, and how long it took (ms): enough to follow a
# request across workers and hosts.
# The request id the app sent back (backoffice/observability/request_ids.py) ties the line to the app's own logs.
access_log_format = ('%({x-forwarded-for}i)s %(h)s %(t)s "%(r)s" %(s)s %(b)s %(M)sms %(p)s '
                     '"%(f)s" "%(a)s" %({x-request-id}o)s')
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
# gunicorn >= 25 opens a control socket at one fixed path per user ($HOME/.gunicorn/gunicorn.ctl): a second
# instance on the host (another port, a test, a blue/green switch) would take it over. Off unless a path is given.
if os.environ.get("GUNICORN_CONTROL_SOCKET"):
    control_socket = os.environ["GUNICORN_CONTROL_SOCKET"]
else:
    control_socket_disable = True
# The workers' heartbeat files in memory: on a disk-backed /tmp the fchmod can stall a worker (gunicorn FAQ).
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None

# Connections the master opened while loading the app are never used by the workers: backoffice.database drops
# any pooled connection opened in another process.


# The garbage collector: the loaded application is hundreds of thousands of long-lived objects (models, views,
# catalogs, rule sets), and every full collection in a worker walked all of them again; measured under scan load,
# the collector took a fifth of the workers' CPU. Frozen in the master just before each fork (Python's gc.freeze
# recipe), they are never scanned again, and the workers share their memory pages instead of copying them.
def pre_fork(server, worker):
    import gc
    gc.freeze()


# Prometheus multiprocess mode (backoffice/observability/metrics.py): each worker writes its counts to files in
# PROMETHEUS_MULTIPROC_DIR and /metrics sums them. Files of an earlier run would be counted again, so the folder is
# emptied as this file is read, before the app is loaded; a worker that exits is marked dead so its live gauges
# stop counting.
_metrics_folder = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
if _metrics_folder:
    import glob
    os.makedirs(_metrics_folder, exist_ok=True)
    for _stale in glob.glob(os.path.join(_metrics_folder, "*.db")):
        os.remove(_stale)


def child_exit(server, worker):
    if _metrics_folder:
        from prometheus_client import multiprocess
        multiprocess.mark_process_dead(worker.pid)
