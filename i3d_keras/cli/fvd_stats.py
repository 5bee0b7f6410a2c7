"""``i3d fvd-stats DATA... --protocol P --out ref.npz``: reference FVD statistics of a data set, with a manifest.

DATA: folders of video files, ``.npy``/``.npz`` arrays (values 0..255) and/or ``.tfrecord`` shards of ``i3d
build-tfrecords``, or such files. Writes ``ref.npz``
(count, mean, m2 in float64) and ``ref.json``, the manifest: every field of the protocol, the data set's
``--dataset`` / ``--split`` and each source with its sha256, the clip sampling (frames, offsets, ``--seed``), the
resolution and resize, the detector's weights digest and the versions. ``i3d fvd ref.npz FAKE`` uses it and
refuses it under another protocol or detector.

A Beam job like ``i3d features``: each video's embeddings go to ``ref.parts/`` (a rerun resumes from them), clip
offsets are seeded by the video's path and ``--seed``, and the parts are merged in the order of the videos, so the
statistics do not depend on ``--workers``. A video that cannot be used is listed in ``ref.parts/failed.tsv``
(exit status 1, and no statistics are written until it is fixed or removed).
"""

import os

from absl import flags

from i3d_keras.cli import beam_flags, common
from i3d_keras.fvd import PROTOCOLS

flags.DEFINE_string("out", None, "The statistics file to write (.npz); the manifest goes beside it (.json).",
                    required=True)
flags.DEFINE_enum("protocol", "original", list(PROTOCOLS), "How FVD is computed: each family's resize, frames, "
                  "offsets and detector batch-norm epsilon (docs: FVD, Protocols).")
flags.DEFINE_integer("num_frames", None, "Frames per clip (default: the protocol's).")
flags.DEFINE_integer("seed", 0, "Seed of the clip offsets (protocols with random offsets), combined with each file name.")
flags.DEFINE_bool("loop_short", False, "Loop videos shorter than the clip instead of failing them; the manifest then "
                  "says the statistics are not comparable to standard FVD.")
flags.DEFINE_string("dataset", None, "The data set's name, for the manifest (e.g. ucf101).")
flags.DEFINE_string("split", None, "The split, for the manifest (e.g. train, test).")
FLAGS = flags.FLAGS


def video_paths(sources):
    """The files of ``sources`` (folders are listed, sorted), as absolute paths."""
    from i3d_keras import fvd

    paths = []
    for source in sources:
        if not os.path.exists(source):
            raise ValueError(f"{source}: no such file or folder")
        paths += fvd.video_files(source) if os.path.isdir(source) else [source]
    return [os.path.abspath(path) for path in paths]


def main(argv):
    sources = common.start(argv, usage="i3d fvd-stats DATA... --out ref.npz")
    from i3d_keras import feature_jobs
    from i3d_keras.data import beam

    with common.one_line_errors():
        if not FLAGS.out.endswith(".npz"):
            raise ValueError(f"--out must end in .npz, got {FLAGS.out}")
        paths = video_paths(sources)
        options = beam_flags.pipeline_options(workers=1)
        local = FLAGS.runner == beam.LOCAL
        threads = max(1, beam.default_workers() // (FLAGS.workers or 1)) if local else None
        job = feature_jobs.EmbeddingJob(os.path.splitext(FLAGS.out)[0] + ".parts", FLAGS.protocol, FLAGS.num_frames,
                                        FLAGS.seed, FLAGS.loop_short, "kinetics400", threads)
        feature_jobs.fetch_weights(job)
        report = beam_flags.run(lambda: feature_jobs.fvd_statistics(
            paths, job, FLAGS.out, options, beam_flags.timeout(), FLAGS.dataset, FLAGS.split),
            [job.output(path) for path in paths])
    beam_flags.finish(report, job.parts, "videos")
    print(FLAGS.out)
