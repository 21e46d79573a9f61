"""Gaussian-fit benchmarks (``make bench`` / ``make gaussfit-bench``).  Each figure is printed next to a reference
measured in the same run, with the device.

1. Renderer: forward + backward for 32 images of 128^2 with 2,000 isotropic Gaussians, fast separable path vs the
   dense reference (every Gaussian at every pixel, chunked), and the fraction of this machine's measured
   matrix-multiply FLOP rate that the fast path reaches.  Also the anisotropic footprint path.
2. Map fit: EMD-1832 (../shared/data/maps) with 1,000 Gaussians: seconds, correlation, FSC resolution.
3. Projection fit: N simulated 64^2 particles of the demo map (known poses, CTF, SNR 0.1): seconds per epoch and FSC
   resolution against the true map, next to relion_reconstruct on the same particles and STAR file.

Usage: ``python tests/benchmarks/bench_gaussfit.py [--quick] [--particles N] [--skip map,particles]``
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from cryogui.core.device import describe_device, get_device  # noqa: E402
from cryogui.core.gmm import metrics  # noqa: E402
from cryogui.core.gmm import render as R  # noqa: E402
from cryogui.core.jobs import run_job  # noqa: E402
from cryogui.core.rotations import random_rotations  # noqa: E402


def _sync(dev):
    if dev.type == "cuda":
        torch.cuda.synchronize()


def _time(fn, dev, repeats=3):
    fn()
    _sync(dev)
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        _sync(dev)
        best = min(best, time.perf_counter() - t)
    return best


def bench_renderer(dev, quick: bool) -> None:
    b, box, k = (8, 128, 500) if quick else (32, 128, 2000)
    apix = 2.0
    rng = np.random.default_rng(0)
    pos = torch.tensor(rng.normal(0, 30, (k, 3)), dtype=torch.float32, device=dev, requires_grad=True)
    amp = torch.tensor(rng.uniform(0.5, 1.5, k), dtype=torch.float32, device=dev, requires_grad=True)
    sig = torch.tensor(rng.uniform(2, 5, k), dtype=torch.float32, device=dev, requires_grad=True)
    mats = torch.tensor(random_rotations(b, seed=1), dtype=torch.float32, device=dev)
    target = torch.randn(b, box, box, device=dev)

    def step(fn):
        def run():
            pos.grad = amp.grad = sig.grad = None
            loss = ((fn() - target) ** 2).mean()
            loss.backward()
        return run

    fast = _time(step(lambda: R.project_iso(pos, amp, sig, mats, box=box, apix=apix)), dev)

    def dense_step(chunk=16):
        # the dense reference with bounded memory: forward without a graph, then each chunk of Gaussians again
        # with one, back-propagating the same d loss / d image (autograd over all chunks at once would hold
        # B x K x H x W intermediates: tens of GB)
        pos.grad = amp.grad = sig.grad = None
        with torch.no_grad():
            img = R.project_dense(pos, amp, sig, mats, box=box, apix=apix, chunk=chunk)
            grad_img = 2 * (img - target) / target.numel()
        for s in range(0, k, chunk):
            part = R.project_dense(pos[s:s + chunk], amp[s:s + chunk], sig[s:s + chunk], mats, box=box, apix=apix,
                                   chunk=chunk)
            part.backward(grad_img)

    dense = _time(dense_step, dev, repeats=1)
    cov = (sig.detach()[:, None, None] ** 2 * torch.eye(3, device=dev)).requires_grad_(True)
    foot = _time(step(lambda: R.project_aniso(pos, amp, cov, mats, box=box, apix=apix)), dev)
    # matrix-multiply rate of this machine, same dtype
    n = 1024
    a1, a2 = torch.randn(n, n, device=dev), torch.randn(n, n, device=dev)
    mm = _time(lambda: a1 @ a2, dev, repeats=5)
    rate = 2 * n**3 / mm
    flops = 3 * 2 * b * box * box * k  # forward bmm + two backward bmms
    print(f"[renderer] {b} images {box}^2, {k} Gaussians, forward+backward on {describe_device(dev)}")
    print(f"  fast separable path : {1e3 * fast:9.1f} ms/batch")
    print(f"  dense reference     : {1e3 * dense:9.1f} ms/batch   -> fast is {dense / fast:.1f}x faster (aim >= 10x)")
    print(f"  anisotropic footprint: {1e3 * foot:8.1f} ms/batch   ({dense / foot:.1f}x the dense reference)")
    print(f"  matmul rate {rate / 1e9:.1f} GFLOP/s; fast path bmm work {flops / fast / 1e9:.1f} GFLOP/s "
          f"= {100 * flops / fast / rate:.0f}% of it")


def bench_map(dev, quick: bool) -> None:
    from cryogui.core.gmm.fit import fit_map
    from cryogui.io.mrc import read_mrc

    path = ROOT.parent / "shared" / "data" / "maps" / "emd_1832.map"
    if not path.exists():
        print("[map fit] ../shared/data/maps/emd_1832.map absent: skipped")
        return
    vol = read_mrc(path)
    n, iters = (300, 40) if quick else (1000, 120)
    t = time.perf_counter()
    res = run_job(fit_map(vol.data, vol.apix, n, iterations=iters, lr=0.2, report_every=iters,
                          device=dev)).value
    sec = time.perf_counter() - t
    r = metrics.fsc_resolution(res.rendered, vol.data, vol.apix)
    corr = metrics.correlation(res.rendered, vol.data)
    # reference in the same run: the best a Gaussian blur of the map itself reaches at 1 voxel
    from scipy.ndimage import gaussian_filter

    blur = metrics.correlation(gaussian_filter(vol.data, 1.0), vol.data)
    print(f"[map fit] EMD-1832 {vol.data.shape[0]}^3 at {vol.apix:.2f} A/px, {n} Gaussians, {iters} steps, lr 0.2, "
          f"{describe_device(dev)}")
    print(f"  {sec:.1f} s (aim < 60 s), correlation {corr:.4f} (aim >= 0.97; a 1-voxel Gaussian blur of the map "
          f"itself: {blur:.4f}), FSC 0.5 {r['fsc05_A']:.1f} A, 0.143 {r['fsc0143_A']:.1f} A "
          f"(Nyquist {2 * vol.apix:.1f} A)")


def bench_particles(dev, quick: bool, n: int) -> None:
    from cryogui.core.gmm.fit import fit_particles
    from cryogui.core.rotations import euler_to_matrix
    from cryogui.core.simulate.maps import demo_map
    from cryogui.core.simulate.particles import simulate_particles
    from cryogui.io.mrc import write_mrc
    from cryogui.io.star import particles_to_blocks, write_star

    vol = demo_map(box=64, apix=4.0, seed=0)
    truth = np.asarray(vol.data, dtype=np.float32)
    apix = float(vol.apix)
    stack, df = simulate_particles(truth, apix, n, snr=0.1, ctf=True, seed=0)
    tmp = Path(tempfile.mkdtemp(prefix="bench_gaussfit_"))
    try:
        write_mrc(tmp / "particles.mrcs", stack, apix)
        df = df.copy()
        df["rlnImageName"] = [f"{i + 1:06d}@particles.mrcs" for i in range(n)]
        write_star(tmp / "particles.star", particles_to_blocks(df, apix, 64))
        mats = euler_to_matrix(df[["rlnAngleRot", "rlnAngleTilt", "rlnAnglePsi"]].to_numpy())
        shifts = df[["rlnOriginXAngst", "rlnOriginYAngst"]].to_numpy()
        from cryogui.core.ctf import CTFParams

        ctf = CTFParams(df["rlnDefocusU"].to_numpy().copy(), df["rlnDefocusV"].to_numpy().copy(),
                        df["rlnDefocusAngle"].to_numpy().copy())
        epochs = 2 if quick else 6
        t = time.perf_counter()
        res = run_job(fit_particles(stack, mats, shifts, ctf, apix, 400, epochs=epochs, batch_size=128,
                                    init_map=None, lr=0.03, device=dev)).value
        sec = time.perf_counter() - t
        fit_vol = R.render_model(res.model, 64, apix, device=dev)
        ours = metrics.fsc_resolution(fit_vol, truth, apix)
        line = (f"[projection fit] {n} particles 64^2, SNR 0.1, CTF, 400 Gaussians, {epochs} epochs on "
                f"{describe_device(dev)}: {sec / epochs:.1f} s/epoch; FSC vs true map 0.5 {ours['fsc05_A']:.1f} A, "
                f"0.143 {ours['fsc0143_A']:.1f} A")
        print(line)
        if shutil.which("relion_reconstruct"):
            t = time.perf_counter()
            out = subprocess.run(["relion_reconstruct", "--i", "particles.star", "--o", "relion.mrc", "--ctf",
                                  "--angpix", str(apix)], cwd=tmp, capture_output=True, text=True)
            rsec = time.perf_counter() - t
            if out.returncode == 0:
                from cryogui.io.mrc import read_mrc

                rel = read_mrc(tmp / "relion.mrc").data
                rr = metrics.fsc_resolution(rel, truth, apix)
                print(f"  relion_reconstruct --ctf: {rsec:.1f} s; FSC vs true map 0.5 {rr['fsc05_A']:.1f} A, 0.143 "
                      f"{rr['fsc0143_A']:.1f} A -> ours / RELION at 0.143: {ours['fsc0143_A'] / rr['fsc0143_A']:.2f} "
                      f"(aim <= 1.2)")
            else:
                print(f"  relion_reconstruct failed: {out.stderr.strip()[-300:]}")
        else:
            print("  relion_reconstruct not installed: no reference")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def main(argv=None) -> int:
    sys.stdout.reconfigure(line_buffering=True)
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small sizes (a smoke run)")
    ap.add_argument("--particles", type=int, default=5000)
    ap.add_argument("--skip", default="", help="comma list of renderer,map,particles to skip")
    args = ap.parse_args(argv)
    from cryogui.core.device import configure_threads

    configure_threads(for_gui=False)
    dev = get_device()
    skip = set(filter(None, args.skip.split(",")))
    with torch.enable_grad():
        if "renderer" not in skip:
            bench_renderer(dev, args.quick)
        if "map" not in skip:
            bench_map(dev, args.quick)
        if "particles" not in skip:
            bench_particles(dev, args.quick, 500 if args.quick else args.particles)
    return 0


if __name__ == "__main__":
    sys.exit(main())
