"""``cryogui pick``, ``cryogui picks convert|score`` and ``cryogui simulate micrographs``."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from cryogui.cli._common import print_json, run_with_progress, start_cli_compute
from cryogui.errors import InputError


def _loaders(paths):
    """(name, loader) pairs: the job reads each micrograph when it gets to it."""
    from cryogui.io.mrc import read_mrc

    return [(str(p), (lambda p=p: read_mrc(p).data)) for p in paths]


def cmd_train(args) -> int:
    """Train the learned picker on synthetic data and write its weights atomically."""
    from cryogui.core.picking.learned import WEIGHTS, model_bytes, train_job
    from cryogui.io.atomic import write_bytes_atomic

    start_cli_compute()
    if args.steps < 1 or args.batch < 1 or args.pool < args.batch:
        raise InputError("--steps and --batch must be positive and --pool at least --batch")
    t0 = time.perf_counter()
    res = run_with_progress(train_job(steps=args.steps, batch=args.batch, pool=args.pool, seed=args.seed),
                            "train", quiet=args.json)
    out = args.out or WEIGHTS
    write_bytes_atomic(out, model_bytes(res.value))
    summary = {"out": str(out), "kib": out.stat().st_size / 1024, "steps": args.steps,
               "final_loss": float(res.last.metrics.get("loss", float("nan"))) if res.last else None,
               "seconds": time.perf_counter() - t0}
    print_json(summary) if args.json else print(f"weights written to {out} ({summary['kib']:.0f} KiB, "
                                                f"final loss {summary['final_loss']:.3f})")
    return 0


def cmd_pick(args) -> int:
    from cryogui.core.picking.autopick import AutopickParams, autopick_job
    from cryogui.io.coords import write_picks

    start_cli_compute()
    for m in args.micrographs:
        if not Path(m).exists():
            raise InputError(f"{m}: no such file")
    if args.threshold is not None and not 0 <= args.threshold <= 1:
        raise InputError(f"--threshold {args.threshold}: must lie in [0, 1]")
    if args.diameter is not None and args.diameter <= 2:
        raise InputError(f"--diameter {args.diameter}: must be more than 2 pixels")
    t0 = time.perf_counter()
    if args.method == "learned":
        from cryogui.core.picking.learned import learned_pick_job, load_default_model

        model = load_default_model(args.weights)
        gen = learned_pick_job(_loaders(args.micrographs), model, diameter=args.diameter)
        threshold = 0.5 if args.threshold is None else args.threshold
    else:
        params = AutopickParams(diameter=args.diameter)
        if args.threshold is not None:
            params.threshold = args.threshold
        threshold = params.threshold
        gen = autopick_job(_loaders(args.micrographs), params)
    res = run_with_progress(gen, "pick", quiet=args.json)
    table = res.value
    keep = table[table.score >= threshold].reset_index(drop=True)
    write_picks(args.out, keep, fmt=None)
    secs = time.perf_counter() - t0
    per = {str(k): int(v) for k, v in keep.groupby("micrograph").size().items()}
    summary = {"out": str(args.out), "method": args.method, "micrographs": len(args.micrographs),
               "picks": int(len(keep)), "per_micrograph": per, "threshold": threshold,
               "median_diameter_px": float(np.median(keep.diameter)) if len(keep) else None,
               "seconds": secs}
    if args.json:
        print_json(summary)
    else:
        print(f"{len(keep)} picks on {len(args.micrographs)} micrograph(s) written to {args.out} ({secs:.2f} s)")
    return 0


def cmd_convert(args) -> int:
    from cryogui.io.coords import read_picks, write_picks, write_picks_per_micrograph

    df = read_picks(args.input, default_box=args.box)
    out = Path(args.output)
    if out.suffix.lower() in (".box", ".cbox") and df["micrograph"].nunique() > 1:
        paths = write_picks_per_micrograph(out.parent, df, fmt=out.suffix, box=args.box)
        written = [str(p) for p in paths]
    else:
        write_picks(out, df, box=args.box)
        written = [str(out)]
    summary = {"input": str(args.input), "written": written, "picks": int(len(df))}
    print_json(summary) if args.json else print(f"{len(df)} picks written to {', '.join(written)}")
    return 0


def cmd_score(args) -> int:
    from cryogui.core.picking.metrics import score_picks
    from cryogui.io.coords import read_picks

    pred = read_picks(args.pred)
    truth = read_picks(args.truth)
    if not 0 < args.radius_frac <= 2:
        raise InputError(f"--radius-frac {args.radius_frac}: must lie in (0, 2]")
    s = score_picks(pred, truth, threshold=args.threshold, radius_frac=args.radius_frac,
                    default_diameter=args.diameter)
    out = {k: s[k] for k in ("precision", "recall", "f", "ap", "tp", "fp", "fn", "n_pred", "n_truth", "threshold")}
    out["radius_frac"] = args.radius_frac
    if args.json:
        print_json(out)
    else:
        print(f"precision {out['precision']:.4f}  recall {out['recall']:.4f}  F {out['f']:.4f}  AP {out['ap']:.4f}"
              f"  (TP {out['tp']}, FP {out['fp']}, FN {out['fn']})")
    return 0


def write_micrograph_set(out_dir: str | Path, count: int = 4, shape: tuple[int, int] = (1024, 1024),
                            diameter_px: float = 60, n_particles: int = 80, snr: float = 0.3, apix: float = 1.5,
                            seed: int = 0, contamination: bool = True, ice_gradient: bool = True,
                            sizes=None, prefix: str = "mic") -> list[Path]:
    """Write ``count`` micrographs ``<prefix>_NNN.mrc`` and ``truth.star`` (rlnMicrographName, rlnCoordinateX/Y,
    rlnDiameterPx) into ``out_dir``.  Returns the micrograph paths."""
    import pandas as pd

    from cryogui.core.simulate.micrographs import simulate_micrograph
    from cryogui.io.mrc import write_mrc
    from cryogui.io.star import write_star

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths, tables = [], []
    for i in range(int(count)):
        img, truth = simulate_micrograph(shape=shape, diameter_px=diameter_px, n_particles=n_particles, snr=snr,
                                         apix=apix, seed=seed + i, contamination=contamination,
                                         ice_gradient=ice_gradient, sizes=sizes)
        p = out / f"{prefix}_{i:03d}.mrc"
        write_mrc(p, img, apix)
        paths.append(p)
        tables.append(pd.DataFrame({"rlnMicrographName": p.name, "rlnCoordinateX": truth.x,
                                    "rlnCoordinateY": truth.y, "rlnDiameterPx": truth.diameter}))
    df = pd.concat(tables, ignore_index=True) if tables else pd.DataFrame(
        columns=["rlnMicrographName", "rlnCoordinateX", "rlnCoordinateY", "rlnDiameterPx"])
    write_star(out / "truth.star", {"particles": df})
    return paths


def cmd_simulate_micrographs(args) -> int:
    if args.count < 1:
        raise InputError("--count must be at least 1")
    if args.diameter <= 2:
        raise InputError(f"--diameter {args.diameter}: must be more than 2 pixels")
    if args.snr <= 0:
        raise InputError(f"--snr {args.snr}: must be positive")
    sizes = [float(s) for s in args.sizes.split(",")] if args.sizes else None
    t0 = time.perf_counter()
    paths = write_micrograph_set(args.out, count=args.count, shape=(args.size, args.size),
                                    diameter_px=args.diameter, n_particles=args.n_particles, snr=args.snr,
                                    apix=args.apix, seed=args.seed, contamination=not args.clean,
                                    ice_gradient=not args.clean, sizes=sizes)
    summary = {"out": str(args.out), "micrographs": [str(p) for p in paths],
               "truth": str(Path(args.out) / "truth.star"), "seconds": time.perf_counter() - t0}
    print_json(summary) if args.json else print(f"{len(paths)} micrographs and truth.star written to {args.out}")
    return 0


def add_simulate_micrographs(ss) -> None:
    """``cryogui simulate micrographs`` (called by :mod:`cryogui.cli.simulate`)."""
    m = ss.add_parser("micrographs", help="simulated micrographs with truth picks (truth.star)")
    m.add_argument("--out", type=Path, required=True, help="output folder")
    m.add_argument("--count", type=int, default=4)
    m.add_argument("--diameter", type=float, default=60.0, help="particle diameter in pixels")
    m.add_argument("--sizes", default="", help="several diameters, comma separated (mixed sizes)")
    m.add_argument("--n-particles", type=int, default=80)
    m.add_argument("--size", type=int, default=1024, help="micrograph side in pixels")
    m.add_argument("--snr", type=float, default=0.3, help="per-particle signal-to-noise ratio")
    m.add_argument("--apix", type=float, default=1.5)
    m.add_argument("--seed", type=int, default=0)
    m.add_argument("--clean", action="store_true", help="no contamination, carbon edge or ice gradient")
    m.add_argument("--json", action="store_true")
    m.set_defaults(func=cmd_simulate_micrographs)


def register(sub) -> None:
    p = sub.add_parser("pick", help="auto-pick particles without knowing their size; writes RELION STAR")
    p.add_argument("micrographs", nargs="+", type=Path, metavar="MIC.mrc")
    p.add_argument("--out", type=Path, required=True, help="picks file (.star, .csv, .txt; format by extension)")
    p.add_argument("--method", choices=("auto", "learned"), default="auto")
    p.add_argument("--diameter", type=float, default=None, help="approximate diameter (px); optional")
    p.add_argument("--threshold", type=float, default=None, help="confidence threshold in [0, 1] (default 0.5)")
    p.add_argument("--weights", type=Path, default=None, help="learned picker weights (default: shipped)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_pick)

    q = sub.add_parser("picks", help="convert or score particle picks")
    qs = q.add_subparsers(dest="what", metavar="WHAT", required=True)
    c = qs.add_parser("convert", help="convert between formats (by extension: .star .cbox .box .txt .csv; .cs in)")
    c.add_argument("input", type=Path)
    c.add_argument("output", type=Path)
    c.add_argument("--box", type=float, default=None, help="box size (px) for .box/.cbox")
    c.add_argument("--json", action="store_true")
    c.set_defaults(func=cmd_convert)
    t = qs.add_parser("train", help="train the learned picker on synthetic micrographs (random-size crops)")
    t.add_argument("--steps", type=int, default=700)
    t.add_argument("--batch", type=int, default=12)
    t.add_argument("--pool", type=int, default=320, help="number of simulated training patches")
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--out", type=Path, default=None, help="weights file (default: the shipped one)")
    t.add_argument("--json", action="store_true")
    t.set_defaults(func=cmd_train)
    s = qs.add_parser("score", help="precision, recall, F and AP of predicted picks against truth")
    s.add_argument("pred", type=Path)
    s.add_argument("truth", type=Path)
    s.add_argument("--radius-frac", type=float, default=0.3, help="match radius as a fraction of the diameter")
    s.add_argument("--threshold", type=float, default=None, help="confidence threshold (default: all picks)")
    s.add_argument("--diameter", type=float, default=50.0, help="diameter (px) when neither file gives one")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_score)
