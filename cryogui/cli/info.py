"""``cryogui info FILE``: what a file is (maps/stacks/micrographs: shape, dtype, pixel size, origin; STAR: blocks,
rows, columns; coordinates: count per micrograph).  ``--json`` prints one JSON object (a list for several files)."""

from __future__ import annotations

from pathlib import Path

from cryogui.cli._common import print_json

MODE_DTYPES = {0: "int8", 1: "int16", 2: "float32", 4: "complex64", 6: "uint16", 12: "float16", 101: "uint4"}


def describe(path: Path) -> dict:
    from cryogui.io.detect import detect_kind
    from cryogui.io.mrc import read_header

    kind = detect_kind(path)
    info: dict = {"path": str(path), "kind": kind}
    if kind in ("map", "stack", "micrograph"):
        h = read_header(path)
        vx, vy, vz = h["voxel_size"]
        shape = [h["ny"], h["nx"]] if kind == "micrograph" else [h["nz"], h["ny"], h["nx"]]
        origin = h["origin"]
        if origin == (0.0, 0.0, 0.0):
            origin = tuple(n * v for n, v in zip(h["nstart"], (vx, vy, vz)))
        info.update(shape=shape, dtype=MODE_DTYPES.get(h["mode"], str(h["mode"])), mode=h["mode"],
                    pixel_size=vx if vx > 0 else None,
                    voxel_size=[vx, vy, vz], origin=list(origin), nstart=list(h["nstart"]))
        if kind == "stack":
            info["images"] = h["nz"]
        return info
    if kind in ("particles", "coords", "star"):
        from cryogui.io.star import read_star

        blocks = read_star(path)
        info["blocks"] = {name or "(unnamed)": {"rows": int(len(df)), "columns": list(map(str, df.columns))}
                          for name, df in blocks.items()}
    if kind == "particles":
        from cryogui.io.star import read_particles

        pset = read_particles(path)
        info.update(particles=len(pset), pixel_size=pset.apix, box=pset.box, has_poses=pset.has_poses,
                    has_ctf=pset.has_ctf)
        if pset.has("rlnCoordinateX", "rlnCoordinateY"):  # particles with pick coordinates are picks too
            kind = "coords"
    if kind == "model":
        from cryogui.io.gmm_json import load_model

        model = load_model(path)
        info.update(gaussians=len(model.positions))
        for key in ("box", "apix", "anisotropic"):
            if hasattr(model, key):
                info[key] = getattr(model, key)
        return info
    if kind == "cs":
        from cryogui.io.cryosparc import read_cs

        df = read_cs(path)
        info.update(rows=len(df), has_poses="rlnAngleRot" in df, columns=list(map(str, df.columns)))
        if "rlnCoordinateX" not in df:  # particles without pick locations (an alignment export)
            info["particles"] = len(df)
            return info
    if kind in ("coords", "cs"):
        from cryogui.io.coords import count_picks

        counts = count_picks(path)
        info.update(picks=int(sum(counts.values())), picks_per_micrograph=counts)
    return info


def _print_text(info: dict) -> None:
    print(f"{info['path']}: {info['kind']}")
    for key, value in info.items():
        if key in ("path", "kind"):
            continue
        if key == "blocks":
            for name, b in value.items():
                cols = ", ".join(b["columns"][:12]) + (" ..." if len(b["columns"]) > 12 else "")
                print(f"  block {name}: {b['rows']} rows; columns: {cols}")
        elif key == "picks_per_micrograph":
            for mic, n in list(value.items())[:20]:
                print(f"  {mic or '(no micrograph name)'}: {n} picks")
            if len(value) > 20:
                print(f"  ... {len(value) - 20} more micrographs")
        elif key == "columns":
            continue
        else:
            print(f"  {key}: {value}")


def cmd_info(args) -> int:
    infos = [describe(Path(p)) for p in args.files]
    if args.json:
        print_json(infos[0] if len(infos) == 1 else infos)
    else:
        for info in infos:
            _print_text(info)
    return 0


def register(sub) -> None:
    p = sub.add_parser("info", help="describe a map, stack, micrograph, STAR, coordinates or .cs file")
    p.add_argument("files", nargs="+", type=Path)
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=cmd_info)
