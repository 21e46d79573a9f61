"""``cryogui project MAP --num N ... --out stack.mrcs``: the projection generator (writes stack.star beside)."""

from __future__ import annotations

import argparse
import re
import time
from pathlib import Path

from cryogui.errors import InputError


def register(sub) -> None:
    p = sub.add_parser("project", help="projections of a map at random poses inside angle ranges (+CTF, noise)",
                       description="N projections of MAP at RELION angles drawn inside [shift, shift + coverage] "
                                   "per angle (degrees), with optional CTF and noise at an SNR; writes an MRCS "
                                   "stack and a RELION STAR file beside it. A --config file of key=value lines "
                                   "sets the same options (num, angle_shift, angle_coverage, snr, ctf, seed, "
                                   "input_file, output_file); the command line wins.")
    p.add_argument("map", nargs="?", help="input map (.mrc)")
    p.add_argument("--num", "-num", type=int, default=None, help="number of projections (default 5000)")
    p.add_argument("--angle-shift", nargs=3, type=float, metavar=("ROT", "TILT", "PSI"), default=None,
                   help="start of each angle range, degrees (default 0 0 0)")
    p.add_argument("--angle-coverage", nargs=3, type=float, metavar=("ROT", "TILT", "PSI"), default=None,
                   help="size of each angle range, degrees (default 360 180 360: all of SO(3))")
    p.add_argument("--snr", type=float, default=None, help="signal-to-noise ratio of added Gaussian noise "
                                                           "(default: noiseless)")
    p.add_argument("--ctf", action="store_true", default=None, help="apply a random CTF (defocus 1.5-3.5 um)")
    p.add_argument("--uniform-tilt", action="store_true", default=None,
                   help="draw the tilt uniformly in degrees (the seed's generator) instead of area-uniformly")
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--config", "-conf", type=Path, default=None, help="key=value config file")
    p.add_argument("--out", "-out", type=Path, default=None, help="output stack (.mrcs); the STAR goes beside")
    p.add_argument("--json", action="store_true", help="print the summary as JSON (always printed)")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=run)


def _triple(text: str, key: str) -> tuple[float, float, float]:
    vals = [v for v in re.split(r"[\s,\[\]()]+", text) if v]
    try:
        out = tuple(float(v) for v in vals)
    except ValueError:
        raise InputError(f"config: {key} must be three numbers, got {text!r}") from None
    if len(out) != 3:
        raise InputError(f"config: {key} must be three numbers, got {text!r}")
    return out  # type: ignore[return-value]


def _bool(text: str) -> bool:
    return text.strip().lower() in ("1", "true", "yes", "on")


def resolve_options(args: argparse.Namespace) -> dict:
    from cryogui.io.poses_files import read_config_file

    cfg = read_config_file(args.config) if args.config else {}
    aliases = {"projections_num": "num", "input_file": "map", "in": "map", "output_file": "out", "shift": "angle_shift",
               "coverage": "angle_coverage", "cov": "angle_coverage"}
    cfg = {aliases.get(k, k): v for k, v in cfg.items()}
    known = {"num", "map", "out", "angle_shift", "angle_coverage", "snr", "ctf", "seed", "uniform_tilt"}
    unknown = sorted(set(cfg) - known)
    if unknown:
        raise InputError(f"{args.config}: unknown key(s) {', '.join(unknown)}")
    opt = {"num": 5000, "angle_shift": (0.0, 0.0, 0.0), "angle_coverage": (360.0, 180.0, 360.0), "snr": None,
           "ctf": False, "seed": 0, "uniform_tilt": False, "map": None, "out": None}
    try:
        for k, v in cfg.items():
            if k in ("angle_shift", "angle_coverage"):
                opt[k] = _triple(v, k)
            elif k in ("num", "seed"):
                opt[k] = int(v)
            elif k == "snr":
                opt[k] = float(v) if v.lower() not in ("none", "") else None
            elif k in ("ctf", "uniform_tilt"):
                opt[k] = _bool(v)
            else:
                opt[k] = v
    except ValueError as exc:
        raise InputError(f"{args.config}: {exc}") from None
    for k in ("num", "angle_shift", "angle_coverage", "snr", "ctf", "seed", "uniform_tilt", "map", "out"):
        v = getattr(args, k, None)
        if v is not None:
            opt[k] = tuple(v) if isinstance(v, list) else v
    if not opt["map"]:
        raise InputError("no input map: give MAP or input_file in --config")
    if not opt["out"]:
        raise InputError("no output: give --out stack.mrcs")
    return opt


def run(args: argparse.Namespace) -> int:
    from cryogui.cli._common import print_json, run_with_progress, start_cli_compute
    from cryogui.core.poses.generator import GeneratorConfig, generate_projections
    from cryogui.io.poses_files import write_projection_set
    from cryogui.io.mrc import read_mrc

    opt = resolve_options(args)
    out = Path(opt["out"])
    if out.suffix.lower() != ".mrcs":
        raise InputError(f"--out {out}: the output stack must end in .mrcs")
    vol = read_mrc(Path(opt["map"]))
    if vol.kind != "map" or len(set(vol.shape)) != 1:
        raise InputError(f"{opt['map']}: needs a cubic 3D map, got shape {vol.shape}")
    apix = vol.apix_or(1.0)
    cfg = GeneratorConfig(n=int(opt["num"]), angle_shift=tuple(opt["angle_shift"]),
                          angle_coverage=tuple(opt["angle_coverage"]), snr=opt["snr"], ctf=bool(opt["ctf"]),
                          seed=int(opt["seed"]), uniform_tilt=bool(opt["uniform_tilt"]))
    cfg.check()
    start_cli_compute()
    t0 = time.perf_counter()
    res = run_with_progress(generate_projections(vol.data, apix, cfg), "project", quiet=args.quiet)
    stack, table = res.value
    star = write_projection_set(out, stack, table, apix)
    print_json({"stack": str(out), "star": str(star), "n": len(stack), "box": int(stack.shape[-1]),
                "apix": apix, "angle_shift": cfg.angle_shift, "angle_coverage": cfg.angle_coverage,
                "snr": cfg.snr, "ctf": cfg.ctf, "seed": cfg.seed, "seconds": time.perf_counter() - t0})
    return 0
