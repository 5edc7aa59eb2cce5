"""gunicorn settings for production mode, from the environment (see README, "Production mode").

Sync workers: a request is short (a step is a few milliseconds of database work), and a sync worker
holds one database connection. Scale with more workers or more machines, not threads."""
import os

bind = os.environ.get("CASEFLOW_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("WEB_CONCURRENCY", "3"))
timeout = int(os.environ.get("CASEFLOW_WEB_TIMEOUT", "60"))  # the largest upload, on a slow line
graceful_timeout = 30
max_requests = 2000  # recycle a worker now and then (memory of the workflow cache)
max_requests_jitter = 200
accesslog = "-"
errorlog = "-"
forwarded_allow_ips = os.environ.get("CASEFLOW_FORWARDED_ALLOW_IPS", "127.0.0.1")


def child_exit(server, worker):
    """With several processes writing metrics to one directory (PROMETHEUS_MULTIPROC_DIR), a dead
    worker's gauges must be dropped from what /metrics adds up."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
