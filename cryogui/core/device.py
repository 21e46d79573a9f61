"""Which torch device computes, and how many threads it uses."""

from __future__ import annotations

import os

import torch

_configured = False


def get_device() -> torch.device:
    """The compute device: ``CRYOGUI_DEVICE`` if set (``cpu``, ``cuda``, ``cuda:1``), else CUDA when present."""
    name = os.environ.get("CRYOGUI_DEVICE", "").strip()
    if name:
        return torch.device(name)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def describe_device(device: torch.device | None = None) -> str:
    """One line for the status bar: ``CPU (8 threads)`` or ``CUDA: NVIDIA H100 (80 GB)``."""
    device = device or get_device()
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        return f"CUDA: {props.name} ({props.total_memory / 2**30:.0f} GiB)"
    n = torch.get_num_threads()
    return f"CPU ({n} thread{'s' if n != 1 else ''})"


def configure_threads(for_gui: bool) -> int:
    """Set torch's intra-op thread count once: all cores for the CLI, one fewer for the GUI (it keeps one)."""
    global _configured
    cores = os.cpu_count() or 1
    n = max(1, cores - 1) if for_gui else cores
    if "CRYOGUI_THREADS" in os.environ:
        n = max(1, int(os.environ["CRYOGUI_THREADS"]))
    if not _configured:
        torch.set_num_threads(n)
        _configured = True
    return torch.get_num_threads()
