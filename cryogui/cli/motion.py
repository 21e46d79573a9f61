"""``cryogui motion``: eigen-motions of a particle set against a Gaussian model (per-particle FRC gradients, PCA,
per-particle coordinates), and ``cryogui simulate motion``: the seed's swinging-arm test set."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from cryogui.cli._common import print_json, run_with_progress, start_cli_compute
from cryogui.errors import InputError


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "motion", help="eigen-motions (conformational heterogeneity) from per-particle FRC gradients",
        description="For each particle (known pose and CTF), the gradient of the FRC between the particle and the "
                    "projection of a Gaussian model w.r.t. every Gaussian's position; PCA of these gradients gives "
                    "eigen-motion vectors; each particle's coordinate along them maximises its FRC. The output STAR "
                    "is the input plus columns cryoguiMotion1..K.")
    p.add_argument("--particles", type=Path, required=True, help="particle STAR file (poses, CTF, images)")
    p.add_argument("--model", type=Path, required=True, help="Gaussian model JSON (Gaussian-fit panel / gaussfit)")
    p.add_argument("--modes", type=int, default=3, metavar="K", help="number of eigen-motions (default 3)")
    p.add_argument("--out", type=Path, default=None, help="output STAR: input + cryoguiMotion1..K")
    p.add_argument("--vectors", type=Path, default=None, help="output JSON: eigen-motion vectors, spectrum")
    p.add_argument("--kind", choices=("position", "amplitude"), default="position",
                   help="position: conformational motions; amplitude: compositional heterogeneity")
    p.add_argument("--focus", default=None, metavar="SPEC",
                   help="analyse a region only: Gaussian indices '0-40,55' or a box 'box:x0,x1,y0,y1,z0,z1' (A)")
    p.add_argument("--range", type=float, default=None, dest="c_range",
                   help="coordinate search range +-R in Angstrom (default 4 median Gaussian widths)")
    p.add_argument("--coord-modes", type=int, default=None, help="modes that get per-particle coordinates "
                                                                 "(default all)")
    p.add_argument("--nonlinear", action="store_true", help="also fit an autoencoder and compare with PCA")
    p.add_argument("--max-particles", type=int, default=None, help="use only the first N particles")
    p.add_argument("--json", action="store_true", help="print one JSON summary object")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=run)


def parse_focus(spec: str | None, positions: np.ndarray):
    """None, or the indices of the Gaussians selected by ``spec`` (indices/ranges, or ``box:x0,x1,y0,y1,z0,z1``)."""
    if not spec:
        return None
    k = len(positions)
    try:
        if spec.startswith("box:"):
            v = [float(x) for x in spec[4:].split(",")]
            if len(v) != 6:
                raise ValueError
            lo, hi = np.minimum(v[0::2], v[1::2]), np.maximum(v[0::2], v[1::2])
            idx = np.nonzero(np.all((positions >= lo) & (positions <= hi), axis=1))[0]
        else:
            idx = []
            for part in spec.split(","):
                a, _, b = part.strip().partition("-")
                idx.extend(range(int(a), int(b) + 1) if b else [int(a)])
            idx = np.unique(idx)
    except ValueError:
        raise InputError(f"--focus {spec!r}: expected indices like '0-40,55' or 'box:x0,x1,y0,y1,z0,z1'") from None
    if len(idx) == 0:
        raise InputError(f"--focus {spec!r} selects no Gaussians")
    if np.max(idx) >= k or np.min(idx) < 0:
        raise InputError(f"--focus {spec!r}: the model has Gaussians 0..{k - 1}")
    return np.asarray(idx)


def run(args) -> int:
    from cryogui.core.motion.job import run_motion_analysis
    from cryogui.io.motion import load_model, load_particle_data, write_motion_star, write_vectors_json

    start_cli_compute()
    t0 = time.perf_counter()
    if args.modes < 1:
        raise InputError(f"--modes {args.modes}: at least 1")
    model = load_model(args.model)
    indices = None
    if args.max_particles:
        from cryogui.io.star import read_particles

        indices = np.arange(min(args.max_particles, len(read_particles(args.particles))))
    pset, data = load_particle_data(args.particles, indices=indices)
    focus = parse_focus(args.focus, model.positions)
    gen = run_motion_analysis(model, data, n_modes=args.modes, kind=args.kind, focus=focus, c_range=args.c_range,
                              coord_modes=args.coord_modes, nonlinear=args.nonlinear)
    res = run_with_progress(gen, "motion", quiet=args.quiet or args.json)
    result = res.value
    if args.out:
        write_motion_star(args.out, pset, result.coords)
    if args.vectors:
        write_vectors_json(args.vectors, result)
    summary = result.summary()
    summary["seconds"] = time.perf_counter() - t0
    summary.update({"out": str(args.out) if args.out else None,
                    "vectors": str(args.vectors) if args.vectors else None})
    if args.json:
        print_json(summary)
    else:
        ev = ", ".join(f"{100 * v:.1f}%" for v in result.explained_variance)
        print(f"{summary['particles']} particles, {result.n_modes} mode(s), explained variance {ev}; mean FRC "
              f"{summary['mean_frc_before']:.3f} -> {summary['mean_frc_after']:.3f}; {summary['seconds']:.1f} s")
        if args.out:
            print(f"motion coordinates written to {args.out}")
    return 0


def add_simulate_motion(ss) -> None:
    q = ss.add_parser("motion", help="the eigen-motion test set: a domain swinging in K classes",
                      description="Particles of a two-domain Gaussian model whose arm swings about a hinge, in K "
                                  "classes evenly spaced along the motion, with random poses, CTF (defocus 2-3.5 um) "
                                  "and noise. Writes particles.star + .mrcs, model.json (the consensus model), "
                                  "truth.csv (class, motion per particle) and truth_motion.json.")
    q.add_argument("--out", type=Path, required=True, help="output folder")
    q.add_argument("--particles", type=int, default=3000)
    q.add_argument("--classes", type=int, default=11)
    q.add_argument("--snr", type=float, default=1.0, help="0 for noiseless")
    q.add_argument("--box", type=int, default=64)
    q.add_argument("--apix", type=float, default=4.0)
    q.add_argument("--gaussians", type=int, default=128)
    q.add_argument("--angle", type=float, default=15.0, help="largest swing of the arm in degrees")
    q.add_argument("--seed", type=int, default=0)
    q.add_argument("--json", action="store_true")
    q.set_defaults(func=cmd_simulate_motion)


def cmd_simulate_motion(args) -> int:
    from cryogui.core.motion.simulate import simulate_motion
    from cryogui.io.motion import write_simulation

    start_cli_compute()
    if args.apix <= 0:
        raise InputError(f"--apix {args.apix}: must be positive")
    t0 = time.perf_counter()
    sim = simulate_motion(args.particles, args.classes, snr=args.snr if args.snr > 0 else None, box=args.box,
                          apix=args.apix, n_gaussians=args.gaussians, max_angle_deg=args.angle, seed=args.seed)
    paths = write_simulation(args.out, sim)
    summary = dict(paths, particles=args.particles, classes=args.classes, snr=args.snr,
                   seconds=time.perf_counter() - t0)
    if args.json:
        print_json(summary)
    else:
        print(f"{args.particles} particles in {args.classes} classes written to {args.out}")
    return 0
