"""SIGINT and SIGTERM end a worker cleanly: `Interrupted` is raised inside the running trial
(Optuna marks it FAIL, its run is closed), and the command exits 130 or 143.

It is raised only where it can be recorded: inside the objective (`interruptible`). A signal
that lands in Optuna's bookkeeping (creating or telling a trial, the claim) waits for the
next safe point: the objective's start, or the trial loop's `raise_if_interrupted`.
Otherwise a trial could end FAIL with no reason and no closed run.
"""

from __future__ import annotations

import logging
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType


class Interrupted(KeyboardInterrupt):
    """SIGINT or SIGTERM arrived: stop this worker once the running trial is closed."""

    def __init__(self, signum: int):
        self.signum = signum
        self.exit_code = 128 + signum
        super().__init__(f"interrupted by {signal.Signals(signum).name}")


class _DropInterrupted(logging.Filter):
    """Optuna logs a failed trial with its traceback; an interrupted one needs none."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.exc_info and isinstance(record.exc_info[1], Interrupted))


logging.getLogger("optuna.study._optimize").addFilter(_DropInterrupted())


class _Signals:
    """The signal received and whether its Interrupted has reached our code."""

    pending: int | None = None
    delivered: bool = False
    armed: bool = False  # inside the objective: raising now is recorded on the trial


def _resend() -> None:
    # Python swallows an exception raised in a finalizer (e.g. a handler that ran during
    # garbage collection): send the signal again until an Interrupted has landed.
    if _Signals.pending is not None and not _Signals.delivered:
        main = threading.main_thread().ident
        if main is not None:
            signal.pthread_kill(main, _Signals.pending)


def delivered() -> None:
    """An Interrupted was caught: stop re-sending the signal."""
    _Signals.delivered = True


@contextmanager
def stop_on_signals() -> Iterator[None]:
    """SIGINT and SIGTERM raise Interrupted in the main thread (again, until one lands)."""
    previous = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}

    def handler(signum: int, frame: FrameType | None) -> None:
        if _Signals.pending is None:
            _Signals.pending = signum
        if not _Signals.armed:
            return  # in Optuna's bookkeeping: raised at the next safe point
        timer = threading.Timer(1.0, _resend)
        timer.daemon = True
        timer.start()
        raise Interrupted(_Signals.pending)

    def unraisable(info: sys.UnraisableHookArgs) -> None:
        if not isinstance(info.exc_value, Interrupted):  # ours is re-sent: no traceback
            sys.__unraisablehook__(info)

    _Signals.pending, _Signals.delivered, _Signals.armed = None, False, False
    hook, sys.unraisablehook = sys.unraisablehook, unraisable
    for s in previous:
        signal.signal(s, handler)
    try:
        yield
    except KeyboardInterrupt:
        delivered()
        raise
    finally:
        _Signals.armed = False
        for s, h in previous.items():
            signal.signal(s, h)
        sys.unraisablehook = hook


@contextmanager
def interruptible() -> Iterator[None]:
    """The objective's span: a signal raises Interrupted at once, one that came before it
    (in Optuna's bookkeeping) raises on entry."""
    _Signals.armed = True
    try:
        raise_if_interrupted()
        yield
    except Exception:
        # Raised from inside C code, an Interrupted may come out as another error: CI saw
        # `SystemError: ... bad argument to internal function` from a library that dropped
        # it. With a signal pending, that error is the interruption.
        raise_if_interrupted()
        raise
    finally:
        _Signals.armed = False


def raise_if_interrupted() -> None:
    """A safe point of the trial loop: raise the Interrupted of a signal that was held back."""
    if _Signals.pending is not None and not _Signals.delivered:
        raise Interrupted(_Signals.pending)
