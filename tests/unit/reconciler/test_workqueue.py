"""The work queue: dedupe, one worker per key, delayed and retried adds."""

from __future__ import annotations

from cluster.reconciler.workqueue import WorkQueue


def test_dedupes_and_requeues_keys_added_while_processing():
    q = WorkQueue()
    q.add("a")
    q.add("a")
    q.add("b")
    assert q.get(0) == "a"
    q.add("a")                  # while "a" is processed: held back, not given to a second worker
    assert q.get(0) == "b"
    assert q.get(0) is None
    q.done("a")
    assert q.get(0) == "a"


def test_add_after_and_retry_backoff():
    q = WorkQueue(base_delay=0.01, max_delay=0.04)
    assert [q.retry("k") for _ in range(4)] == [0.01, 0.02, 0.04, 0.04]
    assert q.get(1.0) == "k"
    q.forget("k")
    assert q.retry("k") == 0.01
