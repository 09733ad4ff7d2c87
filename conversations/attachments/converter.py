"""Where attached files are read and converted (intake.read_bytes): in a small pool of worker
processes at a lower CPU priority, not in the server's process. Decoding a 12-megapixel photo
takes about a third of a second of one core and reading a PDF is pure Python: in the server's
process both compete with the event loop for the interpreter, and on an equal footing for the
cores, with every other person's reply. At nice 10 the kernel serves the server's processes
first. ATTACHMENT_CONVERTER_PROCESSES=0 converts in the request's own thread instead.

A file gets ATTACHMENT_CONVERT_SECONDS in a worker: past that an alarm stops the reading (the
file is refused, the worker stays); a worker stuck in a library's C code, deaf to the alarm,
ends itself a few seconds later (time_limit), which breaks the pool like a crash (`convert`).

The pool starts on first use (never at import), its processes from a fork server (never a
fork of the threaded server). Nothing here imports Django's models at module level: a worker
imports this module before its initializer has set Django up."""

import multiprocessing
import os
import signal
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager

import django
from django.conf import settings
from django.utils import translation

# What the conversion reads of the settings, sent with each file so a worker converts by the
# settings of the process that asks (a test's override included).
SETTINGS = ("MAX_ATTACHMENT_MB", "ATTACHMENT_IMAGE_MAX_SIDE", "ATTACHMENT_TEXT_MAX_CHARS")
WORKER_NICENESS = 10
# How long past its time limit a worker deaf to the alarm has before it ends itself.
HARD_LIMIT_GRACE_SECONDS = 5

_lock = threading.Lock()
_pool: ProcessPoolExecutor | None = None


def convert(data: bytes, name: str):
    """intake.read_bytes(data, name) in a worker process: an Intake, or intake's Refused with
    its sentence in the asker's language."""
    from conversations.attachments import intake, refusals

    if settings.ATTACHMENT_CONVERTER_PROCESSES <= 0:
        return intake.read_bytes(data, name)
    values = {key: getattr(settings, key) for key in SETTINGS}
    seconds = settings.ATTACHMENT_CONVERT_SECONDS
    # A worker that dies (killed, out of memory, a file made to crash a reader) breaks its
    # pool: the file goes once more to a new pool, in case another file was the cause; if that
    # one breaks too, the file is refused. It is never read in the server's own process.
    # A file that broke it both times after its whole time (and grace) had passed was stuck
    # (time_limit ended the worker): too slow, not damaged. (A file queued behind a stuck one
    # breaks with it, and gets its second try.)
    slow = False
    for _attempt in range(2):
        pool = _executor()
        started = time.monotonic()
        try:
            job = pool.submit(_convert, data, name, translation.get_language(), values, seconds)
            return job.result()
        except BrokenProcessPool:
            _forget(pool)
            slow = seconds > 0 and time.monotonic() - started >= seconds + HARD_LIMIT_GRACE_SECONDS
    raise refusals.too_slow(name, seconds) if slow else refusals.broken_document(name)


def _executor() -> ProcessPoolExecutor:
    global _pool
    with _lock:
        if _pool is None:
            _pool = ProcessPoolExecutor(
                max_workers=settings.ATTACHMENT_CONVERTER_PROCESSES,
                mp_context=multiprocessing.get_context("forkserver"),
                initializer=_start_worker,
            )
        return _pool


def _forget(pool: ProcessPoolExecutor | None = None) -> None:
    """Drops the pool (`pool`: only if it is still the current one, so a thread that saw an
    old pool break never ends the new one another thread made)."""
    global _pool
    with _lock:
        if pool is not None and _pool is not pool:
            return
        pool, _pool = _pool, None
    if pool is not None:
        pool.shutdown(wait=False, cancel_futures=True)


def worker_pids() -> list[int]:
    """The process ids of the pool's workers now (none before the first conversion)."""
    with _lock:
        pool = _pool
    if pool is None:
        return []
    return [process.pid for process in multiprocessing.active_children() if process.pid]


def shutdown() -> None:
    """Ends the workers (the server's shutdown; they also end with the process)."""
    _forget()


def _start_worker() -> None:
    os.nice(WORKER_NICENESS)
    django.setup(set_prefix=False)


def _convert(data: bytes, name: str, language: str | None, values: dict, seconds: float):
    from django.test.utils import override_settings

    from conversations.attachments import intake, refusals

    with translation.override(language), override_settings(**values):
        try:
            with time_limit(seconds):
                return intake.read_bytes(data, name)
        except OutOfTime:
            raise refusals.too_slow(name, seconds) from None


class OutOfTime(BaseException):
    """Raised by the alarm: a BaseException, so a library's `except Exception` does not take
    it for one of its own errors and go on reading."""


@contextmanager
def time_limit(seconds: float):
    """In a worker's main thread: OutOfTime once `seconds` have passed (again every second, in
    case something swallowed it), and the process killed `HARD_LIMIT_GRACE_SECONDS` later if
    it is stuck where no signal handler runs. No limit when `seconds` is 0 or less."""
    if seconds <= 0:
        yield
        return

    armed = [True]

    def alarm(_signum, _frame):
        if armed[0]:
            raise OutOfTime

    finished = threading.Event()

    def watch():
        if not finished.wait(seconds + HARD_LIMIT_GRACE_SECONDS):
            os.kill(os.getpid(), signal.SIGKILL)

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds, 1)
    threading.Thread(target=watch, daemon=True).start()
    try:
        yield
    finally:
        # First, so that an alarm from here on (an unwinding longer than a second) raises
        # nothing; then the timer is stopped and the handler given back.
        armed[0] = False
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        finished.set()
