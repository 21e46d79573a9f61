"""The Poses dock: lists the session's data of the kinds this panel works on."""

from __future__ import annotations

from cryogui.views.base import SessionSummaryPanel


class PosesPanel(SessionSummaryPanel):
    panel_id = "poses"
    title = "Poses"
    kinds = ('particles', 'map')
    blurb = "Particle sets and maps in the session."
