"""Concurrent requests share forward passes: photos that arrive while the model is busy wait for
the next pass together, so 16 clients cost a few large passes, not 16 small ones.

One thread runs the model. A caller submits its prepared inputs and gets a Future; the thread
takes everything queued (up to `max_batch` rows), runs one pass and hands each caller its rows.
It never waits for more work when there is none: a lone request goes through at once.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass

import numpy as np

Outputs = tuple[np.ndarray, ...]  # one array per model output, rows matching the inputs
Forward = Callable[[np.ndarray], Outputs]


@dataclass
class _Job:
    inputs: np.ndarray
    future: Future[Outputs]


class Batcher:
    def __init__(self, forward: Forward, max_batch: int = 64) -> None:
        self._forward = forward
        self._max_batch = max_batch
        self._jobs: queue.Queue[_Job | None] = queue.Queue()
        self._closed = False
        self._closing = threading.Lock()  # a job is queued before the stop, or runs inline
        self._thread = threading.Thread(target=self._serve, name="batcher", daemon=True)
        self._thread.start()

    def submit(self, inputs: np.ndarray) -> Future[Outputs]:
        """The model's outputs for `inputs` (n rows), once a pass has run them. After close()
        the pass runs in the caller's thread: a request that took this model before it was
        replaced is still answered by it."""
        future: Future[Outputs] = Future()
        job = _Job(inputs, future)
        with self._closing:
            if not self._closed:
                self._jobs.put(job)
                return future
        self._run([job])
        return future

    def close(self) -> None:
        """Answer what is queued, then stop the thread."""
        with self._closing:
            self._closed = True
            self._jobs.put(None)
        self._thread.join()

    def _serve(self) -> None:
        while True:
            first = self._jobs.get()
            if first is None:
                return
            jobs, closing = self._gather(first)
            self._run(jobs)
            if closing:
                return

    def _gather(self, first: _Job) -> tuple[list[_Job], bool]:
        """`first` and whatever else is queued now, up to max_batch rows."""
        jobs, rows = [first], len(first.inputs)
        while rows < self._max_batch:
            try:
                job = self._jobs.get_nowait()
            except queue.Empty:
                break
            if job is None:
                return jobs, True
            jobs.append(job)
            rows += len(job.inputs)
        return jobs, False

    def _run(self, jobs: list[_Job]) -> None:
        live = [job for job in jobs if job.future.set_running_or_notify_cancel()]
        if not live:
            return
        try:
            outputs = self._forward(np.concatenate([job.inputs for job in live]))
        except Exception as err:  # every caller of this pass gets the error, the thread goes on
            for job in live:
                job.future.set_exception(err)
            return
        start = 0
        for job in live:
            end = start + len(job.inputs)
            job.future.set_result(tuple(output[start:end] for output in outputs))
            start = end
