"""``i3d fvd REAL FAKE``: the Fréchet Video Distance between two sets of videos (i3d_keras.fvd).

Each side is a folder of video files and/or ``.npy``/``.npz`` arrays (``[N, T, H, W, 3]`` or ``[T, H, W, 3]``,
values 0..255), one array file, or statistics saved by ``--save_stats`` (``.npz``). ``--protocol original`` (the
default) computes FVD exactly as Unterthiner et al.'s code on TF-Hub's i3d-kinetics-400; ``stylegan-v``,
``videogpt``, ``tats``, ``cd-fvd``, ``cmvq-styleganv`` and ``cmvq-videogpt`` as each family's code does, its
detector's batch-norm epsilon included (docs: FVD). Unreadable files are named and skipped; the count of videos
used on each side is always printed.
"""

import json
import sys

import numpy as np

from absl import flags

from i3d_keras.cli import common, runtime_flags
from i3d_keras.fvd import PROTOCOLS

flags.DEFINE_enum("protocol", "original", list(PROTOCOLS), "How FVD is computed: each family's resize, frames, "
                  "covariance, square root and detector batch-norm epsilon (docs: FVD, Protocols).")
flags.DEFINE_integer("num_frames", None, "Frames per clip (default: the protocol's; the original takes them as given).")
flags.DEFINE_integer("max_videos", None, "Use at most this many videos per side (e.g. 2048 for stylegan-v).")
flags.DEFINE_integer("batch_size", 16, "Videos per model call.")
flags.DEFINE_integer("seed", 0, "Seed of the random clip offsets (stylegan-v).")
flags.DEFINE_string("save_stats", None, "Save each side computed from videos as PREFIX_real.npz / PREFIX_fake.npz.")
flags.DEFINE_bool("json", False, "Print one JSON object instead of a line.")
flags.DEFINE_string("report", None, "Write a JSON report: the number, the protocol, both sides' manifests, counts, "
                    "seed and versions.")
flags.DEFINE_bool("allow_mismatch", False, "Use a statistics file whose manifest names another protocol or detector.")
flags.DEFINE_integer("bootstrap", 0, "Add a percentile 95% confidence interval from this many resamples of the videos "
                     "(seeded by --seed; a side given as statistics stays fixed).")
flags.DEFINE_integer("subsets", 0, "Add the repeated-subsample protocol: FVD of this many random subsets of "
                     "--subset_size videos per side (seeded), as mean and std.")
flags.DEFINE_integer("subset_size", 256, "Videos per side in each subset (--subsets).")
flags.DEFINE_bool("loop_short", False, "Loop videos shorter than the protocol's clip instead of skipping them as "
                  "errors; the report then says the number is not comparable to standard FVD.")
FLAGS = flags.FLAGS


def side_statistics(source, side, model, failures):
    """``(Statistics, embeddings)`` of one side: loaded when ``source`` is a statistics file (no embeddings:
    ``Statistics`` again), else computed (``[N, 400]``, kept only for --bootstrap / --subsets)."""
    from i3d_keras import fvd
    from i3d_keras.progress import Progress

    if fvd.Statistics.is_statistics_file(source):
        digest = fvd.detector_digest(model) if hasattr(model, "weights") else None
        stats = fvd.Statistics.load(source, FLAGS.protocol, digest, check=not FLAGS.allow_mismatch)
        return stats, stats

    def on_error(path, error):
        progress.clear()
        common.report_file_error(path, error)
        failures.append(path)

    kept = [] if FLAGS.bootstrap or FLAGS.subsets else None
    with Progress(FLAGS.max_videos or 0, f"fvd {side}", unit="video") as progress:
        stats = fvd.statistics(source, FLAGS.protocol, model=model, batch_size=FLAGS.batch_size,
                               num_frames=FLAGS.num_frames, max_videos=FLAGS.max_videos, seed=FLAGS.seed,
                               on_error=on_error, on_video=progress.update, keep=kept, loop_short=FLAGS.loop_short)
    if FLAGS.save_stats and stats.count:
        stats.save(f"{FLAGS.save_stats}_{side}.npz")
    return stats, (np.concatenate(kept) if kept else stats)


def main(argv):
    sources = common.start(argv, usage="i3d fvd REAL FAKE")
    if len(sources) != 2:
        common.fail(f"give two sides, REAL and FAKE, got {len(sources)}: i3d fvd REAL FAKE")
    from i3d_keras import fvd

    failures = []
    with common.one_line_errors():
        model = None if all(fvd.Statistics.is_statistics_file(source) for source in sources) else (
            runtime_flags.exported_model("kinetics400", batch_norm_epsilon=fvd.get_protocol(FLAGS.protocol).epsilon)
            or fvd.detector(FLAGS.protocol))
        (real, real_rows), (fake, fake_rows) = (side_statistics(source, side, model, failures)
                                                for source, side in zip(sources, ("real", "fake")))
        real_count, fake_count = real.count, fake.count
        if not FLAGS.allow_mismatch:  # two statistics files: made by one detector
            detectors = {side.manifest.get("detector", {}).get("sha256") for side in (real, fake)} - {None}
            if len(detectors) > 1:
                raise fvd.ManifestMismatch(f"{sources[0]} and {sources[1]} were made by different detectors; "
                                           "--allow_mismatch to compare them anyway")
        distance = fvd.frechet_distance_from_statistics(real, fake, FLAGS.protocol)
        extra = {}
        if FLAGS.bootstrap:
            extra["bootstrap"] = fvd.bootstrap(real_rows, fake_rows, FLAGS.protocol, FLAGS.bootstrap, FLAGS.seed)
        if FLAGS.subsets:
            extra["subsets"] = fvd.subsets(real_rows, fake_rows, FLAGS.protocol, FLAGS.subsets, FLAGS.subset_size,
                                           FLAGS.seed)
        if FLAGS.report:
            fvd.Report.of(distance, FLAGS.protocol, real, fake, FLAGS.seed, **extra).save(FLAGS.report)
    summary = {"fvd": distance, "protocol": FLAGS.protocol, "real_videos": real_count, "fake_videos": fake_count,
               "skipped_files": len(failures), **extra}
    if FLAGS.json:
        print(json.dumps(summary))
    else:
        print(f"FVD ({FLAGS.protocol}) = {distance:.4f}   ({real_count} real and {fake_count} generated videos"
              f"{f'; {len(failures)} files skipped' if failures else ''})")
        if "bootstrap" in extra:
            interval = extra["bootstrap"]
            print(f"  {interval['level']:.0%} interval [{interval['low']:.4f}, {interval['high']:.4f}] "
                  f"({interval['resamples']} resamples, seed {interval['seed']})")
        if "subsets" in extra:
            repeated = extra["subsets"]
            print(f"  {repeated['count']} subsets of {repeated['size']}: {repeated['mean']:.4f} +- {repeated['std']:.4f}")
    if failures:
        print(f"{len(failures)} files could not be used", file=sys.stderr)
        sys.exit(1)
