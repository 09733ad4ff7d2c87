"""The machine's speed, for comparing runs made on different days: a fixed pure-Python workload
(string formatting, dict updates, calls; nothing of this project, so it never changes with the
code), timed a few times in this process, the fastest kept. These shared VMs have run the same
code 2.2 times slower from one day to the next; a figure divided by this one can be compared."""

import time

REPEATS = 5


def _workload() -> int:
    counts: dict[str, int] = {}
    total = 0
    for i in range(200_000):
        key = f"key-{i % 997}"
        counts[key] = counts.get(key, 0) + i
        total += len(key)
    return total + len(counts)


def reference_ms(repeats: int = REPEATS) -> float:
    """CPU milliseconds of the workload, the best of `repeats` (lower: a faster machine)."""
    best = float("inf")
    for _ in range(repeats):
        start = time.process_time()
        _workload()
        best = min(best, time.process_time() - start)
    return round(best * 1000, 1)
