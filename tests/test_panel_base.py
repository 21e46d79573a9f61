"""What every panel inherits from PanelBase: the coalesced redraw and the splitter / left-column layout start."""

from __future__ import annotations

import pytest
from PySide6.QtWidgets import QLabel, QScrollArea, QSplitter, QWidget

from cryogui.views.base import REDRAW_INTERVAL_MS, PanelBase

pytestmark = pytest.mark.gui


class _Counting(PanelBase):
    panel_id = "counting"
    title = "Counting"

    def __init__(self, ctx):
        super().__init__(ctx)
        self.calls: list[set[str]] = []

    def redraw(self, parts):
        self.calls.append(set(parts))


def test_many_requests_make_one_redraw_with_every_part(open_panel, qtbot):
    panel = open_panel(_Counting, (200, 100))
    for i in range(50):  # a burst of snapshots
        panel.schedule_redraw("points" if i % 2 else "curve")
    panel.schedule_redraw()
    assert panel.calls == []  # nothing is drawn per request
    qtbot.waitUntil(lambda: len(panel.calls) == 1, timeout=2000)
    qtbot.wait(3 * REDRAW_INTERVAL_MS)
    assert panel.calls == [{"points", "curve", "all"}]
    panel.schedule_redraw("curve")
    qtbot.waitUntil(lambda: len(panel.calls) == 2, timeout=2000)
    assert panel.calls[1] == {"curve"}


def test_redraw_now_draws_pending_parts_once(open_panel):
    panel = open_panel(_Counting, (200, 100))
    panel.redraw_now()
    assert panel.calls == []  # nothing pending: nothing drawn
    panel.schedule_redraw("a")
    panel.redraw_now()
    panel.redraw_now()  # nothing pending any more
    assert panel.calls == [{"a"}]


def test_no_redraw_after_shutdown(open_panel, qtbot):
    panel = open_panel(_Counting, (200, 100))
    panel.shutdown()
    panel.schedule_redraw("late snapshot")
    qtbot.wait(4 * REDRAW_INTERVAL_MS)
    assert panel.calls == []


def test_split_layout_with_and_without_a_scroll_area(open_panel):
    panel = open_panel(_Counting, (400, 300))
    split, column = panel.split_layout(margins=2, scroll_width=250)
    column.layout().addWidget(QLabel("a control"))
    split.addWidget(QWidget())
    assert panel.findChildren(QSplitter) == [split]
    scroll = split.widget(0)
    assert isinstance(scroll, QScrollArea) and scroll.widget() is column
    assert scroll.minimumWidth() == 250 and panel.layout().contentsMargins().left() == 2

    bare = open_panel(_Counting, (400, 300))
    split, column = bare.split_layout()
    assert split.widget(0) is column and not bare.findChildren(QScrollArea)
