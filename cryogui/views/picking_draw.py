"""Drawing of the Picking panel (a mixin of :class:`cryogui.views.picking.PickingPanel`): :meth:`redraw`, called by
the panel's ~30 Hz redraw timer with the parts that changed, draws the micrograph, the picks as circles coloured by
confidence (or true/false positive against a truth set, with the misses and the PR curve), the filter histograms
and the micrograph table."""

from __future__ import annotations

import numpy as np
import pandas as pd
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QTableWidgetItem

from cryogui.core.picking.display import confidence_colors, robust_levels
from cryogui.core.picking.metrics import score_picks

TP_COLOR = (40, 220, 60, 255)
FP_COLOR = (255, 50, 50, 255)


class PickingDrawing:
    # ---- drawing ----------------------------------------------------------------------------------------------
    def redraw(self, parts: set[str]) -> None:
        """Draw the named parts: ``image`` (the micrograph again), ``levels`` (only its contrast), ``picks``,
        ``hist`` (the filter histograms, and the picks) and ``list`` (the micrograph table)."""
        if ("image" in parts or "levels" in parts) and self.current is not None:
            ready = self._load_display(self.current)  # None while a job prepares it; it asks again when done
            if ready is not None:
                self._show_image(ready, True if "image" in parts else "levels")
        if "picks" in parts or "hist" in parts:
            self._draw_picks()
        if "hist" in parts:
            self._draw_hists()
        if "list" in parts:
            self._draw_list()

    def _show_image(self, ready, how) -> None:
        disp, factor = ready
        levels = robust_levels(disp, contrast=self.contrast.value() / 10.0, invert=self.invert.isChecked())
        if how == "levels" and self._shown == self.current:
            self.view.set_levels(levels)
        else:
            self.view.set_image(disp, self.mics[self.current]["shape"], levels, keep_view=True)
            self._shown = self.current
        shape = self.mics[self.current]["shape"]
        self.status_label.setText(f"{self.current}: {shape[1]} x {shape[0]} px, "
                                  f"{self.apix.value():.3g} A/px, display bin {factor}")

    def _draw_picks(self) -> None:
        if self.current is None:
            return
        a = self.store.arrays(self.current)
        x, y = a["x"].copy(), a["y"].copy()
        if self._preview is not None and self._preview[0] < len(x):
            i, px, py = self._preview
            x[i], y[i] = px, py
        mask = self.current_mask()
        size = 2 * self._radii()
        s = self._score_current()
        if s is not None:
            colors = np.where(s["tp_mask"][:, None], np.array(TP_COLOR), np.array(FP_COLOR)).astype(np.uint8)
            t = s["truth_table"]
            miss = ~s["truth_hit"]
            td = t["diameter"].to_numpy(float) if len(t) else np.zeros(0)
            tdd = np.where(np.isfinite(td), td, np.nanmedian(size) if len(size) else self.box_size.value())
            self.view.set_misses(t["x"].to_numpy(float)[miss], t["y"].to_numpy(float)[miss], tdd[miss])
            self.pr_curve.setData(s["curve_recall"], s["curve_precision"])
            self.pr_point.setData([s["recall"]], [s["precision"]])
            self.metrics_label.setText(
                f"<b>threshold {self.threshold_value():.2f}</b>: precision {s['precision']:.3f}, recall "
                f"{s['recall']:.3f}, F {s['f']:.3f}, AP {s['ap']:.3f}<br>TP {s['tp']}, FP {s['fp']}, "
                f"missed {s['fn']} of {s['n_truth']}")
        else:
            colors = confidence_colors(a["score"])
            self.view.set_misses([], [], [])
        self.view.set_picks(x[mask], y[mask], size[mask], colors[mask])
        sel = self.selection[self.selection < len(x)] if len(self.selection) else self.selection
        self.view.set_selected(x[sel], y[sel], size[sel])
        n_all = len(x)
        self.count_label.setText(f"{int(mask.sum())} of {n_all} picks pass the filters")

    def _draw_hists(self) -> None:
        a = self.store.arrays(self.current) if self.current else {"score": np.zeros(0), "diameter": np.zeros(0)}
        sc = a["score"][np.isfinite(a["score"])]
        h, e = np.histogram(sc, bins=25, range=(0, 1))
        self.score_hist._hist_item.setData(e, h)
        self.thr_line.setValue(self.threshold_value())
        dd = a["diameter"][np.isfinite(a["diameter"])]
        top = self.size_range.maximum()
        h, e = np.histogram(dd, bins=30, range=(0, top))
        self.size_hist._hist_item.setData(e, h)
        lo, hi = self.size_range_value()
        self.size_lines[0].setValue(lo)
        self.size_lines[1].setValue(hi)

    def _draw_list(self) -> None:
        thr, size = self.threshold_value(), self.size_range_value()
        self.table.blockSignals(True)
        self.table.setRowCount(len(self.order))
        for r, key in enumerate(self.order):
            flags = self.store.flags.get(key, {})
            good = flags.get("good")
            cells = [key, str(int(self.store.mask(key, thr, size).sum())),
                     {None: "", True: "good", False: "bad"}[good], "yes" if flags.get("reviewed") else ""]
            for c, text in enumerate(cells):
                item = self.table.item(r, c)
                if item is None:
                    item = QTableWidgetItem()
                    self.table.setItem(r, c, item)
                if item.text() != text:
                    item.setText(text)
                if c == 2:
                    item.setForeground(Qt.darkGreen if good else Qt.red)
        if self.current in self.order and self.table.currentRow() != self.order.index(self.current):
            self.table.setCurrentCell(self.order.index(self.current), 0)
        self.table.blockSignals(False)

    # ---- truth metrics of the current micrograph ---------------------------------------------------------------
    def _score_current(self):
        if self.truth is None or self.current is None:
            self.metrics = None
            return None
        a = self.store.arrays(self.current)
        pred = pd.DataFrame({k: a[k] for k in ("x", "y", "score", "diameter")})
        in_size = self.store.mask(self.current, None, self.size_range_value())
        idx = np.flatnonzero(in_size)
        truth = self.truth[self.truth["key"] == self.current]
        s = score_picks(pred.iloc[idx], truth, threshold=self.threshold_value(),
                        default_diameter=float(np.nanmedian(a["diameter"])) if np.isfinite(a["diameter"]).any()
                        else self.box_size.value())
        tp = np.zeros(len(pred), dtype=bool)
        tp[idx] = s["pred_tp"]
        s["tp_mask"] = tp
        s["truth_table"] = truth
        self.metrics = s
        return s
