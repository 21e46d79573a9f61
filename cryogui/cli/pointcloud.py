"""``cryogui pointcloud MAP --method trn|cvt --points N --out cloud.cmm|.pdb|.csv``: a TRN or CVT point cloud of a
2D image or 3D map, written in the map's frame; ``--json`` prints a summary (energies in Angstrom^2)."""

from __future__ import annotations

import time
from pathlib import Path

from cryogui.cli._common import print_json, run_with_progress, start_cli_compute
from cryogui.errors import InputError

BUILTIN_2D = "gaussian2d"


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "pointcloud", help="TRN (neural gas) or CVT (Lloyd) point cloud of a map or image",
        description="Represent a density map (or 2D image) by N points: TRN (topology representing network) or CVT "
                    "(centroidal Voronoi tessellation by Lloyd iterations, weighted by cell mass). Coordinates are "
                    f"Angstrom in the map frame. MAP may be '{BUILTIN_2D}' for the seed's 2D Gaussian example.")
    p.add_argument("map", metavar="MAP", help=f"MRC map or image, or '{BUILTIN_2D}'")
    p.add_argument("--method", choices=("trn", "cvt"), required=True)
    p.add_argument("--points", type=int, required=True, metavar="N")
    p.add_argument("--iterations", type=int, default=None, metavar="K",
                   help="TRN: number of samples t_f (default 20 N); CVT: Lloyd iterations (default 50)")
    p.add_argument("--threshold", type=float, default=None, metavar="T",
                   help="density at or below T carries no weight (default 0: the positive part)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--mode", choices=("exact", "fast"), default="exact",
                   help="TRN: exact sequential updates, or fast: ranks with weight >= 1e-4 only, mini-batches on "
                        "a GPU (final energy within 2%%)")
    p.add_argument("--eps", type=float, nargs=2, default=(0.5, 0.05), metavar=("EPS0", "EPSF"))
    p.add_argument("--lam", type=float, nargs=2, default=(1.0, 0.5), metavar=("LAMBDA0", "LAMBDAF"))
    p.add_argument("--out", required=True, help="output .cmm (ChimeraX markers), .pdb or .csv")
    p.add_argument("--json", action="store_true", help="print one JSON summary object")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def load_density(spec: str, threshold: float | None):
    from cryogui.core.pointcloud.density import density_from_volume, gaussian_example_2d
    from cryogui.io.mrc import read_mrc

    if spec == BUILTIN_2D:
        d = gaussian_example_2d()
        if threshold is not None:
            from cryogui.core.pointcloud.density import density_from_array

            d = density_from_array(d.image, d.spacing, d.origin, threshold, name=d.name)
        return d
    path = Path(spec)
    return density_from_volume(read_mrc(path), threshold=threshold, name=str(path))


def run(args) -> int:
    from cryogui.core.pointcloud.cvt import CVT_DEFAULT_ITERATIONS, run_cvt
    from cryogui.core.pointcloud.energy import random_energy
    from cryogui.core.pointcloud.trn import run_trn
    from cryogui.io.pointcloud import CLOUD_SUFFIXES, write_cloud

    out = Path(args.out)
    if out.suffix.lower() not in CLOUD_SUFFIXES:
        raise InputError(f"--out {out}: use a .cmm, .pdb or .csv file name")
    if out.parent and not out.parent.exists():
        raise InputError(f"--out {out}: folder {out.parent} does not exist")
    start_cli_compute()
    density = load_density(args.map, args.threshold)
    n = density.check_points(args.points)
    t0 = time.perf_counter()
    if args.method == "trn":
        gen = run_trn(density, n, steps=args.iterations, eps0=args.eps[0], epsf=args.eps[1], lam0=args.lam[0],
                      lamf=args.lam[1], mode=args.mode, seed=args.seed, track_energy=False)
    else:
        gen = run_cvt(density, n, iterations=CVT_DEFAULT_ITERATIONS if args.iterations is None else args.iterations, seed=args.seed)
    res = run_with_progress(gen, f"{args.method.upper()} {n} points", quiet=args.quiet).value
    seconds = time.perf_counter() - t0
    write_cloud(out, res.points, res.weights)
    rnd = random_energy(density, n, seed=args.seed)
    summary = {"method": args.method, "points": n, "iterations": res.iterations, "energy": res.energy,
               "random_energy": rnd, "energy_ratio": res.energy / rnd if rnd > 0 else None, "seconds": seconds,
               "out": str(out), "map": args.map, "threshold": density.threshold, "dims": density.ndim,
               "voxel_size": list(density.spacing), "origin": list(density.origin),
               "converged": res.converged if args.method == "cvt" else None, "params": res.params}
    if args.json:
        print_json(summary)
    else:
        print(f"{args.method.upper()}: {n} points, {res.iterations} iterations, energy {res.energy:.4g} A^2 "
              f"(random samples {rnd:.4g} A^2, ratio {summary['energy_ratio']:.3f}), {seconds:.2f} s -> {out}")
    return 0
