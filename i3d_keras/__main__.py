"""``python -m i3d_keras ...`` is the ``i3d`` command."""

from i3d_keras.cli.main import run

run()
