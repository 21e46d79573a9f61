"""The demo data set: a map, micrographs with ground truth, and a particle stack with poses and CTF.

``cryogui demo --out DIR`` writes it; ``cryogui`` with no arguments writes it once under the user's data folder and
opens it.  Everything is simulated with fixed seeds, so every machine gets the same files.
"""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import pandas as pd

from cryogui import __version__

log = logging.getLogger("cryogui.demo")
DEMO_MAP_BOX = 64
DEMO_MAP_APIX = 4.0
DEMO_MICROGRAPH_APIX = 2.0
STAMP = "demo.json"
SAMPLES = Path(__file__).parent / "resources" / "samples"


def demo_is_complete(out: Path) -> bool:
    stamp = Path(out) / STAMP
    if not stamp.exists():
        return False
    try:
        info = json.loads(stamp.read_text())
    except ValueError:
        return False
    return info.get("version") == __version__ and all((Path(out) / f).exists() for f in info.get("files", []))


def write_demo(out: str | Path, n_micrographs: int = 3, n_particles: int = 500, micrograph_size: int = 1024,
               progress=None) -> dict:
    """Write the demo data set into ``out`` and return a summary (paths relative to ``out``)."""
    from cryogui.core.simulate.maps import demo_map
    from cryogui.core.simulate.micrographs import simulate_micrograph
    from cryogui.core.simulate.particles import simulate_particles
    from cryogui.io.mrc import write_mrc
    from cryogui.io.star import write_particle_stack, write_star

    out = Path(out)
    say = progress or (lambda msg: log.info(msg))
    files: list[str] = []

    say("map")
    vol = demo_map(box=DEMO_MAP_BOX, apix=DEMO_MAP_APIX, seed=0)
    write_mrc(out / "maps" / "demo_map.mrc", vol.data, vol.apix, vol.origin)
    files.append("maps/demo_map.mrc")

    truth_rows = []
    for i in range(n_micrographs):
        say(f"micrograph {i + 1}/{n_micrographs}")
        image, truth = simulate_micrograph(shape=(micrograph_size, micrograph_size), diameter_px=48,
                                           n_particles=int(60 * (micrograph_size / 1024) ** 2),
                                           apix=DEMO_MICROGRAPH_APIX, seed=100 + i)
        name = f"mic_{i:03d}.mrc"
        write_mrc(out / "micrographs" / name, image, DEMO_MICROGRAPH_APIX)
        files.append(f"micrographs/{name}")
        t = pd.DataFrame({"rlnMicrographName": name, "rlnCoordinateX": truth["x"].to_numpy(),
                          "rlnCoordinateY": truth["y"].to_numpy()})
        if "diameter" in truth:
            t["rlnDiameter"] = truth["diameter"].to_numpy()
        truth_rows.append(t)
    write_star(out / "micrographs" / "truth.star", {"particles": pd.concat(truth_rows, ignore_index=True)})
    files.append("micrographs/truth.star")

    say(f"{n_particles} particles")
    stack, table = simulate_particles(vol.data, vol.apix, n_particles, snr=1.0, ctf=True, seed=7)
    write_particle_stack(out / "particles" / "particles.star", stack, table, vol.apix)
    files += ["particles/particles.star", "particles/particles.mrcs"]

    real = out / "real"
    real.mkdir(parents=True, exist_ok=True)
    for sample in sorted(SAMPLES.glob("*.mrc")):
        shutil.copyfile(sample, real / sample.name)
        files.append(f"real/{sample.name}")

    summary = {"version": __version__, "files": files, "map_apix": DEMO_MAP_APIX,
               "micrograph_apix": DEMO_MICROGRAPH_APIX, "particles": n_particles, "micrographs": n_micrographs}
    (out / STAMP).write_text(json.dumps(summary, indent=1))
    return summary


def ensure_demo(out: str | Path, progress=None) -> Path:
    out = Path(out)
    if not demo_is_complete(out):
        write_demo(out, progress=progress)
    return out


def demo_job(out: str | Path):
    """The demo writer as a job generator (for the GUI's first start): yields a snapshot per file group."""
    from cryogui.core.jobs import Snapshot

    steps = ["map", "micrographs", "particles"]
    messages: list[str] = []

    def progress(msg: str) -> None:
        messages.append(msg)

    out = Path(out)
    yield Snapshot(0, len(steps), message="writing demo data")
    summary = write_demo(out, progress=progress)
    yield Snapshot(len(steps), len(steps), message="demo data ready")
    return summary
