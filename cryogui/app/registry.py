"""The five dock panels, registered in one place.  A panel is imported lazily by its dotted path."""

from __future__ import annotations

import importlib
from dataclasses import dataclass

from PySide6.QtCore import Qt


@dataclass(frozen=True)
class PanelSpec:
    panel_id: str
    title: str
    target: str  # "module:Class"
    area: Qt.DockWidgetArea
    shortcut: str

    def load(self):
        module, cls = self.target.split(":")
        return getattr(importlib.import_module(module), cls)


PANELS: tuple[PanelSpec, ...] = (
    PanelSpec("picking", "Picking", "cryogui.views.picking:PickingPanel", Qt.RightDockWidgetArea, "Ctrl+1"),
    PanelSpec("pointcloud", "Point cloud", "cryogui.views.pointcloud:PointCloudPanel", Qt.RightDockWidgetArea,
              "Ctrl+2"),
    PanelSpec("gaussfit", "Gaussian fit", "cryogui.views.gaussfit:GaussianFitPanel", Qt.RightDockWidgetArea,
              "Ctrl+3"),
    PanelSpec("motion", "Eigen-motion", "cryogui.views.motion:EigenMotionPanel", Qt.RightDockWidgetArea, "Ctrl+4"),
    PanelSpec("poses", "Poses", "cryogui.views.poses:PosesPanel", Qt.RightDockWidgetArea, "Ctrl+5"),
)
