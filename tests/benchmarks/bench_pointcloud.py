"""Point-cloud benchmarks (issue 4).  Run: ``python tests/benchmarks/bench_pointcloud.py [--quick]``.

1. Exact TRN against a plain numpy per-sample loop of the seed's update (the reference, written here), n = 2,000 in
   3D, same start and same samples: time per sample for both, final energies (and the fast mode beside them).
2. Fast TRN: n = 10,000 points, 100,000 samples, 128^3 map: seconds and energy, next to exact TRN (same run).
3. CVT: seconds per Lloyd iteration, 128^3 map, 10,000 points, next to a brute-force torch distance-matrix
   assignment of the same iteration.
4. Quality: converged CVT energy / energy of random samples of the same size, demo map and EMD-1832.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from cryogui.core.device import configure_threads, describe_device, get_device  # noqa: E402
from cryogui.core.jobs import run_job  # noqa: E402
from cryogui.core.pointcloud.cvt import lloyd_update, run_cvt  # noqa: E402
from cryogui.core.pointcloud.density import density_from_volume  # noqa: E402
from cryogui.core.pointcloud.energy import energy, nearest, random_energy  # noqa: E402
from cryogui.core.pointcloud import trn_kernel  # noqa: E402
from cryogui.core.pointcloud.trn import run_trn, trn_schedule  # noqa: E402
from cryogui.core.simulate.maps import demo_map  # noqa: E402

EMD_1832 = ROOT.parent / "shared" / "data" / "maps" / "emd_1832.map"


def numpy_trn_reference(P: np.ndarray, S: np.ndarray, steps: int) -> np.ndarray:
    """The seed's loop, one sample at a time, all n ranks (argsort of argsort)."""
    r = P.copy()
    for t in range(len(S)):
        e, lam = trn_schedule(t, steps, 0.5, 0.05, 1.0, 0.5)
        d2 = ((S[t] - r) ** 2).sum(1)
        rank = d2.argsort().argsort()
        r = r + e * np.exp(-rank / lam)[:, None] * (S[t] - r)
    return r


def timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def timed_cpu(fn):
    """(result, wall seconds, CPU seconds of this process): the machine is shared, CPU time is the steadier."""
    t0, c0 = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - t0, time.process_time() - c0


def map_128():
    return density_from_volume(demo_map(box=128, apix=2.0, seed=0), threshold=0.05, name="demo map 128^3")


def bench_exact_trn(quick: bool) -> None:
    from cryogui.io.mrc import read_mrc

    dens = density_from_volume(read_mrc(EMD_1832)) if EMD_1832.exists() else \
        density_from_volume(demo_map(), threshold=0.05)
    n = 2000
    steps = 20 * n
    ref_steps = 2000 if quick else steps
    rng = np.random.default_rng(0)
    P0, S = dens.sample(n, rng), dens.sample(steps, rng)
    print(f"\n[1] exact TRN vs numpy per-sample loop: {dens.name}, n = {n}, t_f = {steps} samples (3D)")
    # one-time costs of a process (numba loading its cached machine code, first torch/scipy calls) on a small run,
    # timed apart so that the figures below are per sample
    _, t_warm, c_warm = timed_cpu(lambda: [run_job(run_trn(dens, 50, steps=200, seed=1, mode=mode,
                                                           track_energy=False)) for mode in ("exact", "fast")])
    print(f"  one-time start-up (first run in this process, 50 points): wall {t_warm:.2f} s, CPU {c_warm:.2f} s")
    ref_pts, t_ref, c_ref = timed_cpu(lambda: numpy_trn_reference(P0, S[:ref_steps], steps))
    per_ref, cpu_ref = t_ref / ref_steps, c_ref / ref_steps
    for mode in ("exact", "fast"):
        res, t, c = timed_cpu(lambda: run_job(run_trn(dens, n, init_points=P0, samples=S, mode=mode,
                                                      track_energy=False)).value)
        print(f"  {mode:5s} TRN: wall {1e6 * t / steps:7.1f} us/sample vs numpy loop {1e6 * per_ref:7.1f} "
              f"(x{per_ref / (t / steps):.1f});  CPU {1e6 * c / steps:7.1f} us/sample vs {1e6 * cpu_ref:7.1f} "
              f"(x{cpu_ref / (c / steps):.1f}; aim x20);  energy {res.energy:.4g} A^2")
    if ref_steps == steps:
        e_ref = energy(dens, ref_pts)
        print(f"  numpy loop final energy {e_ref:.4g} A^2 (same start, same samples)")
    else:
        print(f"  (quick: numpy loop timed on the first {ref_steps} samples only; no final energy)")


def bench_fast_trn(quick: bool) -> None:
    dens = map_128()
    n, steps = 10_000, 100_000
    print(f"\n[2] fast TRN: {dens.name} ({dens.n_support} voxels above threshold), n = {n}, {steps} samples")
    fast, t_fast = timed(lambda: run_job(run_trn(dens, n, steps=steps, mode="fast", seed=0,
                                                 track_energy=False)).value)
    rnd = random_energy(dens, n)
    print(f"  fast: {t_fast:.2f} s (aim < 10 s), energy {fast.energy:.4g} A^2, random samples {rnd:.4g} A^2 "
          f"(ratio {fast.energy / rnd:.3f}), batch {fast.params['batch']}")
    if quick:
        print("  (quick: exact mode skipped)")
        return
    exact, t_exact = timed(lambda: run_job(run_trn(dens, n, steps=steps, mode="exact", seed=0,
                                                   track_energy=False)).value)
    print(f"  exact: {t_exact:.2f} s, energy {exact.energy:.4g} A^2   fast/exact: time x{t_fast / t_exact:.3f}, "
          f"energy {100 * (fast.energy / exact.energy - 1):+.2f} % (aim within 2 %)")
    if get_device().type == "cpu" and trn_kernel.AVAILABLE:  # the mini-batch path the CPU takes without numba
        trn_kernel.AVAILABLE = False
        try:
            mb, t_mb = timed(lambda: run_job(run_trn(dens, n, steps=steps, mode="fast", seed=0,
                                                     track_energy=False)).value)
        finally:
            trn_kernel.AVAILABLE = True
        print(f"  mini-batch (k-d tree, batch {mb.params['batch']}; the CPU path without numba): {t_mb:.2f} s, "
              f"energy {100 * (mb.energy / exact.energy - 1):+.2f} % vs exact")


def brute_force_assign(points: np.ndarray, queries: np.ndarray, device) -> np.ndarray:
    P = torch.as_tensor(points, dtype=torch.float32, device=device)
    out = []
    rows = max(1, (1 << 26) // len(points))  # 64 M distances per block
    for a in range(0, len(queries), rows):
        Q = torch.as_tensor(queries[a:a + rows], dtype=torch.float32, device=device)
        out.append(torch.cdist(Q, P).argmin(1).cpu().numpy())
    return np.concatenate(out)


def bench_cvt(quick: bool) -> None:
    from cryogui.core.pointcloud.cvt import BoundedAssignment

    dens = map_128()
    n = 10_000
    dev = get_device()
    iters = 10 if quick else 30
    print(f"\n[3] CVT Lloyd iterations: {dens.name} ({dens.n_support} voxels), n = {n}, device {dev}")
    stamps = []
    res, t_run = timed(lambda: run_job(run_cvt(dens, n, iterations=iters, seed=0, tol=0),
                                       lambda s: stamps.append(time.perf_counter())).value)
    per_iter = np.diff(stamps)
    rng = np.random.default_rng(0)
    pts = dens.sample(n, rng)
    _, t_full = timed(lambda: lloyd_update(dens, pts, nearest(pts, dens.coords, device=dev)[1]))
    _, t_brute = timed(lambda: lloyd_update(dens, pts, brute_force_assign(pts, dens.coords, dev)))
    same = np.mean(brute_force_assign(pts, dens.coords, dev) == nearest(pts, dens.coords, device=dev)[1])
    print(f"  ours: {1e3 * per_iter.mean():.1f} ms/iteration over {len(per_iter)} iterations (first "
          f"{1e3 * per_iter[0]:.1f} ms, last 5 {1e3 * per_iter[-5:].mean():.1f} ms; aim <= 100 ms), energy "
          f"{res.history[0][1]:.4g} -> {res.energy:.4g} A^2")
    print(f"  one iteration with a full nearest-point search (k-d tree; chunked torch on CUDA): {1e3 * t_full:.1f} ms;  brute-force torch distance matrix: "
          f"{1e3 * t_brute:.1f} ms  -> ours x{t_brute / per_iter.mean():.1f} faster than brute force "
          f"(assignments agree on {100 * same:.3f} % of voxels; float32 ties)")


def zador_ratio(dens) -> float:
    """Large-n limit of (optimal quantiser energy) / (energy of random samples) for this density: the BCC lattice's
    second moment over that of Poisson points (0.678 in 3D, 0.504 in 2D for a uniform density), times
    (int p^(d/(d+2)))^((d+2)/d) / int p^(1-2/d) (Zador's point density p^(d/(d+2)) against samples of p)."""
    from math import gamma, pi

    d = dens.ndim
    vol = float(np.prod(dens.spacing))
    p = dens.weights / vol
    g_opt = 0.0785433 if d == 3 else 5 / (36 * np.sqrt(3))  # normalised second moment: BCC / hexagonal lattice
    unit_ball = pi ** (d / 2) / gamma(d / 2 + 1)
    poisson = gamma(1 + 2 / d) * unit_ball ** (-2 / d) / d  # the same moment for Poisson points
    a = d / (d + 2)
    return g_opt / poisson * (vol * p ** a).sum() ** (1 / a) / (vol * p ** (1 - 2 / d)).sum()


def bench_quality(quick: bool) -> None:
    from cryogui.io.mrc import read_mrc

    print("\n[4] quality: converged CVT energy / random samples of the same size (aim <= 0.6); TRN (default t_f, fast)"
          " and Lloyd started from the TRN cloud beside it")
    print("    reference: the large-n limit of that ratio for the density (Zador; ~0.68 for a uniform 3D density)")
    maps = [("demo map 64^3", demo_map())]
    if EMD_1832.exists():
        maps.append(("EMD-1832", read_mrc(EMD_1832)))
    for name, vol in maps:
        for frac in (0.0, 0.1):
            thr = frac * float(vol.data.max())
            dens = density_from_volume(vol, threshold=thr)
            limit = zador_ratio(dens)
            print(f"  {name}, threshold {thr:.3g} ({dens.n_support} voxels): large-n limit {limit:.3f}")
            for n in ((100,) if quick else (30, 100, 300)):
                res, t = timed(lambda: run_job(run_cvt(dens, n, iterations=60 if quick else 500, seed=0)).value)
                rnd = random_energy(dens, n, repeats=10)
                trn = run_job(run_trn(dens, n, seed=0, mode="fast", track_energy=False)).value
                both = run_job(run_cvt(dens, n, iterations=500, init_points=trn.points)).value
                print(f"    n = {n:3d}: CVT {res.energy:.4g} A^2 after {res.iterations} it ({t:.1f} s; "
                      f"{'converged' if res.converged else 'not converged'}), random {rnd:.4g} A^2 -> ratio "
                      f"{res.energy / rnd:.3f} (x{res.energy / rnd / limit:.2f} the limit); TRN {trn.energy / rnd:.3f}"
                      f"; Lloyd from TRN {both.energy / rnd:.3f}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="smaller reference runs (minutes -> seconds)")
    ap.add_argument("--only", type=int, nargs="*", help="run only these sections (1-4)")
    args = ap.parse_args(argv)
    configure_threads(for_gui=False)
    print(f"point-cloud benchmark on {describe_device()}; torch {torch.__version__}")
    sections = {1: bench_exact_trn, 2: bench_fast_trn, 3: bench_cvt, 4: bench_quality}
    for k, fn in sections.items():
        if not args.only or k in args.only:
            fn(args.quick)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
