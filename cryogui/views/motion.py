"""The Eigen-motion dock: lists the session's data of the kinds this panel works on."""

from __future__ import annotations

from cryogui.views.base import SessionSummaryPanel


class EigenMotionPanel(SessionSummaryPanel):
    panel_id = "motion"
    title = "Eigen-motion"
    kinds = ('particles',)
    blurb = "Particle sets in the session."
