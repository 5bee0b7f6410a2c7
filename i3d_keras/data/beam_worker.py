"""The local runner's worker process: Beam's Python SDK harness, started without its log lines.

Importing Apache Beam logs a warning about BigQuery clients; with no handler on the root logger, that call also
sends every later line of the harness (INFO included) to stderr. A null handler first keeps them to the runner's
own log channel, which the ``i3d`` commands show only with ``--debug``.
"""

import logging
import sys

if __name__ == "__main__":
    logging.getLogger().addHandler(logging.NullHandler())
    from apache_beam.runners.worker import sdk_worker_main

    sdk_worker_main.main(sys.argv)
