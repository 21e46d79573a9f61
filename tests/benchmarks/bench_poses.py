"""Poses benchmark (``make bench``): convention against RELION, and orientation recovery figures.

Each figure is printed next to a reference measured or fixed in the same run, as a ratio, with the device:

* convention: correlation of our projections with ``relion_project``'s at 50 random angles (with origin shifts) of
  EMD-1832 (reference: the 0.99 aim), and the FSC of ``relion_reconstruct`` from our STAR against the map;
* recovery on N projections (noiseless, then SNR 0.1): median error after alignment with exact, learned and image
  distances (references: 0.01 rad aim for exact, the seed's 0.199 rad for learned, and learned vs image), and the
  seconds for training + recovery against the 600 s aim and against the seed's way (network run per pair),
  estimated from the measured time per embedding.

Usage: ``python tests/benchmarks/bench_poses.py [--n 5000] [--train-steps 3000] [--rec-steps 3000] [--head chord]
[--size 32] [--width 16] [--snr 0 0.1] [--map M] [--threads 1]``.  With ``--head rotation`` the learned
recovery is also run from the embedded orientations (reported apart from the random start).
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
import pandas as pd
import torch

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from cryogui.core.device import configure_threads, describe_device  # noqa: E402
from cryogui.core.jobs import run_job  # noqa: E402
from cryogui.core.poses.align import align_orientations  # noqa: E402
from cryogui.core.poses.fsc import fsc, resolution_at  # noqa: E402
from cryogui.core.poses.generator import GeneratorConfig, generate_projections  # noqa: E402
from cryogui.core.poses.recover import (EmbeddingDistance, ExactDistance, ImageDistance,  # noqa: E402
                                        recover_orientations)
from cryogui.core.poses.siamese import SiameseConfig, train_siamese  # noqa: E402
from cryogui.core.projector import project  # noqa: E402
from cryogui.core.rotations import euler_to_matrix, euler_to_quaternion  # noqa: E402
from cryogui.io.mrc import read_mrc, write_mrc  # noqa: E402
from cryogui.io.poses_files import write_projection_set  # noqa: E402
from cryogui.io.star import particles_to_blocks, write_star  # noqa: E402

SHARED_MAP = ROOT.parent / "shared" / "data" / "maps" / "emd_1832.map"


def line(name: str, value: float, ref: float, ref_name: str, unit: str = "") -> None:
    ratio = value / ref if ref else float("nan")
    print(f"{name:<52} {value:>10.4g} {unit:<4} | {ref_name:<34} {ref:>10.4g} | ratio {ratio:7.3f}")


def load_map(path: Path | None):
    if path is not None and Path(path).exists():
        v = read_mrc(path)
        return np.array(v.data, dtype=np.float32), float(v.apix or 1.0), Path(path).name
    from cryogui.core.simulate.maps import demo_map

    v = demo_map(box=64, apix=4.0, seed=0)
    return v.data, v.apix, "demo map (EMD-1832 not found)"


def convention(vol, apix, tmp: Path) -> None:
    if shutil.which("relion_project") is None or shutil.which("relion_reconstruct") is None:
        print("convention: RELION not installed, skipped")
        return
    rng = np.random.default_rng(0)
    n = 50
    ang = np.stack([rng.uniform(-180, 180, n), np.rad2deg(np.arccos(rng.uniform(-1, 1, n))),
                    rng.uniform(-180, 180, n)], axis=1)
    sh = rng.uniform(-3, 3, (n, 2)) * apix
    write_mrc(tmp / "map.mrc", vol, apix)
    df = pd.DataFrame({"rlnImageName": [f"{i + 1}@x.mrcs" for i in range(n)], "rlnAngleRot": ang[:, 0],
                       "rlnAngleTilt": ang[:, 1], "rlnAnglePsi": ang[:, 2], "rlnOriginXAngst": sh[:, 0],
                       "rlnOriginYAngst": sh[:, 1]})
    write_star(tmp / "ang.star", particles_to_blocks(df, apix, vol.shape[0]))
    t0 = time.perf_counter()
    subprocess.run(["relion_project", "--i", "map.mrc", "--o", "rp", "--ang", "ang.star", "--angpix", str(apix)],
                   cwd=tmp, check=True, capture_output=True)
    t_relion = time.perf_counter() - t0
    theirs = read_mrc(tmp / "rp.mrcs").data
    t0 = time.perf_counter()
    ours = project(vol, euler_to_matrix(ang), apix=apix, shifts_A=sh)
    t_ours = time.perf_counter() - t0
    corr = np.array([np.corrcoef(a.ravel(), b.ravel())[0, 1] for a, b in zip(theirs, ours)])
    line("projection corr. vs relion_project (mean)", corr.mean(), 0.99, "aim")
    line("projection corr. vs relion_project (min)", corr.min(), 0.99, "aim")
    line("projection time, 50 images (ours)", t_ours, t_relion, "relion_project (incl. start-up)", "s")
    stack, table = run_job(generate_projections(vol, apix, GeneratorConfig(n=1000, ctf=True, seed=1))).value
    star = write_projection_set(tmp / "gen.mrcs", stack, table, apix)
    subprocess.run(["relion_reconstruct", "--i", star.name, "--o", "rec.mrc", "--ctf", "--angpix", str(apix)],
                   cwd=tmp, check=True, capture_output=True)
    rec = read_mrc(tmp / "rec.mrc").data
    f, c = fsc(rec, vol, apix)
    res = resolution_at(f, c, 0.5)
    line("relion_reconstruct (1000 ours, CTF): FSC=0.5 at", res, 2 * apix, "Nyquist", "A")
    line("  mean FSC to Nyquist", float(c[1:].mean()), 1.0, "perfect")
    line("  real-space correlation with the map", float(np.corrcoef(rec.ravel(), vol.ravel())[0, 1]), 1.0,
         "perfect")


def recovery(vol, apix, n: int, snr, train_steps: int, rec_steps: int, head: str, size: int, width: int) -> None:
    label = "noiseless" if snr is None else f"SNR {snr:g}"
    t0 = time.perf_counter()
    stack, table = run_job(generate_projections(vol, apix, GeneratorConfig(n=n, snr=snr, seed=7))).value
    q = euler_to_quaternion(table[["rlnAngleRot", "rlnAngleTilt", "rlnAnglePsi"]].to_numpy())
    print(f"--- recovery, {n} projections, {label} (generated in {time.perf_counter() - t0:.1f} s)")
    t0, c0 = time.perf_counter(), time.process_time()
    cfg = SiameseConfig(steps=train_steps, head=head, size=size, width=width, report_every=max(1, train_steps // 10))
    trained = run_job(train_siamese(stack, q, cfg)).value
    t_train, c_train = time.perf_counter() - t0, time.process_time() - c0
    t0, c0 = time.perf_counter(), time.process_time()
    emb = trained.embed(stack)
    t_embed, c_embed = time.perf_counter() - t0, time.process_time() - c0
    results = {}
    times, cpu = {}, {}
    learned = EmbeddingDistance(emb)
    runs = [("exact", ExactDistance(q), None), ("learned", learned, None), ("image", ImageDistance(stack), None)]
    if learned.quaternions() is not None:
        runs.append(("learned, embedding start", learned, learned.quaternions()))
    for kind, src, init in runs:
        t0, c0 = time.perf_counter(), time.process_time()
        res = run_job(recover_orientations(src, steps=rec_steps, report_every=rec_steps, init=init)).value
        times[kind] = time.perf_counter() - t0
        cpu[kind] = time.process_time() - c0
        results[kind] = align_orientations(q, res.quats)
    line(f"[{label}] median error, exact distances", results["exact"].median_rad, 0.01, "aim", "rad")
    line(f"[{label}] median error, learned distances", results["learned"].median_rad, 0.199, "seed (noiseless)",
         "rad")
    line(f"[{label}] median error, learned", results["learned"].median_rad, 0.15, "aim", "rad")
    if "learned, embedding start" in results:
        line(f"[{label}] median error, learned, embedding start", results["learned, embedding start"].median_rad,
             results["learned"].median_rad, "learned, random start", "rad")
    line(f"[{label}] median error, image distances", results["image"].median_rad, results["learned"].median_rad,
         "learned (same run)", "rad")
    total = t_train + t_embed + times["learned"]
    line(f"[{label}] seconds: train + embed + recover", total, 600.0, "aim (10 min)", "s")
    line(f"[{label}] CPU seconds: train + embed + recover", c_train + c_embed + cpu["learned"], 600.0,
         "aim (10 min)", "s")
    per_image = t_embed / n
    pairs = rec_steps * 4096
    line(f"[{label}] recovery seconds (embed once)", t_embed + times["learned"], per_image * 2 * pairs + times["exact"],
         "network per pair (seed's way, est.)", "s")
    print(f"    head {head}, network input {size} px, width {width}, mean errors: " +
          ", ".join(f"{k} {r.mean_rad:.3f}" for k, r in results.items()) + " rad")
    print(f"    wall: training {t_train:.1f} s ({train_steps} steps), embedding {t_embed:.2f} s, recovery: " +
          ", ".join(f"{k} {v:.1f} s" for k, v in times.items()))
    print(f"    CPU time (process_time, all threads): training {c_train:.1f} s, recovery: " +
          ", ".join(f"{k} {v:.1f} s" for k, v in cpu.items()))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=5000)
    ap.add_argument("--train-steps", type=int, default=SiameseConfig().steps)
    ap.add_argument("--head", default=SiameseConfig().head, choices=("chord", "rotation", "euclidean"))
    ap.add_argument("--size", type=int, default=SiameseConfig().size,
                    help="network input size in px (16 low-passes more: better at SNR 0.1)")
    ap.add_argument("--width", type=int, default=SiameseConfig().width, help="network width (first conv channels)")
    ap.add_argument("--rec-steps", type=int, default=3000)
    ap.add_argument("--map", type=Path, default=SHARED_MAP)
    ap.add_argument("--skip-relion", action="store_true")
    ap.add_argument("--snr", type=float, nargs="*", default=None, help="SNRs to run (0 = noiseless); default: 0 0.1")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: all cores)")
    args = ap.parse_args(argv)
    configure_threads(for_gui=False)
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    vol, apix, name = load_map(args.map)
    print(f"poses benchmark on {describe_device()}, torch {torch.__version__}, {torch.get_num_threads()} threads; "
          f"map {name} {vol.shape[0]}^3 at {apix:.3g} A/px")
    with tempfile.TemporaryDirectory() as d:
        if not args.skip_relion:
            convention(vol, apix, Path(d))
    for snr in ([None, 0.1] if args.snr is None else [s if s > 0 else None for s in args.snr]):
        recovery(vol, apix, args.n, snr, args.train_steps, args.rec_steps, args.head, args.size, args.width)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
