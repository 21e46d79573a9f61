"""``cryogui demo --out DIR``: write the demo data set (map, micrographs with truth, particles with poses/CTF)."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from cryogui.cli._common import print_json, start_cli_compute


def cmd_demo(args) -> int:
    from cryogui.demo import write_demo

    start_cli_compute()
    t0 = time.perf_counter()
    summary = write_demo(Path(args.out), n_micrographs=args.micrographs, n_particles=args.particles,
                         progress=lambda m: print(f"demo: {m}", file=sys.stderr))
    summary["seconds"] = round(time.perf_counter() - t0, 2)
    summary["out"] = str(Path(args.out).resolve())
    if args.json:
        print_json(summary)
    else:
        print(f"demo data written to {summary['out']} ({len(summary['files'])} files, {summary['seconds']} s)")
    return 0


def register(sub) -> None:
    p = sub.add_parser("demo", help="write the demo data set")
    p.add_argument("--out", required=True, type=Path)
    p.add_argument("--micrographs", type=int, default=3)
    p.add_argument("--particles", type=int, default=500)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_demo)
