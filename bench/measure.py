"""What every benchmark measures the same way: the machine, peak memory, the load, time.

One module, so that the sections of bench/results/ mean the same thing by the same words.
Memory is in MiB everywhere here (2**20 bytes); a results table that has always shown GiB
divides by 1024 where it writes the figure, so its unit stays what its header says.
Linux reports ru_maxrss and /proc's VmHWM in KiB, which is what the conversions assume.
"""

from __future__ import annotations

import multiprocessing
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from queue import Empty

KIB_PER_MIB = 1024


def cpu_model() -> str:
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return "unknown CPU"


def memory_total() -> str:
    """', N GiB RAM' from /proc/meminfo (MemTotal, in KiB), or '' where there is none."""
    meminfo = Path("/proc/meminfo")
    if not meminfo.exists():
        return ""
    kib = int(meminfo.read_text().split()[1])
    return f", {kib / 2**20:.0f} GiB RAM"


def machine() -> str:
    """Cores, CPU, memory, system, Python and torch: what a timing depends on besides the code.
    Torch threads are the measuring process's own choice, so callers add them where they apply."""
    import torch  # lazily: a caller that only reads results need not load it

    return (f"{os.cpu_count()} cores ({cpu_model()}){memory_total()}; {platform.system()} "
            f"{platform.machine()}; Python {platform.python_version()}; torch {torch.__version__}")


def peak_mib() -> float:
    """This process's peak resident memory so far, MiB: its own high-water mark (VmHWM) where
    /proc has it. Not ru_maxrss there: a process started by fork and exec (a spawned child)
    keeps in it the high-water mark of the image it was forked from, its parent's."""
    own = high_water_mib()
    return own if own is not None else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / KIB_PER_MIB


def high_water_mib() -> float | None:
    """This process's resident high-water mark (VmHWM, which `reset_high_water` restarts), MiB;
    None where /proc has no such field."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / KIB_PER_MIB
    except OSError:
        pass
    return None


def reset_high_water() -> bool:
    """Start a new high-water mark (`peak_mib` then counts from here: read it first). False where
    the kernel does not allow it (Linux < 4.0, or no /proc)."""
    try:
        Path("/proc/self/clear_refs").write_text("5")  # 5: reset the peak RSS
        return True
    except OSError:
        return False


# Linux's ru_maxrss of a child counts the memory of the image it was forked from: at exec the old
# image's high-water mark is kept. A child forked straight from a benchmark that holds torch and
# data would report at least that. So a small interpreter (python -S: a few MiB) forks the
# command, waits for it and writes its peak (KiB) to the file named by its first argument.
LAUNCHER = """import os, sys
pid = os.fork()
if pid == 0:
    os.execvp(sys.argv[2], sys.argv[2:])
_, status, usage = os.wait4(pid, 0)
with open(sys.argv[1], "w") as peak:
    peak.write(str(usage.ru_maxrss))
sys.exit(os.waitstatus_to_exitcode(status))
"""


def run_process(command: list[str], cwd: Path) -> tuple[int, float, float]:
    """(exit code, wall seconds, peak resident MiB) of `command` run to its end; the peak is the
    command's own, through LAUNCHER, not that of the process that started it."""
    with tempfile.TemporaryDirectory() as folder:
        peak_file = Path(folder) / "peak"
        started = time.perf_counter()
        code = subprocess.call([sys.executable, "-S", "-c", LAUNCHER, str(peak_file), *command], cwd=cwd)
        wall = time.perf_counter() - started
        peak = int(peak_file.read_text()) / KIB_PER_MIB if peak_file.is_file() else float("nan")
    return code, wall, peak


def in_child(function, *args):
    """What `function(*args, queue)` puts on its queue, run in a fresh (spawned) process: a new
    process starts its own peak memory, so a peak it reports is its stage's alone. SystemExit
    if the child dies before answering (killed for memory, say) rather than waiting forever."""
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    process = context.Process(target=function, args=(*args, queue))
    process.start()
    while True:
        try:
            result = queue.get(timeout=5)
            break
        except Empty:
            if not process.is_alive():
                shown = ", ".join(map(str, args))
                raise SystemExit(f"bench: {function.__name__}({shown}) died in its own process "
                                 f"(exit code {process.exitcode})") from None
    process.join()
    return result


def load_averages() -> tuple[float, float, float]:
    """The 1, 5 and 15 minute load averages: on a shared machine, how many others wanted the cores."""
    return os.getloadavg()


def load_average() -> float:
    """The 1 minute load average, the one a section reports unless it says otherwise."""
    return load_averages()[0]


def cpu_seconds() -> float:
    """User + system CPU seconds of this process, all its threads: on a shared machine steadier
    than wall time, which also counts the waits for a core."""
    return time.process_time()


def timed(action, *args, **kwargs) -> tuple[float, object]:
    """(wall seconds, result) of one call of `action`."""
    started = time.perf_counter()
    result = action(*args, **kwargs)
    return time.perf_counter() - started, result


def bench_threads(default: int) -> int:
    """The torch threads a benchmark runs with: BENCH_THREADS, else `default`. On a shared 2-core
    machine BENCH_THREADS=1 keeps a second intra-op thread from spin-waiting on a busy core."""
    return int(os.environ.get("BENCH_THREADS", default))
