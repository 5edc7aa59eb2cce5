"""Racing threads for the tests of row locks and revisions: each runs `func(i)` at the same moment
on its own database connection."""
import threading

from django.db import connection


def race(n, func, *, connections: int | None = None):
    """[("ok", result) or ("error", exception)] of n threads released together by a barrier.

    `connections` caps how many of them hold a database connection at once (PostgreSQL here allows
    100 for everyone on the machine): the others wait their turn, already released, as requests
    queue for a web server's workers."""
    barrier = threading.Barrier(n)
    gate = threading.BoundedSemaphore(connections or n)
    outcomes = []

    def run(i):
        try:
            barrier.wait()
            with gate:
                try:
                    outcomes.append(("ok", func(i)))
                finally:
                    connection.close()
        except Exception as exc:
            outcomes.append(("error", exc))
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return outcomes
