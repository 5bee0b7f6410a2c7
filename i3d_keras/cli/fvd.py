"""``i3d fvd REAL FAKE``: the Fréchet Video Distance between two sets of videos (i3d_keras.fvd).

Each side is a folder of video files and/or ``.npy``/``.npz`` arrays (``[N, T, H, W, 3]`` or ``[T, H, W, 3]``,
values 0..255), one array file, or statistics saved by ``--save_stats`` (``.npz``). ``--protocol original`` (the
default) computes FVD exactly as Unterthiner et al.'s code on TF-Hub's i3d-kinetics-400; ``stylegan-v`` and
``videogpt`` follow those papers' code (README, FVD). Unreadable files are named and skipped; the count of
videos used on each side is always printed.
"""

import json
import sys

from absl import flags

from i3d_keras.cli import common, runtime_flags
from i3d_keras.fvd import PROTOCOLS

flags.DEFINE_enum("protocol", "original", list(PROTOCOLS), "How FVD is computed (resize, frames, covariance, square root).")
flags.DEFINE_integer("num_frames", None, "Frames per clip (default: the protocol's; the original takes them as given).")
flags.DEFINE_integer("max_videos", None, "Use at most this many videos per side (e.g. 2048 for stylegan-v).")
flags.DEFINE_integer("batch_size", 16, "Videos per model call.")
flags.DEFINE_integer("seed", 0, "Seed of the random clip offsets (stylegan-v).")
flags.DEFINE_string("save_stats", None, "Save each side computed from videos as PREFIX_real.npz / PREFIX_fake.npz.")
flags.DEFINE_bool("json", False, "Print one JSON object instead of a line.")
flags.DEFINE_string("report", None, "Write a JSON report: the number, the protocol, both sides' manifests, counts, "
                    "seed and versions.")
flags.DEFINE_bool("allow_mismatch", False, "Use a statistics file whose manifest names another protocol or detector.")
FLAGS = flags.FLAGS


def side_statistics(source, side, model, failures):
    """``(Statistics, videos used)`` of one side: loaded when ``source`` is a statistics file, else computed."""
    from i3d_keras import fvd
    from i3d_keras.progress import Progress

    if fvd.Statistics.is_statistics_file(source):
        digest = fvd.detector_digest(model) if hasattr(model, "weights") else None
        stats = fvd.Statistics.load(source, FLAGS.protocol, digest, check=not FLAGS.allow_mismatch)
        return stats, stats.count

    def on_error(path, error):
        progress.clear()
        common.report_file_error(path, error)
        failures.append(path)

    with Progress(FLAGS.max_videos or 0, f"fvd {side}", unit="video") as progress:
        stats = fvd.statistics(source, FLAGS.protocol, model=model, batch_size=FLAGS.batch_size,
                               num_frames=FLAGS.num_frames, max_videos=FLAGS.max_videos, seed=FLAGS.seed,
                               on_error=on_error, on_video=progress.update)
    if FLAGS.save_stats and stats.count:
        stats.save(f"{FLAGS.save_stats}_{side}.npz")
    return stats, stats.count


def main(argv):
    sources = common.start(argv, usage="i3d fvd REAL FAKE")
    if len(sources) != 2:
        common.fail(f"give two sides, REAL and FAKE, got {len(sources)}: i3d fvd REAL FAKE")
    from i3d_keras import fvd

    failures = []
    with common.one_line_errors():
        model = None if all(fvd.Statistics.is_statistics_file(source) for source in sources) else (
            runtime_flags.exported_model("kinetics400") or fvd.detector())
        (real, real_count), (fake, fake_count) = (side_statistics(source, side, model, failures)
                                                  for source, side in zip(sources, ("real", "fake")))
        if not FLAGS.allow_mismatch:  # two statistics files: made by one detector
            detectors = {side.manifest.get("detector", {}).get("sha256") for side in (real, fake)} - {None}
            if len(detectors) > 1:
                raise fvd.ManifestMismatch(f"{sources[0]} and {sources[1]} were made by different detectors; "
                                           "--allow_mismatch to compare them anyway")
        distance = fvd.frechet_distance_from_statistics(real, fake, FLAGS.protocol)
        if FLAGS.report:
            fvd.Report.of(distance, FLAGS.protocol, real, fake, FLAGS.seed).save(FLAGS.report)
    summary = {"fvd": distance, "protocol": FLAGS.protocol, "real_videos": real_count, "fake_videos": fake_count,
               "skipped_files": len(failures)}
    if FLAGS.json:
        print(json.dumps(summary))
    else:
        print(f"FVD ({FLAGS.protocol}) = {distance:.4f}   ({real_count} real and {fake_count} generated videos"
              f"{f'; {len(failures)} files skipped' if failures else ''})")
    if failures:
        print(f"{len(failures)} files could not be used", file=sys.stderr)
        sys.exit(1)
