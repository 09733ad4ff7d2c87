"""Attached files are converted in worker processes (conversations/attachments/converter.py):
by the asking process's settings, with refusals in the asker's language and status, and a
worker that dies costs nothing but a new pool, and a file that takes too long is refused."""

import multiprocessing
import os
import signal
import time

import pytest
from django.utils import translation

from conversations.attachments import converter
from conversations.attachments.refusals import Refused
from tests import attachment_files


@pytest.fixture
def one_worker(settings):
    settings.ATTACHMENT_CONVERTER_PROCESSES = 1
    converter.shutdown()
    yield
    converter.shutdown()


def test_a_worker_converts_by_the_asking_process_settings(one_worker, settings):
    settings.ATTACHMENT_IMAGE_MAX_SIDE = 64
    intake = converter.convert(attachment_files.png(800, 600), "wide.png")
    assert (intake.width, intake.height) == (64, 48)


def test_a_refusal_comes_back_in_the_askers_language_with_its_status(one_worker):
    with translation.override("zh-hans"):
        with pytest.raises(Refused) as refused:
            converter.convert(b"\x89PNG\r\n\x1a\n" + b"broken" * 10, "broken.png")
    assert "broken.png" in str(refused.value)
    assert "图片" in str(refused.value)
    assert refused.value.status == 400


def test_conversion_runs_in_another_process_at_a_lower_priority(one_worker):
    converter.convert(attachment_files.png(10, 10), "tiny.png")
    workers = converter.worker_pids()
    assert workers and os.getpid() not in workers
    assert all(os.getpriority(os.PRIO_PROCESS, pid) >= converter.WORKER_NICENESS for pid in workers)


def test_a_dead_worker_costs_a_new_pool_not_the_file(one_worker):
    converter.convert(attachment_files.png(10, 10), "tiny.png")
    for pid in converter.worker_pids():
        os.kill(pid, 9)
    intake = converter.convert(attachment_files.png(20, 10), "after.png")
    assert (intake.width, intake.height) == (20, 10)
    converter.convert(attachment_files.png(10, 10), "again.png")
    assert converter.worker_pids()


def test_a_file_that_takes_too_long_is_refused_and_the_worker_stays(one_worker, settings):
    converter.convert(attachment_files.png(10, 10), "tiny.png")
    [worker] = converter.worker_pids()
    settings.ATTACHMENT_CONVERT_SECONDS = 0.02  # a 12-megapixel photo takes longer
    with pytest.raises(Refused) as refused:
        converter.convert(attachment_files.noisy_photo(), "holiday.jpg")
    assert "holiday.jpg" in str(refused.value) and "took too long" in str(refused.value)
    assert converter.worker_pids() == [worker]
    settings.ATTACHMENT_CONVERT_SECONDS = 60
    assert converter.convert(attachment_files.png(30, 10), "next.png").width == 30
    assert converter.worker_pids() == [worker]


def stuck_where_no_alarm_reaches(seconds):
    # As a library's C code that never returns to Python: the alarm stays pending.
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGALRM})
    with converter.time_limit(seconds):
        time.sleep(60)


def test_a_worker_deaf_to_the_alarm_ends_itself_after_the_grace():
    process = multiprocessing.get_context("spawn").Process(
        target=stuck_where_no_alarm_reaches, args=(0.1,)
    )
    started = time.monotonic()
    process.start()
    process.join(timeout=30)
    assert process.exitcode == -signal.SIGKILL
    assert time.monotonic() - started < 0.1 + converter.HARD_LIMIT_GRACE_SECONDS + 10
