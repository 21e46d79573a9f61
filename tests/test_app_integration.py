"""Panels working together through the session, and every real file opened through File > Open."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtWidgets import QMessageBox

pytestmark = pytest.mark.gui


@pytest.fixture
def window(main_window):
    return main_window


def _model(n=12):
    from cryogui.core.gmm.model import GaussianModel

    rng = np.random.default_rng(0)
    return GaussianModel(positions=rng.normal(scale=20, size=(n, 3)), amplitudes=np.ones(n),
                         sigmas=np.full(n, 5.0), box=32, apix=4.0)


def test_a_fitted_model_reaches_the_eigen_motion_panel(window):
    model = _model()
    window.session.add("model", model, name="Gaussian fit (12 Gaussians)")
    motion = window.panels["motion"]
    assert motion.model is model


def test_model_json_opens_from_the_file_menu(window, tmp_path):
    from cryogui.io.gmm_json import save_model

    path = save_model(tmp_path / "m.json", _model(7))
    assert window.open_paths([path]) == ["model"]
    item = window.session.latest("model")
    assert len(item.obj.positions) == 7
    np.testing.assert_allclose(window.panels["motion"].model.positions, item.obj.positions)


@pytest.mark.shared_data
def test_every_real_file_opens_or_says_why(window, shared_data, qtbot):
    files = sorted(p for p in shared_data.rglob("*") if p.is_file() and p.suffix not in (".md", ".pdb"))
    opened = window.open_paths(files)
    assert opened.count("map") == 5  # 4 maps, and a 7-image .mrc stack that RELION also reads as a volume
    assert opened.count("micrograph") == 4
    assert opened.count("particles") >= 6
    boxes = [b.text() for b in window.findChildren(QMessageBox) if b.objectName() == "error_dialog"]
    # the only refusals are the stacks opened on their own and a file that is neither map nor table
    for text in boxes:
        for line in text.splitlines():
            assert "particle stack" in line or "unknown file type" in line or "relion31.mrcs" in line \
                or "empiar_10076_7.mrc" in line, line
    assert window.isVisible()
