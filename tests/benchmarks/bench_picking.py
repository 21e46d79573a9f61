"""Picking benchmark: accuracy and speed of our pickers next to ``relion_autopick --LoG`` measured in the same run,
and the Picking panel's redraw time with a 4096 x 4096 micrograph and 2,000 picks.

Run: ``make bench`` (or ``xvfb-run -a python tests/benchmarks/bench_picking.py [--quick]``).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from cryogui.core.device import configure_threads, describe_device  # noqa: E402
from cryogui.core.picking.autopick import autopick  # noqa: E402
from cryogui.core.picking.metrics import score_picks  # noqa: E402
from cryogui.core.simulate.micrographs import simulate_micrograph  # noqa: E402
from cryogui.io.coords import read_picks  # noqa: E402
from cryogui.io.mrc import write_mrc  # noqa: E402

APIX = 1.5


def relion_log(mrc: Path, dmin_px: float, dmax_px: float, work: Path) -> tuple[pd.DataFrame, float]:
    """Run relion_autopick --LoG on one micrograph; (picks, seconds including process start)."""
    odir = work / f"relion_{int(dmin_px)}_{int(dmax_px)}"
    shutil.rmtree(odir, ignore_errors=True)
    cmd = ["relion_autopick", "--i", str(mrc.name), "--odir", str(odir) + "/", "--pickname", "autopick", "--LoG",
           "--LoG_diam_min", f"{dmin_px * APIX:.1f}", "--LoG_diam_max", f"{dmax_px * APIX:.1f}",
           "--angpix", str(APIX)]
    t0 = time.perf_counter()
    subprocess.run(cmd, cwd=mrc.parent, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    secs = time.perf_counter() - t0
    out = odir / f"{mrc.stem}_autopick.star"
    if not out.exists():
        return pd.DataFrame(columns=["x", "y", "score", "diameter"]), secs
    df = read_picks(out)
    return df, secs


def fmt(s: dict) -> str:
    return f"P {s['precision']:.3f}  R {s['recall']:.3f}  F {s['f']:.3f}  AP {s['ap']:.3f}"


def accuracy(work: Path, quick: bool) -> None:
    have_relion = shutil.which("relion_autopick") is not None
    model = None
    try:
        from cryogui.core.picking.learned import learned_pick, load_default_model

        model = load_default_model()
    except Exception as exc:  # weights missing
        print(f"  (learned picker skipped: {exc})")
    n_mic = 1 if quick else 3
    for diameter, n_part in ((40, 150), (100, 40)):
        rows = {"ours (default, size not given)": [], "ours (learned, size not given)": [],
                "RELION LoG broad 20-300 px": [], f"RELION LoG true range {int(0.8 * diameter)}-"
                                                  f"{int(1.2 * diameter)} px": []}
        for k in range(n_mic):
            img, truth = simulate_micrograph(shape=(1024, 1024), diameter_px=diameter, n_particles=n_part,
                                             snr=0.3, apix=APIX, seed=1000 + 17 * k + diameter)
            mrc = work / f"acc_{diameter}_{k}.mrc"
            write_mrc(mrc, img, APIX)
            keys = list(rows)
            p = autopick(img)
            rows[keys[0]].append((p, truth))
            if model is not None:
                rows[keys[1]].append((learned_pick(img, model), truth))
            if have_relion:
                rows[keys[2]].append((relion_log(mrc, 20, 300, work)[0], truth))
                rows[keys[3]].append((relion_log(mrc, 0.8 * diameter, 1.2 * diameter, work)[0], truth))
        print(f"\n  particles ~{diameter} px, {n_mic} micrograph(s) 1024^2, SNR 0.3, contamination + carbon edge:")
        ref = None
        for name, items in rows.items():
            if not items:
                continue
            pred = pd.concat([it[0].assign(micrograph=f"m{i}") for i, it in enumerate(items)], ignore_index=True)
            tru = pd.concat([it[1].assign(micrograph=f"m{i}") for i, it in enumerate(items)], ignore_index=True)
            thr = 0.5 if name.startswith("ours") else None      # RELION writes only what passed its threshold
            s = score_picks(pred, tru, threshold=thr)
            if name.startswith("RELION LoG true"):
                ref = s
            rows[name] = s
        for name, s in rows.items():
            if isinstance(s, dict):
                ratio = f"  (F ratio to RELION true-range LoG: {s['f'] / ref['f']:.2f})" if ref and ref["f"] else ""
                print(f"    {name:<40s} {fmt(s)}{ratio}")


def speed(work: Path, quick: bool) -> None:
    img, truth = simulate_micrograph(shape=(4096, 4096), diameter_px=100, n_particles=500, snr=0.3, apix=APIX,
                                     seed=5)
    mrc = work / "speed_4096.mrc"
    write_mrc(mrc, img, APIX)
    reps = 1 if quick else 3
    autopick(img)                                 # warm-up (allocations, FFT plans)
    t = []
    for _ in range(reps):
        t0 = time.perf_counter()
        p = autopick(img)
        t.append(time.perf_counter() - t0)
    ours = min(t)
    s = score_picks(p, truth, threshold=0.5)
    print(f"\n  4096^2 micrograph, 100 px particles: default picker {ours:.2f} s/micrograph (F {s['f']:.3f})")
    try:
        from cryogui.core.picking.learned import learned_pick, load_default_model

        model = load_default_model()
        learned_pick(img, model)
        t0 = time.perf_counter()
        lp = learned_pick(img, model)
        tl = time.perf_counter() - t0
        sl = score_picks(lp, truth, threshold=0.5)
        print(f"    learned picker {tl:.2f} s/micrograph (F {sl['f']:.3f})")
    except Exception as exc:
        print(f"    learned picker skipped: {exc}")
    if shutil.which("relion_autopick"):
        rt = []
        for _ in range(reps):
            rp, secs = relion_log(mrc, 80, 120, work)
            rt.append(secs)
        rs = score_picks(rp, truth)
        rl = min(rt)
        print(f"    relion_autopick --LoG (true range, process start included) {rl:.2f} s/micrograph "
              f"(F {rs['f']:.3f})")
        print(f"    ratio ours / RELION LoG: {ours / rl:.2f}x the time")
    else:
        print("    relion_autopick not installed: no reference")


def _legacy_scatter(like):
    """The Picking view's previous circle drawing (reference for the redraw figures): a pyqtgraph ScatterPlotItem
    with data-scaled circles (pxMode=False) and one pen per circle, styled like the ``CircleSet`` it stands for and
    answering the same ``set_data`` call the panel makes."""
    import pyqtgraph as pg

    item = pg.ScatterPlotItem(pxMode=False, symbol="o", brush=like._brush, pen=like._pen(like._pack(like._color)))
    item.setZValue(like.zValue())
    item.mouseClickEvent = lambda ev: ev.ignore()
    pens: dict = {}

    def pen(rgba):
        key = tuple(int(c) for c in rgba)
        if key not in pens:
            pens[key] = pg.mkPen(pg.mkColor(*key), width=2, cosmetic=True)
        return pens[key]

    def set_data(x, y, size, colors=None):
        if len(x) == 0:
            item.setData([], [])
        elif colors is None:
            item.setData(x=np.asarray(x), y=np.asarray(y), size=np.asarray(size))
        else:
            item.setData(x=np.asarray(x), y=np.asarray(y), size=np.asarray(size), pen=[pen(c) for c in colors],
                         brush=None, symbol="o")

    item.set_data = set_data
    return item


def gui_redraw(work: Path) -> None:
    if not os.environ.get("DISPLAY"):
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    import logging

    import pyqtgraph as pg
    from PySide6.QtWidgets import QApplication

    pg.setConfigOptions(imageAxisOrder="row-major")
    app = QApplication.instance() or QApplication([])
    os.environ["CRYOGUI_HOME"] = str(work / "home")
    from cryogui.models.session import Session
    from cryogui.models.settings import Settings
    from cryogui.views.base import AppContext
    from cryogui.views.picking import PickingPanel
    from cryogui.workers.jobs import JobManager

    img, _ = simulate_micrograph(shape=(4096, 4096), diameter_px=80, n_particles=50, seed=9, contamination=False)
    mrc = work / "gui_4096.mrc"
    write_mrc(mrc, img, APIX)
    jobs = JobManager()
    ctx = AppContext(jobs=jobs, session=Session(), settings=Settings(work / "s.json"), log=logging.getLogger("b"),
                     show_error=lambda *a: print("error", a), status=lambda s: None)
    panel = PickingPanel(ctx)
    panel.resize(1400, 900)
    panel.show()
    panel.add_micrographs([mrc])
    rng = np.random.default_rng(0)
    n = 2000
    picks = {"x": rng.uniform(0, 4096, n), "y": rng.uniform(0, 4096, n), "score": rng.uniform(0, 1, n),
             "diameter": rng.normal(80, 5, n)}
    panel.store.set_picks(panel.current, picks)
    t_end = time.perf_counter() + 120
    while panel.current not in panel._display_cache and time.perf_counter() < t_end:
        panel.redraw_now()
        app.processEvents()
        time.sleep(0.02)
    panel.redraw_now()
    app.processEvents()

    view = panel.view
    painted = {"n": 0}
    orig_paint = view.picks.paint

    def counting_paint(*a):
        painted["n"] += 1
        return orig_paint(*a)

    view.picks.paint = counting_paint

    def timed(action) -> float:
        ts = []
        for i in range(15):
            action(i)
            t0 = time.perf_counter()
            panel.redraw_now()
            app.processEvents()
            app.processEvents()
            ts.append(time.perf_counter() - t0)
        return float(np.median(ts)) * 1000

    def measure() -> tuple[float, float]:
        panel.threshold.setValue(10)
        panel.store.set_picks(panel.current, picks)
        return (timed(lambda i: panel.threshold.setValue(20 + 3 * i)),
                timed(lambda i: panel.store.add(panel.current, 100 + i, 200)))

    # reference measured in the same run: the previous drawing, one pyqtgraph ScatterPlotItem (pxMode=False, one
    # pen per circle) per point set, swapped into the same view and timed on the same actions; the two drawings
    # alternate (3 rounds, median) so that load from other processes falls on both
    sets = {"new": {k: getattr(view, k) for k in ("picks", "selected", "misses")}}
    sets["old"] = {k: _legacy_scatter(item) for k, item in sets["new"].items()}

    def use(which: str) -> None:
        for k, item in sets[which].items():
            current = getattr(view, k)
            if current is not item:
                view.vb.removeItem(current)
                view.vb.addItem(item)
                setattr(view, k, item)

    res: dict = {"new": [], "old": []}
    for _ in range(3):
        for which in ("new", "old"):
            use(which)
            res[which].append(measure())
    use("new")
    n_paint = painted["n"]
    thr, edit = np.median(res["new"], axis=0)
    old_thr, old_edit = np.median(res["old"], axis=0)
    print(f"\n  GUI, 4096^2 micrograph (display bin {panel._display_cache[panel.current][1][1]}), {n} picks, "
          f"view {view.width()}x{view.height()} px ({n_paint} paints of the circles in 90 redraws):")
    print(f"    redraw after a threshold change {thr:.1f} ms, after an edit {edit:.1f} ms (aim <= 50 ms)")
    print(f"    reference: the previous ScatterPlotItem drawing in the same run {old_thr:.1f} ms and {old_edit:.1f} ms"
          f" -> ratios {thr / old_thr:.2f}x and {edit / old_edit:.2f}x the time")
    panel.shutdown()
    jobs.shutdown(2000)


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    quick = "--quick" in argv
    configure_threads(for_gui=False)
    print(f"bench_picking on {describe_device()}")
    with tempfile.TemporaryDirectory() as d:
        work = Path(d)
        accuracy(work, quick)
        speed(work, quick)
        gui_redraw(work)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
