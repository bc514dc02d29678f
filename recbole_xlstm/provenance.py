"""The machine and the versions a run used: for a search's summary and for the benchmarks' results files.

Public (``recbole_xlstm.environment``, ``recbole_xlstm.machine_line``): the benchmarks record their hardware and
versions with them.
"""

from __future__ import annotations

import os
import platform
import sys
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any


def environment() -> dict[str, Any]:
    """The machine (CPU model, cores, GPUs) and the versions of Python and of the packages a run depends on."""
    import torch

    cpu = platform.processor()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        names = [
            line.split(":", 1)[1].strip() for line in cpuinfo.read_text().splitlines() if line.startswith("model name")
        ]
        cpu = names[0] if names else cpu
    packages = {}
    for name in ("recbole", "torch", "xlstm", "mlstm_kernels", "ray", "numpy", "pandas", "hyperopt"):
        try:
            packages[name] = version(name)
        except PackageNotFoundError:
            packages[name] = None
    gpus = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    return {"python": sys.version.split()[0], "cpu": cpu, "cpu_cores": os.cpu_count(), "gpus": gpus, **packages}


MACHINE_LINE_PACKAGES = ("torch", "recbole", "xlstm", "mlstm_kernels", "numpy", "pandas")


def machine_line(env: dict[str, Any]) -> str:
    """One sentence naming the machine and versions of ``environment()`` (or of one saved as JSON, where a key
    may be missing: it reads '?'), for the results files of the benchmarks."""
    gpus = ", ".join(env.get("gpus") or []) or "none"
    versions = ", ".join(f"{name} {env.get(name) or '?'}" for name in MACHINE_LINE_PACKAGES)
    return (
        f"Machine: {env.get('cpu', '?')}, {env.get('cpu_cores', '?')} cores, GPU: {gpus}. "
        f"Python {env.get('python', '?')}, {versions}."
    )
