"""Child processes of the benchmark (each in its own process group, so it and anything it
starts can be ended together) and what /proc says about a process: CPU time and memory."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (all its threads), from /proc/<pid>/stat."""
    with open(f"/proc/{pid}/stat") as stat:
        # The command name (field 2) may contain spaces; the fields after it are fixed.
        fields = stat.read().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime, stime


def postgres_cpu(database: str) -> float:
    """User + system CPU time of the PostgreSQL backends serving `database` now, found by
    their process title ("postgres: ... <user> <database> <client> ...")."""
    total = 0.0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as cmdline:
                title = cmdline.read().split(b"\0")[0].decode(errors="replace")
            if title.startswith("postgres:") and f" {database} " in f"{title} ":
                total += cpu_seconds(int(entry))
        except OSError:  # ended meanwhile, or not ours to read
            continue
    return total


def machine_cpu() -> tuple[float, float, float]:
    """(busy, total, interrupts) CPU seconds of the whole machine so far, all cores, from
    /proc/stat. `interrupts` (irq + softirq) is kernel work charged to no process, e.g. the
    loopback network processing of our own traffic; it is part of `busy`."""
    with open("/proc/stat") as stat:
        fields = [int(value) for value in stat.readline().split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    total = sum(fields[:8])  # without guest time, which is already in user
    return (total - idle) / CLOCK_TICKS, total / CLOCK_TICKS, (fields[5] + fields[6]) / CLOCK_TICKS


def wait_quiet(max_wait: float = 60.0, busy_cores: float = 0.25, window: float = 2.0) -> float:
    """Waits (at most max_wait s) until the machine has been nearly idle for `window` s: our
    own servers are idle between phases, so what is busy then is other work, which would
    distort every figure. Returns the busy cores of the last window."""
    deadline = time.monotonic() + max_wait
    while True:
        before = machine_cpu()[0]
        time.sleep(window)
        busy = (machine_cpu()[0] - before) / window
        if busy <= busy_cores or time.monotonic() > deadline:
            return busy


def memory_mb(pid: int) -> dict[str, float]:
    """Current (VmRSS) and peak (VmHWM) resident memory, in MB."""
    values = {}
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                values[key] = int(rest.split()[0]) / 1024  # kB -> MB
    return {"rss_mb": values.get("VmRSS", 0.0), "peak_mb": values.get("VmHWM", 0.0)}


class Children:
    """Starts processes in their own sessions and ends every one of them in stop_all()."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.procs: list[subprocess.Popen] = []

    def start(self, name: str, argv: list[str], env: dict, cwd: Path) -> subprocess.Popen:
        log = open(self.log_dir / f"{name}.log", "wb")
        proc = subprocess.Popen(  # noqa: S603 (our own interpreter and scripts)
            argv, env=env, cwd=cwd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        proc.bench_name = name
        proc.bench_log = log
        self.procs.append(proc)
        return proc

    def run(self, name: str, argv: list[str], env: dict, cwd: Path, timeout: float) -> str:
        """Runs a child to its end (bounded); returns its stdout. Raises if it fails."""
        log_path = self.log_dir / f"{name}.log"
        with open(log_path, "wb") as log:
            proc = subprocess.Popen(  # noqa: S603 (our own interpreter and scripts)
                argv, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=log, start_new_session=True
            )
            self.procs.append(proc)
            try:
                out, _ = proc.communicate(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.stop(proc)
                raise RuntimeError(f"{name} took longer than {timeout:.0f} s") from None
            finally:
                if proc.poll() is not None:  # ended: nothing left to stop at the end
                    self.procs.remove(proc)
        if proc.returncode != 0:
            tail = log_path.read_text(errors="replace")[-3000:]
            raise RuntimeError(f"{name} exited with {proc.returncode}:\n{tail}")
        return out.decode()

    def stop(self, proc: subprocess.Popen, grace: float = 5.0) -> None:
        if proc.poll() is None:
            _signal_group(proc.pid, signal.SIGTERM)
            try:
                proc.wait(grace)
            except subprocess.TimeoutExpired:
                _signal_group(proc.pid, signal.SIGKILL)
                proc.wait(grace)
        # The group may still hold children of the leader (none expected): end them too.
        _signal_group(proc.pid, signal.SIGKILL)
        log = getattr(proc, "bench_log", None)
        if log is not None:
            log.close()

    def end(self, proc: subprocess.Popen, grace: float = 5.0) -> None:
        """Stops one child now (SIGTERM, then SIGKILL after `grace` s) and forgets it."""
        self.stop(proc, grace)
        self.procs.remove(proc)

    def stop_all(self) -> None:
        for proc in reversed(self.procs):
            try:
                self.stop(proc)
            except Exception as error:
                print(f"warning: could not stop pid {proc.pid}: {error}", file=sys.stderr)
        self.procs.clear()


def _signal_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def wait_http(url: str, proc: subprocess.Popen, timeout: float = 30.0) -> None:
    """Waits until `url` answers 200 (the process must stay alive meanwhile)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.bench_name} exited with {proc.returncode} while starting")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 (loopback)
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{proc.bench_name} did not answer {url} within {timeout:.0f} s")


def start_redis(children: Children, port: int, workdir: Path) -> subprocess.Popen:
    """A redis-server of the benchmark's own on `port` (loopback only, nothing saved to
    disk), so that its CPU time can be read from /proc and nothing else shares its data."""
    argv = [
        "redis-server",
        "--port",
        str(port),
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        "no",
        "--daemonize",
        "no",
        "--dir",
        str(workdir),
    ]
    proc = children.start("redis", argv, dict(os.environ), workdir)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"redis-server exited with {proc.returncode} while starting")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
                sock.sendall(b"PING\r\n")
                if sock.recv(64).startswith(b"+PONG"):
                    return proc
        except OSError:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"redis-server did not answer on port {port} within 10 s")


def get_json(url: str):
    with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 (loopback)
        return json.load(response)
