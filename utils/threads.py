"""How many CPU threads a training loop should use, given what else the machine is doing.

PyTorch starts one thread per core and splits every operation between them; each operation ends
when its slowest thread ends. On an idle laptop that is fast. On a busy one (a browser, another
notebook, a video call) one of our threads often waits for a core, and the others wait for it, so
the whole step waits for the slowest core. Measured on a 2-core machine under load, training the
tiny models this way ran several times slower than with the one thread the other programs left free
(`python benchmarks/threads_under_load.py`).

ThreadGovernor watches how much CPU the *other* programs use (from /proc/stat, minus our own use)
and sets torch's thread count to the cores they leave free, re-checking every few seconds.
Where /proc/stat does not exist (macOS, Windows) it leaves the setting alone.
"""
import os
import time

import torch


def machine_busy_seconds():
    """CPU seconds all programs have used since boot, or None where /proc/stat is missing."""
    try:
        with open("/proc/stat") as f:
            fields = [int(x) for x in f.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + waiting for disk
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")  # user..steal; guest time is inside user


def cores():
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


class ThreadGovernor:
    """Within a with-block, torch uses as many threads as the cores other programs leave free.

    max_threads: the most to use (default: torch's setting on entry). every: seconds between checks.
    Call .tick() once per training step; it looks at the clock and re-decides at most every `every`
    seconds. The thread count is restored on exit.
    """

    def __init__(self, max_threads=None, every=5.0, adapt=True):
        self.max_threads = max_threads
        self.every = every
        self.adapt = adapt  # False: use exactly max_threads (None: as set), never re-decide

    def __enter__(self):
        self.old = torch.get_num_threads()
        self.max_threads = self.max_threads or self.old
        torch.set_num_threads(self.max_threads)
        self.history = [(0.0, self.max_threads)]  # (seconds since entry, threads) at every decision
        self.start = time.monotonic()
        self._mark()
        if self.adapt and machine_busy_seconds() is not None and self.max_threads > 1:
            time.sleep(0.25)  # a first look, while we use no CPU ourselves
            self.decide()
        return self

    def _mark(self):
        self.t, self.busy, self.own = time.monotonic(), machine_busy_seconds(), time.process_time()

    def free_cores(self):
        """Cores the other programs left free since the last look (None without /proc/stat)."""
        busy, now, own = machine_busy_seconds(), time.monotonic(), time.process_time()
        if busy is None or self.busy is None or now - self.t <= 0:
            return None
        others = max(0.0, (busy - self.busy) - (own - self.own)) / (now - self.t)
        return cores() - others

    def decide(self):
        free = self.free_cores()
        if free is not None:
            n = max(1, min(self.max_threads, int(free + 0.5)))
            if n != torch.get_num_threads():
                torch.set_num_threads(n)
            self.history.append((round(time.monotonic() - self.start, 1), n))
        self._mark()

    def tick(self):
        if self.adapt and time.monotonic() - self.t >= self.every:
            self.decide()

    def __exit__(self, *exc):
        torch.set_num_threads(self.old)


def training_threads(threads="auto"):
    """The with-block a training loop runs in: "auto" adapts to the load (ThreadGovernor), a number
    fixes the thread count, None leaves torch's setting alone. Call .tick() on it once per step."""
    if threads == "auto":
        return ThreadGovernor()
    if threads is not None and (not isinstance(threads, int) or threads < 1):
        raise ValueError(f"threads must be 'auto', a positive whole number or None, not {threads!r}.")
    return ThreadGovernor(threads, adapt=False)
