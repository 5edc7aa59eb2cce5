"""Racing threads for the tests of row locks and revisions: each runs `func(i)` at the same moment
on its own database connection."""
import threading

from django.db import connection


def race(n, func):
    """[("ok", result) or ("error", exception)] of n threads released together by a barrier."""
    barrier = threading.Barrier(n)
    outcomes = []

    def run(i):
        try:
            barrier.wait()
            outcomes.append(("ok", func(i)))
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
