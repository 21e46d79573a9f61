"""The learned picker: training reduces the loss, shipped weights pick simulated particles of two sizes without
being told the size, fine-tuning runs as a job, weights round-trip."""

import numpy as np
import pytest
import torch

from cryogui.core.jobs import run_job
from cryogui.core.picking.learned import (WEIGHTS, PickerNet, finetune_job, learned_pick, learned_pick_job,
                                          load_default_model, model_bytes, train_job)
from cryogui.core.picking.metrics import score_picks
from cryogui.core.simulate.micrographs import simulate_micrograph
from cryogui.errors import InputError

torch.set_num_threads(1)


def test_training_job_and_loss_can_fit():
    res = run_job(train_job(steps=4, batch=2, pool=4, seed=1, report_every=2, model=PickerNet(width=8),
                            device=torch.device("cpu")))
    assert isinstance(res.value, PickerNet) and res.last.step == 4 and len(res.last.points) == 4
    # the loss, targets and gradients are wired: one fixed batch is fitted quickly
    from cryogui.core.picking.learned import INPUT, STRIDE, _targets, loss_fn, normalise, synthetic_batch

    torch.manual_seed(0)
    x, c = synthetic_batch(2, np.random.default_rng(3))
    x = normalise(x)[:, None]
    heat, size, mask = _targets(c, INPUT // STRIDE)
    net = PickerNet(width=8)
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    losses = []
    with torch.enable_grad():
        for _ in range(40):
            loss, parts = loss_fn(*net(x), heat, size, mask)
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(parts["loss"])
    assert np.mean(losses[-5:]) < 0.6 * np.mean(losses[:5])


def test_weights_round_trip(tmp_path):
    m = PickerNet()
    p = tmp_path / "w.pt"
    p.write_bytes(model_bytes(m))
    m2 = load_default_model(p)
    x = torch.randn(1, 1, 64, 64)
    with torch.no_grad():
        a, b = m(x)[0], m2(x)[0]
    assert torch.allclose(a, b, atol=2e-2)             # stored as float16
    (tmp_path / "bad.pt").write_bytes(b"nope")
    with pytest.raises(InputError):
        load_default_model(tmp_path / "bad.pt")
    with pytest.raises(InputError, match="no learned-picker weights"):
        load_default_model(tmp_path / "missing.pt")


@pytest.mark.skipif(not WEIGHTS.exists(), reason="no shipped weights")
def test_shipped_weights_are_small_and_pick_two_sizes():
    assert WEIGHTS.stat().st_size < 1_000_000
    model = load_default_model()
    for diameter, n in ((40, 60), (100, 20)):
        img, truth = simulate_micrograph(shape=(768, 768), diameter_px=diameter, n_particles=n, snr=0.3, seed=21)
        picks = learned_pick(img, model, device=torch.device("cpu"))
        s = score_picks(picks, truth, threshold=0.5)
        assert s["f"] >= 0.7, (diameter, s["precision"], s["recall"])
        good = picks[picks.score >= 0.5]
        assert 0.5 * diameter < np.median(good.diameter) < 1.6 * diameter


def test_finetune_and_pick_jobs():
    img, truth = simulate_micrograph(shape=(384, 384), diameter_px=40, n_particles=25, snr=0.5, seed=2)
    res = run_job(finetune_job(PickerNet(), [(img, truth)], steps=5, batch=2, device=torch.device("cpu")))
    assert res.last.step == 5 and len(res.last.points) == 5 and "loss" in res.last.metrics
    out = run_job(learned_pick_job([("a", img)], res.value, device=torch.device("cpu")))
    assert set(out.value.columns) >= {"micrograph", "x", "y", "score", "diameter"}
    assert ((out.value.score >= 0) & (out.value.score <= 1)).all()
    with pytest.raises(InputError):
        run_job(finetune_job(PickerNet(), [(img, truth.iloc[:0])], steps=2))


def test_model_state_round_trip_and_damaged_copy():
    """A workspace keeps a fine-tuned picker as plain arrays; a damaged copy is refused with a message."""
    from cryogui.core.picking.learned import model_from_state, model_state

    net = PickerNet(width=8).eval()
    state = model_state(net)
    again = model_from_state(state)
    x = torch.randn(1, 1, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(again(x), net(x))
    broken = dict(state, state={k: v[:1] for k, v in state["state"].items()})
    with pytest.raises(InputError, match="not learned-picker weights"):
        model_from_state(broken)
