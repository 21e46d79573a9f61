"""Small builders the panels' layouts share: a titled form group, buttons, a horizontal slider, a log axis."""

from __future__ import annotations

from typing import Callable

import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFormLayout, QGroupBox, QHBoxLayout, QPushButton, QSlider, QVBoxLayout


def form_group(column: QVBoxLayout, title: str) -> QFormLayout:
    """A group box titled ``title`` with a form layout, added to ``column``; returns the form to fill."""
    group = QGroupBox(title)
    column.addWidget(group)
    return QFormLayout(group)


def button(text: str, slot: Callable[[], None], name: str = "") -> QPushButton:
    """A push button that calls ``slot`` when clicked."""
    b = QPushButton(text)
    if name:
        b.setObjectName(name)
    b.clicked.connect(slot)
    return b


def button_row(*specs: tuple) -> tuple[QHBoxLayout, list[QPushButton]]:
    """A row of push buttons, one per ``(text, slot)`` or ``(text, slot, object_name)``; returns the row and the
    buttons in order."""
    row = QHBoxLayout()
    buttons = []
    for spec in specs:
        buttons.append(button(*spec))
        row.addWidget(buttons[-1])
    return row, buttons


def slider(lo: int, hi: int, value: int, slot: Callable[[int], None], tip: str = "", name: str = "") -> QSlider:
    """A horizontal slider from ``lo`` to ``hi`` at ``value`` that calls ``slot`` when moved (not for its start)."""
    s = QSlider(Qt.Horizontal)
    if name:
        s.setObjectName(name)
    s.setRange(lo, hi)
    s.setValue(value)
    if tip:
        s.setToolTip(tip)
    s.valueChanged.connect(slot)
    return s


class SparseLogAxis(pg.AxisItem):
    """A log axis that labels only 1, 2 and 5 times a power of ten (pyqtgraph labels every minor tick when the range
    spans less than three decades, and the labels run into each other)."""

    def tickStrings(self, values, scale, spacing):
        strings = super().tickStrings(values, scale, spacing)
        if not self.logMode or self.range[1] - self.range[0] < 1.0:  # under a decade: every label has room
            return strings
        keep = []
        for v, text in zip(values, strings):
            m = 10 ** (float(v) % 1.0)
            keep.append(text if min(abs(m - 1), abs(m - 2), abs(m - 5), abs(m - 10)) < 1e-3 else "")
        return keep
