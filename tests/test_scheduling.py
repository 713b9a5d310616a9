import threading
import time

import pytest

from forgeml.scheduling import RetrainBusy, RetrainLock


def test_a_second_holder_is_refused_with_a_clear_message(tmp_path):
    path = tmp_path / "retrain-demo.lock"
    with RetrainLock(path):
        with pytest.raises(RetrainBusy, match=r"Another retrain holds .*retrain-demo.lock \(pid \d+, since .*--wait"):
            with RetrainLock(path):
                pass
    with RetrainLock(path):  # released on exit
        pass


def test_a_waiting_holder_runs_only_after_the_first_is_done(tmp_path):
    path, events = tmp_path / "retrain-demo.lock", []

    def second():
        with RetrainLock(path, wait=True, poll_seconds=0.01):
            events.append("second starts")

    with RetrainLock(path):
        waiter = threading.Thread(target=second)
        waiter.start()
        time.sleep(0.2)
        events.append("first ends")
    waiter.join(timeout=5)
    assert events == ["first ends", "second starts"]
