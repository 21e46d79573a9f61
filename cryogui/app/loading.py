"""Reading a file the user opened into the session (GUI side of File > Open)."""

from __future__ import annotations

from pathlib import Path

from cryogui.errors import FormatError
from cryogui.io.detect import detect_kind
from cryogui.io.mrc import read_header, read_mrc
from cryogui.models.session import Item, Session


def load_into_session(session: Session, path: Path) -> Item:
    """Detect, read (lazily for micrographs) and add one file; raises InputError/FormatError for bad files."""
    kind = detect_kind(path)
    if kind == "micrograph":
        h = read_header(path)
        apix = h["voxel_size"][0] or None
        return session.add("micrograph", path, path,
                           summary=f"{h['nx']} x {h['ny']}" + (f", {apix:.3g} A/px" if apix else ""))
    if kind == "map":
        vol = read_mrc(path)
        return session.add("map", vol, path, summary=f"{'x'.join(map(str, vol.shape))}, {vol.apix or 0:.3g} A/px")
    if kind == "stack":
        raise FormatError(path, "is a particle stack: open the STAR file that references it instead")
    if kind == "particles":
        from cryogui.io.star import read_particles

        pset = read_particles(path)
        return session.add("particles", pset, path, summary=f"{len(pset)} particles")
    if kind == "cs":
        from cryogui.io.cryosparc import read_cs
        from cryogui.io.star import ParticleSet

        df = read_cs(path)
        if "rlnCoordinateX" in df and "rlnAngleRot" not in df:
            return session.add("coords", path, path, summary=f"{len(df)} picks (cryoSPARC)")
        what = "with poses" if "rlnAngleRot" in df else "without 3D poses"
        return session.add("particles", ParticleSet(df=df, source=str(path)), path,
                           summary=f"{len(df)} particles {what} (cryoSPARC)")
    if kind == "coords":
        return session.add("coords", path, path)
    if kind == "model":
        from cryogui.io.gmm_json import load_model

        model = load_model(path)
        return session.add("model", model, path, summary=f"{len(model.positions)} Gaussians")
    return session.add("star", path, path)
