"""The compiler for the CPU kernels: ``numba.njit`` (cached, GIL released) when numba loads, else a no-op.

Callers check :data:`AVAILABLE` and take their numpy/torch path when it is False (a platform where numba's
llvmlite cannot load); the decorated functions then stay plain Python, correct but slow.
"""

from __future__ import annotations

try:  # numba is a dependency; this guard only keeps the app usable where it cannot load
    import numba

    njit = numba.njit(cache=True, nogil=True)
    AVAILABLE = True
except Exception:  # noqa: BLE001 - any import failure means "not available"
    AVAILABLE = False

    def njit(f):
        return f
