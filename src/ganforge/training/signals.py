"""SIGINT/SIGTERM become a request to stop after the current step, not a crash mid-write."""

from __future__ import annotations

import signal
import threading


class StopRequests:
    """While active, the first SIGINT or SIGTERM is recorded in `signal_number`; a second SIGINT
    raises KeyboardInterrupt at once (every file write is atomic, so nothing is corrupted)."""

    def __init__(self):
        self.signal_number: int | None = None
        self._previous: dict[int, object] = {}

    def _handle(self, number: int, _frame) -> None:
        if self.signal_number is not None and number == signal.SIGINT:
            raise KeyboardInterrupt
        self.signal_number = number

    def __enter__(self) -> StopRequests:
        # Handlers can only be installed from the main thread (not, e.g., inside a test runner's
        # worker thread); elsewhere signals keep their default behaviour.
        if threading.current_thread() is threading.main_thread():
            for number in (signal.SIGINT, signal.SIGTERM):
                self._previous[number] = signal.signal(number, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        for number, handler in self._previous.items():
            signal.signal(number, handler)
        self._previous.clear()
