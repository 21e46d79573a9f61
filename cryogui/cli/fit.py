"""``cryogui fit`` (a Gaussian mixture fitted to a map, or to particles with known poses and CTF) and
``cryogui render`` (a saved mixture rendered to an MRC map).

    cryogui fit MAP --gaussians N [--iterations K] [--anisotropic] [--init random|trn|cvt|model.json]
                --out model.json [--map-out fitted.mrc] [--json]
    cryogui fit --particles particles.star --gaussians N [--epochs E] [--reference MAP] --out model.json
                [--map-out fitted.mrc] [--json]
    cryogui render model.json --out map.mrc [--box B] [--apix A]

``--json`` prints one object: final_loss, correlation (with the target map or the reference), fsc05_A and
fsc0143_A (resolution against it, Angstrom), gaussians, seconds, diverged, message.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from cryogui.core.gmm.model import placed_grid
from cryogui.cli._common import print_json, run_with_progress, start_cli_compute
from cryogui.errors import InputError


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "fit", help="fit a 3D Gaussian mixture to a map, or to particle images with known poses and CTF",
        description="Fit N Gaussians (positions in Angstrom, amplitudes, isotropic or anisotropic widths) by Adam "
                    "to a map (real-space loss) or to particle images (STAR with poses, origins and CTF; images "
                    "from rlnImageName). The fitted map is written on the target map's grid and frame.")
    p.add_argument("map", metavar="MAP", nargs="?", help="target MRC map (omit with --particles)")
    p.add_argument("--particles", metavar="STAR", help="particle STAR file (poses, origins, CTF, rlnImageName)")
    p.add_argument("--gaussians", type=int, required=True, metavar="N")
    p.add_argument("--iterations", type=int, default=500, metavar="K", help="map fit: Adam steps (default 500)")
    p.add_argument("--epochs", type=int, default=5, metavar="E", help="particle fit: passes over the data")
    p.add_argument("--batch-size", type=int, default=64, metavar="B", help="particle fit: images per step")
    p.add_argument("--anisotropic", action="store_true", help="full covariances (scale + rotation)")
    p.add_argument("--init", default="random", metavar="random|trn|cvt|MODEL.json",
                   help="start from samples of the map (random), a TRN or CVT point cloud of it, or a saved model")
    p.add_argument("--lr", type=float, default=None, help="learning rate (default 0.1 for maps, 0.03 for particles)")
    p.add_argument("--no-ctf", action="store_true", help="particle fit: ignore the CTF")
    p.add_argument("--reference", metavar="MAP", help="particle fit: map for the correlation and FSC")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", help="output model JSON (required unless --sanity)")
    p.add_argument("--sanity", action="store_true",
                   help="run the seed's milestones 3-4 instead: synthetic images of a known N-Gaussian mixture, fit "
                        "from a random start and from the truth + noise, report position recovery (RMSD, A)")
    p.add_argument("--map-out", metavar="MRC", help="also write the fitted map")
    p.add_argument("--cmm-out", metavar="CMM", help="also write ChimeraX markers of the centres")
    p.add_argument("--box", type=int, default=None, help="box of --map-out (default: the target's)")
    p.add_argument("--apix", type=float, default=None, help="pixel size of --map-out (default: the target's)")
    p.add_argument("--json", action="store_true", help="print one JSON summary object")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run_fit)

    r = subparsers.add_parser("render", help="render a Gaussian model JSON to an MRC map",
                              description="Render a saved Gaussian mixture on a grid (default: the grid it was "
                                          "fitted on; with another box or pixel size the model keeps its place).")
    r.add_argument("model", metavar="MODEL.json")
    r.add_argument("--out", required=True, help="output .mrc")
    r.add_argument("--box", type=int, default=None)
    r.add_argument("--apix", type=float, default=None)
    r.set_defaults(func=run_render)


def _check_out(path: str, suffixes: tuple[str, ...], what: str) -> Path:
    p = Path(path)
    if p.suffix.lower() not in suffixes:
        raise InputError(f"{what} {p}: expected a {' or '.join(suffixes)} file")
    if p.parent and not p.parent.exists():
        raise InputError(f"{what} {p}: the folder {p.parent} does not exist")
    return p


def _read_map(path: str, what: str):
    from cryogui.io.mrc import read_mrc

    vol = read_mrc(path)
    if vol.data.ndim != 3 or len(set(vol.data.shape)) != 1:
        raise InputError(f"{what} {path}: a cubic 3D map is needed, got shape {vol.data.shape}")
    if not vol.apix:
        raise InputError(f"{what} {path}: the header has no pixel size")
    return vol


def _init_arg(spec: str):
    if spec in ("random", "trn", "cvt"):
        return spec
    p = Path(spec)
    if p.suffix.lower() == ".json":
        from cryogui.io.gmm_json import load_model

        return load_model(p)
    if p.suffix.lower() == ".cmm":
        from cryogui.io.gmm_json import read_cmm_positions

        return ("cmm", read_cmm_positions(p))
    raise InputError(f"--init {spec}: use random, trn, cvt, a model .json or a .cmm point cloud")


def _write_outputs(args, model, summary: dict) -> None:
    from cryogui.core.gmm.render import render_model
    from cryogui.io.gmm_json import save_model, write_cmm
    from cryogui.io.mrc import write_mrc

    save_model(args.out, model)
    summary["out"] = str(args.out)
    if args.map_out:
        b, a, origin = placed_grid(model, args.box, args.apix)
        write_mrc(args.map_out, render_model(model, b, a), a, origin)
        summary["map_out"] = str(args.map_out)
    if args.cmm_out:
        write_cmm(args.cmm_out, model)
        summary["cmm_out"] = str(args.cmm_out)


def run_fit(args) -> int:
    from cryogui.core.gmm import metrics
    from cryogui.core.gmm.fit import fit_map

    if args.gaussians < 1:
        raise InputError(f"--gaussians must be at least 1, got {args.gaussians}")
    if args.sanity:
        return _run_sanity(args)
    if not args.out:
        raise InputError("--out model.json is required")
    if (args.map is None) == (args.particles is None):
        raise InputError("give either a target MAP or --particles STAR (not both)")
    _check_out(args.out, (".json",), "--out")
    if args.map_out:
        _check_out(args.map_out, (".mrc",), "--map-out")
    init = _init_arg(args.init)
    if isinstance(init, tuple):
        init = init[1]
    start_cli_compute()
    t0 = time.perf_counter()
    if args.particles:
        return _run_particles(args, init, t0)
    vol = _read_map(args.map, "MAP")
    if args.iterations < 1:
        raise InputError(f"--iterations must be at least 1, got {args.iterations}")
    if isinstance(init, np.ndarray):  # .cmm markers are in the map frame: to Angstrom from the centre voxel
        init = init - np.asarray(vol.origin) - (vol.data.shape[0] // 2) * vol.apix
    gen = fit_map(vol.data, vol.apix, args.gaussians, iterations=args.iterations, anisotropic=args.anisotropic,
                  init=init, lr=args.lr or 0.1, seed=args.seed, origin=vol.origin, report_every=10)
    res = run_with_progress(gen, "fit", quiet=args.quiet or args.json).value
    rendered = res.rendered
    fscr = metrics.fsc_resolution(rendered, vol.data, vol.apix)
    summary = {"target": str(args.map), "final_loss": res.loss, "correlation": metrics.correlation(rendered, vol.data),
               "fsc05_A": fscr["fsc05_A"], "fsc0143_A": fscr["fsc0143_A"], "gaussians": len(res.model),
               "anisotropic": bool(args.anisotropic), "iterations": len(res.history["step"]),
               "diverged": res.diverged, "message": res.message}
    _write_outputs(args, res.model, summary)
    summary["seconds"] = time.perf_counter() - t0
    _report(args, summary)
    return 0


def _run_particles(args, init, t0) -> int:
    from cryogui.core.gmm import metrics
    from cryogui.core.gmm.fit import fit_particles
    from cryogui.core.gmm.render import render_model

    if args.epochs < 1:
        raise InputError(f"--epochs must be at least 1, got {args.epochs}")
    from cryogui.io.gmm_json import load_particle_data

    images, mats, shifts, ctf, apix, _ = load_particle_data(args.particles, not args.no_ctf)
    ref = _read_map(args.reference, "--reference") if args.reference else None
    if ref is not None and (ref.data.shape[0] != images.shape[-1] or abs(ref.apix - apix) > 0.01 * apix):
        raise InputError(f"--reference {args.reference}: {ref.data.shape[0]} px at {ref.apix:.3f} A/px does not "
                         f"match the particles ({images.shape[-1]} px at {apix:.3f} A/px)")
    if isinstance(init, str) and init in ("trn", "cvt"):
        if ref is None:
            raise InputError(f"--init {init} for a particle fit needs --reference MAP to take the point cloud of")
        from cryogui.core.gmm.init import pointcloud_start
        from cryogui.core.jobs import run_job

        init = run_job(pointcloud_start(init, ref.data, apix, args.gaussians, seed=args.seed)).value
    gen = fit_particles(images, mats, shifts, ctf, apix, args.gaussians, epochs=args.epochs,
                        batch_size=args.batch_size, anisotropic=args.anisotropic, init=init, lr=args.lr or 0.03,
                        seed=args.seed, reference=None if ref is None else ref.data)
    res = run_with_progress(gen, "fit", quiet=args.quiet or args.json).value
    model = res.model
    summary = {"particles": str(args.particles), "n_particles": int(len(images)), "final_loss": res.loss,
               "train_loss": res.history["train"][-1] if res.history["train"] else None,
               "correlation": None, "fsc05_A": None, "fsc0143_A": None, "gaussians": len(model),
               "epochs": args.epochs, "diverged": res.diverged, "message": res.message}
    if ref is not None:
        model.origin = ref.origin
        vol = render_model(model, ref.data.shape[0], ref.apix)
        fscr = metrics.fsc_resolution(vol, ref.data, ref.apix)
        summary.update(correlation=metrics.correlation(vol, ref.data), fsc05_A=fscr["fsc05_A"],
                       fsc0143_A=fscr["fsc0143_A"])
    _write_outputs(args, model, summary)
    summary["seconds"] = time.perf_counter() - t0
    _report(args, summary)
    return 0


def _run_sanity(args) -> int:
    from cryogui.core.gmm.sanity import run_sanity

    start_cli_compute()
    t0 = time.perf_counter()
    gen = run_sanity(n_gaussians=args.gaussians, epochs=args.epochs if args.epochs != 5 else 8, seed=args.seed,
                     lr=args.lr or 0.05)
    out = run_with_progress(gen, "sanity", quiet=args.quiet or args.json).value
    r, p = out["random"], out["perturbed"]
    summary = {"gaussians": args.gaussians, "random_start_rmsd_A": r["rmsd_A"],
               "perturbed_start_rmsd_A": p["start_rmsd_A"], "perturbed_final_rmsd_A": p["rmsd_A"],
               "perturbed_amplitude_rel_rms": p["amplitude_rel_rms"], "seconds": time.perf_counter() - t0}
    if args.out:
        from cryogui.io.gmm_json import save_model

        save_model(args.out, p["model"])
        summary["out"] = str(args.out)
    if args.json:
        print_json(summary)
    else:
        print(f"milestone 3 (random start): position RMSD {r['rmsd_A']:.2f} A; milestone 4 (truth + noise): "
              f"{p['start_rmsd_A']:.2f} A -> {p['rmsd_A']:.2f} A, amplitude error "
              f"{100 * p['amplitude_rel_rms']:.1f}% ({summary['seconds']:.0f} s)")
    return 0


def _report(args, summary: dict) -> None:
    if args.json:
        print_json(summary)
        return
    parts = [f"{summary['gaussians']} Gaussians", f"loss {summary['final_loss']:.4g}"]
    if summary.get("correlation") is not None:
        parts += [f"correlation {summary['correlation']:.4f}", f"FSC 0.5 {summary['fsc05_A']:.1f} A",
                  f"FSC 0.143 {summary['fsc0143_A']:.1f} A"]
    print(", ".join(parts) + f" in {summary['seconds']:.1f} s -> {summary['out']}")
    if summary.get("diverged"):
        print(summary["message"])


def run_render(args) -> int:
    from cryogui.core.gmm.render import render_model
    from cryogui.io.gmm_json import load_model
    from cryogui.io.mrc import write_mrc

    out = _check_out(args.out, (".mrc",), "--out")
    model = load_model(args.model)
    if args.box is not None and not 4 <= args.box <= 1024:
        raise InputError(f"--box must be between 4 and 1024, got {args.box}")
    if args.apix is not None and not args.apix > 0:
        raise InputError(f"--apix must be positive, got {args.apix}")
    b, a, origin = placed_grid(model, args.box, args.apix)
    start_cli_compute()
    write_mrc(out, render_model(model, b, a), a, origin)
    print(f"rendered {len(model)} Gaussians on {b}^3 at {a:.3f} A/px -> {out}")
    return 0
