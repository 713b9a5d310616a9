import threading
import time

import pytest

from forgeml.scheduling import RetrainBusy, retrain_lock


def test_a_second_holder_is_refused_with_a_clear_message(tmp_path):
    path = tmp_path / "retrain-demo.lock"
    with retrain_lock(path):
        with pytest.raises(RetrainBusy, match=r"Another retrain holds .*retrain-demo.lock \(pid \d+, since .*--wait"):
            with retrain_lock(path):
                pass
    with retrain_lock(path):  # released on exit
        pass


def test_a_waiting_holder_runs_only_after_the_first_is_done(tmp_path):
    path, events = tmp_path / "retrain-demo.lock", []

    def second():
        with retrain_lock(path, wait=True, poll_s=0.01):
            events.append("second starts")

    with retrain_lock(path):
        waiter = threading.Thread(target=second)
        waiter.start()
        time.sleep(0.2)
        events.append("first ends")
    waiter.join(timeout=5)
    assert events == ["first ends", "second starts"]


def _drift(drifted):
    statistics = [{"statistic": name, "drift": 0.5} for name in drifted] + [{"statistic": "steady", "drift": 0.02}]
    return {"drift": bool(drifted), "drifted": drifted, "threshold": 0.1, "statistics": statistics}


def test_the_trigger_decides_whether_changed_data_retrains():
    from forgeml.scheduling import DataCheck

    unchanged = DataCheck("tumours", "abc", "3", "abc", "drift", _drift(["mean radius"]))
    assert not unchanged.should_retrain and "Nothing to do" in unchanged.describe()  # data the gate judged: never again
    changed = DataCheck("tumours", "def", "3", "abc", "data_changed", _drift([]))
    assert changed.should_retrain and "No statistic drifted (threshold 0.1; most moved: steady, 0.02)." in changed.describe()
    quiet = DataCheck("tumours", "def", "3", "abc", "drift", _drift([]))
    assert not quiet.should_retrain and quiet.describe().endswith("The trigger is drift: nothing retrains.")
    drifted = DataCheck("tumours", "def", "3", "abc", "drift", _drift(["mean radius", "worst area"]))
    assert drifted.should_retrain and "Drift in mean radius, worst area. Retraining" in drifted.describe()
