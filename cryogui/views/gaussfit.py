"""The Gaussian fit dock: lists the session's data of the kinds this panel works on."""

from __future__ import annotations

from cryogui.views.base import SessionSummaryPanel


class GaussianFitPanel(SessionSummaryPanel):
    panel_id = "gaussfit"
    title = "Gaussian fit"
    kinds = ('map', 'particles')
    blurb = "Maps and particle sets in the session."
