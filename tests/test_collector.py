"""forgeml.collector, in a fresh interpreter each (freezing is for the whole process)."""

from __future__ import annotations

import subprocess
import sys

FIRST_AND_SECOND_CALL = """
import gc, weakref
from forgeml.collector import freeze_long_lived

class Node:
    pass

def cycle():
    a, b = Node(), Node()
    a.other, b.other = b, a
    return weakref.ref(a)

garbage_before = cycle()  # unreachable but uncollected: freezing must not keep it
kept = [Node() for _ in range(100)]
freeze_long_lived()
frozen = gc.get_freeze_count()
assert garbage_before() is None, "garbage was frozen"
assert frozen >= 100, frozen

garbage_after = cycle()
freeze_long_lived()  # the second call does nothing: later garbage stays collectable
assert gc.get_freeze_count() == frozen
gc.collect()
assert garbage_after() is None
print("ok")
"""


def test_freezes_once_per_process_and_never_freezes_garbage():
    result = subprocess.run([sys.executable, "-c", FIRST_AND_SECOND_CALL], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"
