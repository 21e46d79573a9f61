"""The Picking dock: lists the session's data of the kinds this panel works on."""

from __future__ import annotations

from cryogui.views.base import SessionSummaryPanel


class PickingPanel(SessionSummaryPanel):
    panel_id = "picking"
    title = "Picking"
    kinds = ('micrograph', 'coords')
    blurb = "Micrographs and particle picks in the session."
