"""Progress: a bar on a terminal, plain heartbeat lines (no control characters) in a log."""

import io

from i3d_keras.progress import Progress


class Terminal(io.StringIO):
    def isatty(self):
        return True


def test_a_log_gets_plain_heartbeat_lines_and_a_final_count():
    log = io.StringIO()
    with Progress(10, "embedding clips", unit="clip", stream=log, heartbeat=0) as progress:
        for done in range(1, 11):
            progress.update(done)
    lines = log.getvalue().splitlines()
    assert lines[0].startswith("embedding clips: 1/10 clips (10%), ") and lines[-1].startswith("embedding clips: 10/10")
    assert len(lines) == 10  # the final count is not printed twice
    assert not any(character in log.getvalue() for character in "\r\b\x1b")


def test_a_quiet_log_stays_empty_between_heartbeats_and_unknown_totals_count_up():
    log = io.StringIO()
    with Progress(10, "x", stream=log) as progress:  # 30 s between lines: nothing for a short job
        progress.update(5)
    assert log.getvalue() == ""
    with Progress(None, "fvd real", stream=log, heartbeat=0) as progress:
        progress.update(3)
    assert log.getvalue().startswith("fvd real: 3 videos, ")


def test_a_terminal_gets_a_bar():
    terminal = Terminal()
    with Progress(4, "predict", stream=terminal) as progress:
        progress.update(2, "clip.mp4: window 1")
    assert "predict" in terminal.getvalue() and "2/4" in terminal.getvalue() and "\r" in terminal.getvalue()
