"""Progress of long work on stderr: a ``tqdm`` bar on a terminal, a plain heartbeat line in logs.

Nothing here writes control characters into a file or pipe: off a terminal a line such as
``embedding clips: 120/300 (40 %), 95 s`` is printed at most every ``HEARTBEAT_SECONDS`` and at the end.
"""

import sys
import time

HEARTBEAT_SECONDS = 30.0


class Progress:
    """``update(done)`` as work proceeds, ``clear()`` before printing a result line, ``close()`` at the end."""

    def __init__(self, total, label, unit="video", stream=None, heartbeat=HEARTBEAT_SECONDS):
        """``total`` units of work (None or 0: not known in advance)."""
        self.total, self.label, self.unit, self.heartbeat = total, label, unit, heartbeat
        self.stream = stream or sys.stderr
        self.started = self.last_line = time.monotonic()
        self.done, self.bar, self.reported = 0, None, None  # reported: the count of the last line printed
        if _is_terminal(self.stream):
            from tqdm import tqdm

            self.bar = tqdm(total=total or None, desc=label, unit=unit, file=self.stream, leave=False, dynamic_ncols=True)

    def update(self, done, detail=""):
        """``done`` units of ``total`` are finished; ``detail`` is shown beside the count."""
        self.done = done
        if self.bar is not None:
            self.bar.n = done
            self.bar.set_postfix_str(detail, refresh=False)
            self.bar.refresh()
        elif time.monotonic() - self.last_line >= self.heartbeat:
            self._line(detail)

    def advance(self, count=1, detail=""):
        self.update(self.done + count, detail)

    def clear(self):
        """Removes the bar from the terminal so that a result line can be printed (it comes back on ``update``)."""
        if self.bar is not None:
            self.bar.clear()

    def close(self):
        """Ends the bar; off a terminal, prints the final count when heartbeats were printed."""
        if self.bar is not None:
            self.bar.close()
            self.bar = None
        elif self.reported is not None and self.reported != self.done:
            self._line()

    def _line(self, detail=""):
        self.last_line, self.reported = time.monotonic(), self.done
        count = f"{self.done}/{self.total} {self.unit}s ({self.done / self.total:.0%})" if self.total else f"{self.done} {self.unit}s"
        detail = f", {detail}" if detail else ""
        print(f"{self.label}: {count}, {self.last_line - self.started:.0f} s{detail}", file=self.stream, flush=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _is_terminal(stream):
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def keras_callback(progress, batch_size):
    """A Keras callback that advances ``progress`` by ``batch_size`` per predicted batch (``model.predict``)."""
    import keras

    class _PredictProgress(keras.callbacks.Callback):
        def on_predict_batch_end(self, batch, logs=None):
            progress.update(min(progress.total, (batch + 1) * batch_size))

    return _PredictProgress()
