"""Guards against Qt-binding releases that corrupt reference counts.

PySide6 6.12.0 drops a reference to True/False/None on every method-slot call; a long
slider drag then aborts the app ("Fatal Python error: bool_dealloc"). A binding that does
this must fail here, not in a user's session.
"""

from __future__ import annotations

import sys


def test_slot_calls_keep_reference_counts(qapp):
    from PySide6.QtCore import QObject, Signal

    class Emitter(QObject):
        ping = Signal()
        value = Signal(object)
        flag = Signal(bool)

        def __init__(self) -> None:
            super().__init__()
            self.count = 0

        def on_ping(self) -> None:
            self.count += 1

        def on_value(self, value) -> None:
            self.count += 1

    emitter = Emitter()
    emitter.ping.connect(emitter.on_ping)
    emitter.value.connect(emitter.on_value)
    emitter.flag.connect(emitter.on_value)
    before = [sys.getrefcount(x) for x in (True, False, None)]
    for _ in range(3000):
        emitter.ping.emit()
        emitter.value.emit(None)
        emitter.flag.emit(True)
    after = [sys.getrefcount(x) for x in (True, False, None)]
    assert emitter.count == 9000
    assert [a - b for a, b in zip(after, before)] == [0, 0, 0]
