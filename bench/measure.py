"""What every benchmark measures the same way: the machine it ran on.

One module, so that every results section describes the machine alike.
"""

from __future__ import annotations

import os
import platform
from pathlib import Path


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
