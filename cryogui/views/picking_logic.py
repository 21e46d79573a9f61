"""Behaviour of the Picking panel (a mixin of :class:`cryogui.views.picking.PickingPanel`): micrographs, editing,
filters, import/export, truth, auto-pick jobs and dialogs (the drawing: :mod:`cryogui.views.picking_draw`)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6.QtWidgets import QDialog, QFileDialog, QTextBrowser, QVBoxLayout

from cryogui.errors import InputError
from cryogui.io.coords import micrograph_key, read_picks, write_picks, write_picks_per_micrograph
from cryogui.models.picks import PickStore, find_journals


class PickingLogic:
    EXPORT_FORMATS = {"RELION STAR (.star)": ".star", "crYOLO (.cbox)": ".cbox", "EMAN1 (.box)": ".box",
                      "Topaz (.txt)": ".txt", "CSV (.csv)": ".csv"}

    # ---- micrographs ------------------------------------------------------------------------------------------
    def add_micrographs(self, paths) -> None:
        from cryogui.io.mrc import read_header

        added = []
        for p in paths:
            p = Path(p)
            key = micrograph_key(p)
            if key in self.mics:
                continue
            h = read_header(p)
            if h["nz"] != 1:
                raise InputError(f"{p}: not a single micrograph ({h['nz']} sections)")
            self.mics[key] = {"path": p, "apix": h["voxel_size"][0] or None, "shape": (h["ny"], h["nx"])}
            self.order.append(key)
            added.append(key)
        self.schedule_redraw("list")
        if added and self.current is None:
            self.set_current(added[0])

    def set_current(self, key: str) -> None:
        key = micrograph_key(key)
        if key not in self.mics:
            return
        if self.current is not None and self.current != key:
            flags = self.store.flags.get(self.current, {})
            if not flags.get("reviewed"):
                self.store.set_flag(self.current, reviewed=True)
        self.current = key
        self.selection = np.zeros(0, dtype=np.int64)
        info = self.mics[key]
        if info["apix"]:
            self.apix.blockSignals(True)
            self.apix.setValue(float(info["apix"]))
            self.apix.blockSignals(False)
        row = self.order.index(key)
        if self.table.currentRow() != row:
            self.table.blockSignals(True)
            self.table.selectRow(row)
            self.table.setCurrentCell(row, 0)
            self.table.blockSignals(False)
        self._update_size_slider()
        self.schedule_redraw("image", "picks", "hist", "list")

    def step_micrograph(self, delta: int) -> None:
        if not self.order:
            return
        i = self.order.index(self.current) if self.current in self.order else -1
        self.set_current(self.order[(i + delta) % len(self.order)])

    def _row_selected(self, row: int) -> None:
        if 0 <= row < len(self.order):
            self.set_current(self.order[row])

    def _cell_clicked(self, row: int, col: int) -> None:
        if col == 2 and 0 <= row < len(self.order):
            key = self.order[row]
            good = self.store.flags.get(key, {}).get("good")
            self.store.set_flag(key, good={None: True, True: False, False: None}[good])

    def set_good(self, good: bool | None) -> None:
        if self.current is not None:
            self.store.set_flag(self.current, good=good)

    def _display_params(self) -> tuple:
        return (self.lowpass.value(), self.highpass.value(), self.apix.value())

    def _load_display(self, key: str):
        """The prepared display image of a micrograph, or None while a job prepares it (off the GUI thread)."""
        params = self._display_params()
        cached = self._display_cache.get(key)
        if cached is not None and cached[0] == params:
            return cached[1]
        if self._display_request == (key, params):
            return None
        from cryogui.core.picking.display import display_job
        from cryogui.io.mrc import read_mrc

        path = self.mics[key]["path"]
        self._display_request = (key, params)
        self.status_label.setText(f"Reading {path.name}...")
        self.ctx.jobs.start("picking.display", f"Display {path.name}",
                            lambda: display_job(lambda: read_mrc(path).data, params[2], params[0] or None,
                                                params[1] or None),
                            on_result=lambda res, key=key, params=params: self._display_ready(key, params, res),
                            on_finished=lambda state: self._display_finished(state))
        return None

    def _display_ready(self, key, params, result) -> None:
        if result is None:
            return
        if len(self._display_cache) >= 3 and key not in self._display_cache:
            self._display_cache.pop(next(iter(self._display_cache)))
        self._display_cache[key] = (params, result)
        if key == self.current:
            self.schedule_redraw("image")

    def _display_finished(self, state) -> None:
        self._display_request = None
        if state != "done":
            self.status_label.setText(f"Reading the micrograph {state}.")

    # ---- filters ----------------------------------------------------------------------------------------------
    def threshold_value(self) -> float:
        return self.threshold.value() / 100.0

    def size_range_value(self) -> tuple[float, float]:
        lo, hi = self.size_range.value()
        return float(lo), float(hi)

    def current_mask(self) -> np.ndarray:
        if self.current is None:
            return np.zeros(0, dtype=bool)
        return self.store.mask(self.current, self.threshold_value(), self.size_range_value())

    def _update_size_slider(self) -> None:
        d = self.store.arrays(self.current)["diameter"] if self.current else np.zeros(0)
        d = d[np.isfinite(d)]
        top = float(max(50.0, np.ceil(d.max() * 1.5 / 10) * 10)) if len(d) else 400.0
        lo, hi = self.size_range_value()
        full = hi >= self.size_range.maximum() - 1e-6 and lo <= self.size_range.minimum() + 1e-6
        self.size_range.blockSignals(True)
        self.size_range.setRange(0, top)
        self.size_range.setValue((0, top) if full else (min(lo, top), min(hi, top)))
        self.size_range.blockSignals(False)
        lo, hi = self.size_range_value()
        self.size_label.setText(f"{lo:.0f}-{hi:.0f} px")

    def _filters_moved(self, *_):
        self.threshold_label.setText(f"{self.threshold_value():.2f}")
        lo, hi = self.size_range_value()
        self.size_label.setText(f"{lo:.0f}-{hi:.0f} px")
        self.schedule_redraw("picks", "hist", "list")

    def _filters_changed(self, *_):
        self.schedule_redraw("image")

    # ---- editing ----------------------------------------------------------------------------------------------
    def set_mode(self, mode: str) -> None:
        if hasattr(self, "view"):
            self.view.vb.mode = mode
        if not self.mode_buttons[mode].isChecked():
            self.mode_buttons[mode].setChecked(True)

    def _radii(self) -> np.ndarray:
        a = self.store.arrays(self.current)
        if self.circle_mode.currentIndex() == 1:
            return np.full(len(a["x"]), self.box_size.value() / 2)
        d = a["diameter"]
        fallback = np.nanmedian(d) if np.isfinite(d).any() else self.box_size.value()
        return np.where(np.isfinite(d), d, fallback) / 2

    def pick_at(self, x: float, y: float) -> int:
        """Index of the visible pick whose circle holds (x, y), nearest first; -1 if none."""
        if self.current is None:
            return -1
        a = self.store.arrays(self.current)
        if len(a["x"]) == 0:
            return -1
        dist = np.hypot(a["x"] - x, a["y"] - y)
        dist[~self.current_mask()] = np.inf
        i = int(np.argmin(dist))
        return i if dist[i] <= max(self._radii()[i], 3.0) else -1

    def view_clicked(self, x: float, y: float, mode: str, modifiers=None) -> None:
        if self.current is None:
            return
        ny, nx = self.mics[self.current]["shape"]
        if mode == "delete":
            i = self.pick_at(x, y)
            if i >= 0:
                self.store.remove(self.current, [i])
            return
        if mode == "select":
            i = self.pick_at(x, y)
            self.selection = np.array([i] if i >= 0 else [], dtype=np.int64)
            self.schedule_redraw("picks")
            return
        i = self.pick_at(x, y)
        if i >= 0:
            self.selection = np.array([i], dtype=np.int64)
            self.schedule_redraw("picks")
            return
        if 0 <= x < nx and 0 <= y < ny:
            d = self.store.arrays(self.current)["diameter"]
            est = float(np.nanmedian(d)) if np.isfinite(d).any() else np.nan
            self.store.add(self.current, x, y, np.nan, est)

    def move_preview(self, index: int, x: float, y: float) -> None:
        self._preview = (index, x, y)
        self.schedule_redraw("picks")

    def move_commit(self, index: int, x: float, y: float) -> None:
        self._preview = None
        self.store.move(self.current, [index], [x], [y])

    def select_rect(self, x0, y0, x1, y1) -> None:
        a = self.store.arrays(self.current)
        inside = (a["x"] >= x0) & (a["x"] <= x1) & (a["y"] >= y0) & (a["y"] <= y1) & self.current_mask()
        self.selection = np.flatnonzero(inside)
        self.schedule_redraw("picks")

    def delete_selected(self) -> None:
        if self.current is not None and len(self.selection):
            sel = self.selection
            self.selection = np.zeros(0, dtype=np.int64)
            self.store.remove(self.current, sel)

    def undo(self) -> None:
        self.selection = np.zeros(0, dtype=np.int64)
        self.store.undo()

    def redo(self) -> None:
        self.selection = np.zeros(0, dtype=np.int64)
        self.store.redo()

    def _on_store_changed(self, key: str) -> None:
        if key == self.current:
            self.schedule_redraw("picks", "hist")
        self.schedule_redraw("list")
        self.undo_btn.setEnabled(self.store.can_undo)
        self.redo_btn.setEnabled(self.store.can_redo)

    # ---- import / export / truth ------------------------------------------------------------------------------
    def import_picks(self, path: Path) -> int:
        """Read a picks file (any format) into the store, one undoable step per micrograph."""
        shape = self.mics[self.current]["shape"] if self.current else None
        df = read_picks(path, micrograph_shape=shape, default_box=self.box_size.value())
        keys = df["micrograph"].map(micrograph_key)
        for key, sub in df.groupby(keys):
            self.store.set_picks(key, sub)
        self.status_label.setText(f"Imported {len(df)} picks from {Path(path).name}")
        self._update_size_slider()
        return len(df)

    def export_picks(self, path: Path, filtered: bool = True, fmt: str | None = None) -> list[Path]:
        path = Path(path)
        thr, size = (self.threshold_value(), self.size_range_value()) if filtered else (None, None)
        t = self.store.filtered_table(thr, size)
        kind = (fmt or path.suffix).lower()
        box = self.box_size.value() if self.circle_mode.currentIndex() == 1 else None
        if kind in (".box", ".cbox", "box", "cbox"):
            if box is None and not np.isfinite(t["diameter"]).all():
                box = self.box_size.value()
            if t["micrograph"].nunique() > 1:
                out = write_picks_per_micrograph(path.parent, t, fmt=kind, box=box)
            else:
                out = [write_picks(path, t, box=box, fmt=fmt)]
        else:
            out = [write_picks(path, t, box=box, fmt=fmt)]
        self.ctx.status(f"Exported {len(t)} picks to {', '.join(p.name for p in out)}")
        return out

    def load_truth(self, path: Path) -> None:
        self.truth = read_picks(path)
        self.truth["key"] = self.truth["micrograph"].map(micrograph_key)
        self.schedule_redraw("picks")

    # ---- auto-pick --------------------------------------------------------------------------------------------
    def run_autopick(self, all_micrographs: bool = False):
        keys = list(self.order) if all_micrographs else ([self.current] if self.current else [])
        if not keys:
            self.ctx.status("Open a micrograph first")
            return None
        from cryogui.io.mrc import read_mrc

        items = [(k, (lambda p=self.mics[k]["path"]: read_mrc(p).data)) for k in keys]
        hint = self.diameter_hint.value() or None
        if self.method.currentIndex() == 1:
            from cryogui.core.picking.learned import learned_pick_job, load_default_model

            tuned = self._learned_model

            def factory():
                return learned_pick_job(items, tuned or load_default_model(), diameter=hint)
            title = f"Learned picking, {len(keys)} micrograph(s)"
        else:
            from cryogui.core.picking.autopick import AutopickParams, autopick_job

            params = AutopickParams(diameter=hint)

            def factory():
                return autopick_job(items, params)
            title = f"Auto-picking {len(keys)} micrograph(s)"
        self.cancel_btn.setEnabled(True)
        self.job_label.setText(title + "...")
        self._job = self.ctx.jobs.start("picking.autopick", title, factory, on_snapshot=self._on_pick_snapshot,
                                        on_result=self._on_pick_result, on_finished=self._on_pick_finished)
        return self._job

    def run_finetune(self, steps: int = 150):
        """Fine-tune the learned picker on the curated picks (those passing the filters) as a background job."""
        thr, size = self.threshold_value(), self.size_range_value()
        sources = [(self.mics[k]["path"], self.store.filtered_table(thr, size, mic=k)) for k in self.order
                   if self.store.count(k)]
        sources = [(p, t) for p, t in sources if len(t)]
        if not sources:
            self.ctx.status("No curated picks to learn from")
            return None
        from cryogui.core.picking.learned import finetune_job, load_default_model
        from cryogui.io.mrc import read_mrc

        base = self._learned_model

        def factory():
            def gen():
                examples = [(read_mrc(p).data, t) for p, t in sources]
                return (yield from finetune_job(base or load_default_model(), examples, steps=steps))
            return gen()

        self.loss_curve.setData([], [])
        self.cancel_btn.setEnabled(True)
        self._job = self.ctx.jobs.start("picking.finetune", f"Fine-tuning the learned picker ({steps} steps)",
                                        factory, on_snapshot=self._on_finetune_snapshot,
                                        on_result=self._on_finetune_result, on_finished=self._on_pick_finished)
        return self._job

    def _on_finetune_snapshot(self, snap) -> None:
        if snap.points is not None and len(snap.points):
            self.loss_curve.setData(np.arange(1, len(snap.points) + 1), np.asarray(snap.points))
        self.job_label.setText(snap.message)

    def _on_finetune_result(self, model) -> None:
        if model is not None:
            self._learned_model = model
            self.method.setCurrentIndex(1)
            self.job_label.setText("Fine-tuned: the learned picker now uses the new weights.")

    def cancel_autopick(self) -> None:
        if self._job is not None:
            self._job.cancel()

    def _on_pick_snapshot(self, snap) -> None:
        self.job_label.setText(f"{snap.step}/{snap.total}: {snap.message}")

    def _on_pick_result(self, table) -> None:
        if table is None:
            return
        n = 0
        for key, sub in table.groupby(table["micrograph"].map(micrograph_key)):
            self.store.set_picks(key, sub)
            n += int((sub.score >= self.threshold_value()).sum())
        self._update_size_slider()
        d = np.nanmedian(table.diameter) if len(table) else float("nan")
        self.job_label.setText(f"Done: {n} picks above threshold, median diameter {d:.0f} px")

    def _on_pick_finished(self, state: str) -> None:
        self.cancel_btn.setEnabled(False)
        if state in ("cancelled", "failed"):
            self.job_label.setText(f"Auto-pick {state}.")

    # ---- recovery ---------------------------------------------------------------------------------------------
    def _offer_recovery(self) -> None:
        self._journals = find_journals(exclude=self.store.journal_path)
        if not self._journals:
            self.banner.hide()
            return
        rec = PickStore.recover(self._journals[0])
        n = len(rec.table())
        self.banner_label.setText(f"Unsaved curation from an earlier session was found ({n} picks on "
                                  f"{len(rec.micrographs())} micrograph(s)). Restore it?")
        self.banner.show()

    def restore_journal(self, path: Path) -> None:
        rec = PickStore.recover(path)
        for key in rec.micrographs():
            a = rec.arrays(key)
            if len(a["x"]) or key in rec._data:
                self.store.set_picks(key, a)
            if key in rec.flags:
                self.store.set_flag(key, **rec.flags[key])
        Path(path).unlink(missing_ok=True)
        self._journals = [p for p in self._journals if p != Path(path)]
        self.banner.hide()
        self._update_size_slider()
        self.ctx.status(f"Restored {len(rec.table())} picks")

    def discard_journals(self) -> None:
        for p in self._journals:
            Path(p).unlink(missing_ok=True)
        self._journals = []
        self.banner.hide()

    # ---- session and dialogs ----------------------------------------------------------------------------------
    def _on_session(self, kind, item) -> None:
        if kind == "micrograph" and item.path is not None:
            try:
                self.add_micrographs([item.path])
            except InputError as exc:
                self.ctx.show_error("Picking", str(exc), "")

    def _open_micrographs_dialog(self) -> None:
        paths, _ = QFileDialog.getOpenFileNames(self, "Open micrographs", "", "MRC (*.mrc *.mrcs)")
        if paths:
            try:
                self.add_micrographs([Path(p) for p in paths])
            except InputError as exc:
                self.ctx.show_error("Could not open micrograph", str(exc), "")

    def _import_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Import picks", "",
                                              "Picks (*.star *.cbox *.box *.txt *.csv *.tsv *.cs)")
        if path:
            try:
                self.import_picks(Path(path))
            except InputError as exc:
                self.ctx.show_error("Could not import picks", str(exc), "")

    def _truth_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Ground-truth picks", "",
                                              "Picks (*.star *.cbox *.box *.txt *.csv *.tsv)")
        if path:
            try:
                self.load_truth(Path(path))
            except InputError as exc:
                self.ctx.show_error("Could not load truth", str(exc), "")

    def _export_dialog(self) -> None:
        ext = self.EXPORT_FORMATS[self.export_fmt.currentText()]
        path, _ = QFileDialog.getSaveFileName(self, "Export picks", f"picks{ext}", f"Picks (*{ext})")
        if path:
            if not path.endswith(ext):
                path += ext
            try:
                self.export_picks(Path(path), filtered=self.export_filtered.isChecked())
            except InputError as exc:
                self.ctx.show_error("Could not export picks", str(exc), "")

    def _show_help(self) -> None:
        dlg = QDialog(self)
        dlg.setWindowTitle("Picking: how this works")
        lay = QVBoxLayout(dlg)
        tb = QTextBrowser()
        tb.setHtml(self.help_html())
        lay.addWidget(tb)
        dlg.resize(640, 720)
        dlg.show()
