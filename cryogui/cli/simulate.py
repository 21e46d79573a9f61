"""``cryogui simulate map|particles|micrographs|motion``: seeded synthetic data sets.

``micrographs`` and ``motion`` come from their methods' modules (picking, eigen-motion), which add themselves here
through ``add_simulate_<name>(subparsers)`` functions.
"""

from __future__ import annotations

import importlib
import time
from pathlib import Path

from cryogui.cli._common import print_json, start_cli_compute
from cryogui.errors import InputError


def cmd_map(args) -> int:
    from cryogui.core.simulate.maps import demo_map
    from cryogui.io.mrc import write_mrc

    if args.box < 16:
        raise InputError(f"--box {args.box}: at least 16 voxels")
    vol = demo_map(box=args.box, apix=args.apix, seed=args.seed)
    write_mrc(args.out, vol.data, vol.apix, vol.origin)
    summary = {"out": str(args.out), "box": args.box, "apix": args.apix}
    print_json(summary) if args.json else print(f"map written to {args.out}")
    return 0


def cmd_particles(args) -> int:
    from cryogui.core.simulate.particles import simulate_particles
    from cryogui.io.mrc import read_mrc
    from cryogui.io.star import write_particle_stack

    start_cli_compute()
    if args.n < 1:
        raise InputError("--n must be at least 1")
    vol = read_mrc(args.map)
    if vol.data.ndim != 3:
        raise InputError(f"{args.map}: not a 3D map")
    if not vol.apix:
        raise InputError(f"{args.map}: the header has no pixel size; give one with --apix")
    t0 = time.perf_counter()
    stack, table = simulate_particles(vol.data, args.apix or vol.apix, args.n, snr=args.snr if args.snr > 0 else None,
                                      ctf=not args.no_ctf, seed=args.seed)
    star, mrcs = write_particle_stack(args.out, stack, table, args.apix or vol.apix)
    summary = {"star": str(star), "stack": str(mrcs), "particles": args.n, "seconds": time.perf_counter() - t0}
    print_json(summary) if args.json else print(f"{args.n} particles written to {star} and {mrcs}")
    return 0


def register(sub) -> None:
    p = sub.add_parser("simulate", help="write synthetic data sets (seeded)")
    ss = p.add_subparsers(dest="what", metavar="WHAT", required=True)
    m = ss.add_parser("map", help="the multi-domain demo map")
    m.add_argument("--out", type=Path, required=True)
    m.add_argument("--box", type=int, default=64)
    m.add_argument("--apix", type=float, default=4.0)
    m.add_argument("--seed", type=int, default=0)
    m.add_argument("--json", action="store_true")
    m.set_defaults(func=cmd_map)
    q = ss.add_parser("particles", help="projections of a map with CTF and noise, as MRCS + STAR")
    q.add_argument("map", type=Path)
    q.add_argument("--out", type=Path, required=True, help="particles.star (the stack goes beside it)")
    q.add_argument("--n", type=int, default=1000)
    q.add_argument("--snr", type=float, default=1.0, help="0 for noiseless")
    q.add_argument("--no-ctf", action="store_true")
    q.add_argument("--apix", type=float, default=None)
    q.add_argument("--seed", type=int, default=0)
    q.add_argument("--json", action="store_true")
    q.set_defaults(func=cmd_particles)
    for module, func in (("cryogui.cli.pick", "add_simulate_micrographs"),
                         ("cryogui.cli.motion", "add_simulate_motion")):
        try:
            mod = importlib.import_module(module)
        except ImportError as exc:
            if exc.name != module:  # a real import error inside the module: let it show
                raise
            continue
        if hasattr(mod, func):
            getattr(mod, func)(ss)
