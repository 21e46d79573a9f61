"""Pick store: every edit undoable, journal replay after a kill."""

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pandas as pd

from cryogui.models.picks import PickStore, find_journals, new_journal_path


def _store_with_picks(journal=None):
    s = PickStore(journal)
    s.set_picks("mic_001.mrc", pd.DataFrame({"x": [10.0, 20.0, 30.0], "y": [1.0, 2.0, 3.0],
                                             "score": [0.9, 0.5, 0.1], "diameter": [40.0, 50.0, 60.0]}))
    return s


def _state(s):
    return {m: {k: v.copy() for k, v in s.arrays(m).items()} for m in s.micrographs()}, dict(s.flags)


def _same(a, b):
    (da, fa), (db, fb) = a, b
    assert fa == fb and set(da) == set(db)
    for m in da:
        for k in da[m]:
            np.testing.assert_array_equal(da[m][k], db[m][k])


def test_each_edit_and_undo_redo():
    s = _store_with_picks()
    states = [_state(s)]
    s.add("mic_001", 5, 6)
    assert s.count("mic_001") == 4 and np.isnan(s.arrays("mic_001")["score"][3])
    states.append(_state(s))
    s.remove("mic_001", [0, 2])
    assert s.arrays("mic_001")["x"].tolist() == [20.0, 5.0]
    states.append(_state(s))
    s.move("mic_001", [1], [7.0], [8.0])
    assert s.arrays("mic_001")["x"].tolist() == [20.0, 7.0] and s.arrays("mic_001")["y"].tolist() == [2.0, 8.0]
    states.append(_state(s))
    s.set_flag("mic_001", good=False, reviewed=True)
    assert s.flags["mic_001"] == {"good": False, "reviewed": True}
    states.append(_state(s))
    for st in reversed(states[:-1]):
        assert s.undo()
        _same(_state(s), st)
    assert s.undo()                                   # the initial set
    assert s.count("mic_001") == 0 and not s.can_undo
    assert not s.undo()
    s.redo()
    for st in states[1:]:
        assert s.redo()
        _same(_state(s), st)
    assert not s.can_redo
    s.undo()
    s.add("mic_001", 1, 1)                             # a new edit clears redo
    assert not s.can_redo


def test_filters_and_tables():
    s = _store_with_picks()
    s.add("mic_001", 1, 1)                              # manual: NaN score and size pass every filter
    assert s.mask("mic_001", 0.4).tolist() == [True, True, False, True]
    assert s.mask("mic_001", None, (45, 70)).tolist() == [False, True, True, True]
    t = s.filtered_table(0.4, (45, 70))
    assert t.x.tolist() == [20.0, 1.0] and set(t.micrograph) == {"mic_001"}
    assert list(s.table().columns) == ["micrograph", "x", "y", "score", "diameter"]


def test_listeners_hear_edits_and_undo():
    s = _store_with_picks()
    heard = []
    s.subscribe(heard.append)
    s.add("mic_002.mrc", 1, 2)
    s.undo()
    assert heard == ["mic_002", "mic_002"]


def test_journal_replay_equals_state(tmp_path):
    j = tmp_path / "picks-test.jsonl"
    s = _store_with_picks(j)
    s.add("mic_001", 5, 6)
    s.remove("mic_001", [1])
    s.move("mic_001", [0], [11.0], [12.0])
    s.undo()
    s.set_flag("mic_001", reviewed=True)
    _same(_state(PickStore.recover(j)), _state(s))
    with open(j, "a") as fh:                            # a torn last line from a kill mid-write
        fh.write('{"op":"add","mic":"mic_0')
    _same(_state(PickStore.recover(j)), _state(s))
    s.close_journal(clean=True)
    assert not j.exists()


def test_journal_survives_a_kill(tmp_path):
    """A child process edits picks and is killed with SIGKILL; its journal restores every edit."""
    home = os.environ["CRYOGUI_HOME"]
    code = textwrap.dedent("""
        import sys, time
        from cryogui.models.picks import PickStore, new_journal_path
        s = PickStore(new_journal_path())
        s.set_picks("m", {"x": [1.0, 2.0], "y": [3.0, 4.0]})
        s.add("m", 5, 6)
        s.remove("m", [0])
        s.move("m", [0], [9.0], [9.5])
        print("ready", flush=True)
        time.sleep(60)
    """)
    env = dict(os.environ, CRYOGUI_HOME=home, PYTHONPATH=str(Path(__file__).resolve().parents[1]))
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, env=env, text=True)
    try:
        assert proc.stdout.readline().strip() == "ready"
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
    journals = [p for p in find_journals() if str(proc.pid) in p.name]
    assert len(journals) == 1
    r = PickStore.recover(journals[0])
    assert r.arrays("m")["x"].tolist() == [9.0, 5.0] and r.arrays("m")["y"].tolist() == [9.5, 6.0]
    journals[0].unlink()
