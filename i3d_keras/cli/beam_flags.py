"""Flags of the commands that run as Apache Beam pipelines (flow, build-tfrecords, features), and how they end."""

import logging
import os
import sys

from absl import flags

from i3d_keras.cli import common

flags.DEFINE_string("runner", "local", "Beam runner: local (this machine's cores, nothing downloaded) or a Beam runner "
                    "name: DataflowRunner, FlinkRunner, SparkRunner, PortableRunner (docs: Dataset jobs on Apache Beam).")
flags.DEFINE_integer("workers", 0, "Local runner: worker processes (0: one per core).")
flags.DEFINE_string("beam_options", "", "Other runners: their Beam pipeline options in one string, e.g. "
                    "\"--project=P --region=R --temp_location=gs://B/tmp\".")
flags.DEFINE_float("timeout", 3600, "Seconds one video may take: a video still running then is stopped and reported "
                   "as failed (0: no limit; raise it for long videos with flow).")
FLAGS = flags.FLAGS


def pipeline_options(workers=None):
    """The runner and options chosen by the flags (``workers``: a command's own default for the local runner)."""
    from i3d_keras.data import beam

    if not FLAGS.debug:
        os.environ.setdefault("GRPC_VERBOSITY", "ERROR")  # the local runner's gRPC lines
        logging.getLogger("apache_beam").setLevel(logging.CRITICAL)  # a failed pipeline is one line of ours
    if FLAGS.workers < 0 or FLAGS.timeout < 0:
        raise ValueError("--workers and --timeout must be 0 or more")
    return beam.pipeline_options(FLAGS.runner, FLAGS.workers or workers or 0, FLAGS.beam_options)


def timeout():
    return FLAGS.timeout or None


def run(job, outputs, unit="videos"):
    """Runs ``job()`` (a pipeline; returns a ``JobReport``). An output that cannot be written stops it with
    ``common.stop_batch``, which counts the ``outputs`` (paths) that exist."""
    from i3d_keras.files import OutputError

    try:
        return job()
    except OutputError as error:
        common.stop_batch(error, sum(os.path.exists(path) for path in outputs), len(outputs), unit)


def finish(report, out, unit, retry="run the same command again to retry them"):
    """Prints each failed video and the summary line; exits 1 if any video failed."""
    for path, cause in report.failures:
        print(f"error: {path}: {cause}", file=sys.stderr)
    print(f"{out}: {report.describe(unit)}", file=sys.stderr)
    if report.failures:
        print(f"{len(report.failures)} videos failed (listed in {os.path.join(out, 'failed.tsv')}); {retry}",
              file=sys.stderr)
        sys.exit(1)
