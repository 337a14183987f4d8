"""One worker thread owns the model; concurrent callers are merged into one batch.

``submit`` queues a list of requests and returns a :class:`concurrent.futures.Future`. The
worker takes the first job, waits a short window (``wait_s``) for more, and runs all of them
as one batch, so an agent fan-out of ``acheck`` calls, a LlamaIndex postprocessor and a
thread pool all become one padded forward pass. Jobs that arrive while a batch runs are
merged into the next one. The full window is waited only while callers come in company
(the last batch merged jobs, or more arrived while it ran); a lone caller checking one
item after another waits ``lone_wait_s`` (0.2 ms), not the window, on every check.
Identical requests (same key) in a batch are computed once. Callers in any thread or event
loop wait on the future; nothing here touches asyncio.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future

from guard_core.backends.base import Outcome
from guard_core.errors import BackendError, BackendUnavailable
from guard_core.models import GuardRequest

__all__ = ["MicroBatcher"]

Runner = Callable[[Sequence[GuardRequest]], list[Outcome]]
_Job = tuple[list[GuardRequest], "Future[list[Outcome]]"]


class MicroBatcher:
    """Merges concurrent submissions into batches run by one worker thread."""

    def __init__(
        self,
        run: Runner,
        *,
        wait_s: float = 0.002,
        max_requests: int = 256,
        name: str = "guard-local",
        on_stop: Callable[[], None] | None = None,
        lone_wait_s: float = 0.0002,
    ) -> None:
        self._run = run
        self._on_stop = on_stop  # run once, by the worker as it ends (or by close)
        self.wait_s = wait_s
        self.lone_wait_s = min(lone_wait_s, wait_s)
        self.in_company = False  # whether the last batch saw more than one caller
        self.max_requests = max_requests
        self._name = name
        self._queue: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()  # None: stop
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._closed = False

    def submit(self, requests: Sequence[GuardRequest]) -> Future[list[Outcome]]:
        future: Future[list[Outcome]] = Future()
        with self._lock:
            if self._closed:
                future.set_result(
                    [BackendUnavailable("the LocalBackend is closed") for _ in requests]
                )
                return future
            if self._thread is None:
                self._thread = threading.Thread(target=self._work, name=self._name, daemon=True)
                self._thread.start()
            self._queue.put((list(requests), future))
        return future

    def close(self, timeout: float | None = 30.0) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            thread = self._thread
            self._queue.put(None)
        if thread is None:
            self._stopped()
        elif thread is not threading.current_thread():
            thread.join(timeout)

    # -- the worker ---------------------------------------------------------------------------

    def _work(self) -> None:
        try:
            self._loop()
        finally:
            # However the worker ends (close, or an error it re-raised), nobody may wait on it:
            # later submissions are answered as closed, queued ones are failed now.
            with self._lock:
                self._closed = True
            self._drain()
            self._stopped()

    def _stopped(self) -> None:
        # On the worker's own thread: a close() whose join timed out mid-batch cannot race
        # the model state that on_stop releases.
        if self._on_stop is not None:
            on_stop, self._on_stop = self._on_stop, None
            on_stop()

    def _loop(self) -> None:
        stopping = False
        while not stopping:
            first = self._queue.get()
            if first is None:
                break
            jobs = [first]
            count = len(first[0])
            deadline = time.monotonic() + (self.wait_s if self.in_company else self.lone_wait_s)
            while count < self.max_requests:
                try:
                    left = deadline - time.monotonic()
                    nxt = self._queue.get(timeout=left) if left > 0 else self._queue.get_nowait()
                except queue.Empty:
                    break
                if nxt is None:
                    stopping = True
                    break
                jobs.append(nxt)
                count += len(nxt[0])
            self._run_jobs(jobs)
            self.in_company = len(jobs) > 1 or not self._queue.empty()

    def _run_jobs(self, jobs: list[_Job]) -> None:
        live = [
            (requests, future) for requests, future in jobs if future.set_running_or_notify_cancel()
        ]  # a cancelled caller is skipped
        if not live:
            return
        unique: dict[str, GuardRequest] = {}
        for requests, _ in live:
            for request in requests:
                unique.setdefault(request.key, request)
        try:
            outcomes = self._run(list(unique.values()))
            if len(outcomes) != len(unique):
                raise RuntimeError(f"{len(outcomes)} outcomes for {len(unique)} requests")
            by_key = dict(zip(unique, outcomes, strict=True))
        except BaseException as exc:  # never leave a caller waiting forever
            error = BackendError(f"the local guard model failed: {exc!r}")
            by_key = dict.fromkeys(unique, error)
            if not isinstance(exc, Exception):
                for requests, future in live:
                    future.set_result([by_key[r.key] for r in requests])
                raise
        for requests, future in live:
            future.set_result([by_key[r.key] for r in requests])

    def _drain(self) -> None:
        while True:
            try:
                job = self._queue.get_nowait()
            except queue.Empty:
                return
            if job is not None:
                requests, future = job
                if future.set_running_or_notify_cancel():
                    future.set_result(
                        [BackendUnavailable("the LocalBackend is closed") for _ in requests]
                    )
