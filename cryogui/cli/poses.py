"""``cryogui poses train|recover|compare``: distance learning, orientation recovery, comparison of pose sets."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from cryogui.errors import InputError


def register(sub) -> None:
    p = sub.add_parser("poses", help="learn pairwise distances, recover orientations, compare pose sets")
    ps = p.add_subparsers(dest="poses_command", metavar="SUBCOMMAND")

    t = ps.add_parser("train", help="train a Siamese distance network on particles with known poses")
    t.add_argument("--particles", type=Path, required=True, help="STAR (or cryoSPARC .cs) with images and poses")
    t.add_argument("--out", type=Path, required=True, help="model file (.pt)")
    t.add_argument("--steps", type=int, default=None,
                   help="training steps (default: the network's, 3000: about 60 passes over 5,000 images)")
    t.add_argument("--batch", type=int, default=96, help="images per step (all pairs among them are used)")
    t.add_argument("--size", type=int, default=32, help="images are resampled to SIZE px (multiple of 8)")
    t.add_argument("--lr", type=float, default=2e-3)
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--json", action="store_true")
    t.add_argument("--quiet", action="store_true")
    t.set_defaults(func=run_train)

    r = ps.add_parser("recover", help="recover orientations from pairwise distances")
    r.add_argument("--particles", type=Path, required=True)
    r.add_argument("--distance", choices=("learned", "exact", "image"), default="learned",
                   help="learned (needs --model), exact (from the file's poses: sanity check), image (baseline)")
    r.add_argument("--model", type=Path, default=None, help="distance model from 'cryogui poses train'")
    r.add_argument("--out", type=Path, required=True, help="output STAR with the recovered angles")
    r.add_argument("--steps", type=int, default=3000)
    r.add_argument("--batch-pairs", type=int, default=4096)
    r.add_argument("--lr", type=float, default=0.05)
    r.add_argument("--seed", type=int, default=0)
    r.add_argument("--json", action="store_true")
    r.add_argument("--quiet", action="store_true")
    r.set_defaults(func=run_recover)

    c = ps.add_parser("compare", help="median/mean angular error between two pose sets after the best global "
                                      "rotation, with and without mirror")
    c.add_argument("a", type=Path)
    c.add_argument("b", type=Path)
    c.add_argument("--json", action="store_true")
    c.set_defaults(func=run_compare)
    p.set_defaults(func=lambda a: (p.print_help(), 0)[1])


def _emit(summary: dict, as_json: bool) -> None:
    from cryogui.cli._common import print_json

    if as_json:
        print_json(summary)
    else:
        for k, v in summary.items():
            print(f"{k}: {v:.6g}" if isinstance(v, float) else f"{k}: {v}")


def run_train(args: argparse.Namespace) -> int:
    from cryogui.cli._common import run_with_progress, start_cli_compute
    from cryogui.io.poses_files import pose_quaternions, read_any_particles
    from cryogui.core.poses.siamese import SiameseConfig, train_siamese
    from cryogui.io.star import load_images

    pset = read_any_particles(args.particles)
    q = pose_quaternions(pset)
    images = load_images(pset)
    if args.steps is None:
        args.steps = SiameseConfig.steps
    if args.steps < 1 or args.batch < 2:
        raise InputError("--steps must be >= 1 and --batch >= 2")
    start_cli_compute()
    cfg = SiameseConfig(size=args.size, steps=args.steps, batch=args.batch, lr=args.lr, seed=args.seed,
                        report_every=max(1, min(50, args.steps // 10)))
    t0 = time.perf_counter()
    res = run_with_progress(train_siamese(images, q, cfg), "train", quiet=args.quiet)
    trained = res.value
    from cryogui.io.poses_files import save_distance_model

    save_distance_model(trained, args.out)
    last = res.last.metrics if res.last else {}
    _emit({"model": str(args.out), "n": len(images), "steps": cfg.steps, "loss": last.get("loss"),
           "val_loss": last.get("val_loss"), "seconds": time.perf_counter() - t0}, args.json)
    return 0


def run_recover(args: argparse.Namespace) -> int:
    from cryogui.cli._common import run_with_progress, start_cli_compute
    from cryogui.core.poses.align import align_orientations
    from cryogui.io.poses_files import pose_quaternions, read_any_particles
    from cryogui.core.poses.recover import EmbeddingDistance, ExactDistance, ImageDistance, recover_orientations
    from cryogui.io.poses_files import load_distance_model
    from cryogui.core.rotations import quaternion_to_euler
    from cryogui.io.star import load_images, write_particles

    pset = read_any_particles(args.particles)
    truth = pose_quaternions(pset) if pset.has_poses else None
    t0 = time.perf_counter()
    if args.distance == "exact":
        if truth is None:
            pose_quaternions(pset)  # raises the clear message
        source = ExactDistance(truth)
    elif args.distance == "learned":
        if args.model is None:
            raise InputError("--distance learned needs --model (a file from 'cryogui poses train')")
        model = load_distance_model(args.model)
        images = load_images(pset)
        if images.shape[-1] != model.box:
            raise InputError(f"{args.particles}: images are {images.shape[-1]} px but {args.model} was trained on "
                             f"{model.box} px images")
        source = EmbeddingDistance(model.embed(images))
    else:
        source = ImageDistance(load_images(pset), seed=args.seed)
    if args.out.suffix.lower() != ".star":
        raise InputError(f"--out {args.out}: must be a .star file")
    start_cli_compute()
    res = run_with_progress(recover_orientations(source, steps=args.steps, batch_pairs=args.batch_pairs, lr=args.lr,
                                                 seed=args.seed, report_every=max(1, args.steps // 50)),
                            f"recover ({args.distance})", quiet=args.quiet)
    quats = res.value.quats
    ang = quaternion_to_euler(quats)
    df = pset.df.copy()
    df["rlnAngleRot"], df["rlnAngleTilt"], df["rlnAnglePsi"] = ang[:, 0], ang[:, 1], ang[:, 2]
    if "pixel_size" in df and df["pixel_size"].isna().all():
        df["pixel_size"] = 1.0
    write_particles(args.out, pset, df)
    summary = {"out": str(args.out), "n": len(quats), "distance": args.distance,
               "final_loss": res.value.losses[-1] if res.value.losses else None,
               "seconds": time.perf_counter() - t0}
    if truth is not None:
        al = align_orientations(truth, quats)
        summary.update({"median_rad_vs_input": al.median_rad, "median_deg_vs_input": al.median_deg,
                        "mirror": al.mirror})
    _emit(summary, args.json)
    return 0


def run_compare(args: argparse.Namespace) -> int:
    from cryogui.core.poses.align import align_orientations
    from cryogui.io.poses_files import match_rows, pose_quaternions, read_any_particles

    a = read_any_particles(args.a)
    b = read_any_particles(args.b)
    qa, qb = pose_quaternions(a), pose_quaternions(b)
    ia, ib, how = match_rows(a, b)
    al = align_orientations(qa[ia], qb[ib])
    out = al.summary()
    out["matched_by"] = how
    out = {k: out[k] for k in ("median_deg", "mean_deg", "median_rad", "mean_rad", "mirror", "n",
                               "other_median_rad", "matched_by")}
    _emit(out, args.json)
    return 0
