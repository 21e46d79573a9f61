"""The Point cloud dock: lists the session's data of the kinds this panel works on."""

from __future__ import annotations

from cryogui.views.base import SessionSummaryPanel


class PointCloudPanel(SessionSummaryPanel):
    panel_id = "pointcloud"
    title = "Point cloud"
    kinds = ('map',)
    blurb = "Density maps in the session."
