"""``i3d flow VIDEO... --out DIR``: TV-L1 optical flow of each video as the flow stream expects it.

Each video becomes ``DIR/<name>/`` (``x_*.png``, ``y_*.png``, ``flow.json``; see ``i3d_keras.data.flow``),
written atomically: an existing folder is complete and is skipped (resume). Videos run in parallel, one
process per core; ``--shard i/n`` takes every n-th video so n machines can split one list.
"""

import functools
import os
import sys
import time

from absl import flags

from i3d_keras.cli import common
from i3d_keras.data import decoding, flow, jobs

flags.DEFINE_string("out", None, "Folder for the flow folders.", required=True)
flags.DEFINE_enum("method", "tvl1", flow.METHODS, "tvl1: what the pretrained flow weights saw. dis, farneback: "
                  "much faster approximations the weights never saw.")
flags.DEFINE_enum("format", "png", flow.IMAGE_FORMATS, "Image format of the stored x/y fields (png is lossless).")
flags.DEFINE_float("fps", decoding.DEFAULT_FPS, "Resample frames to this rate (0 keeps the native rate).")
flags.DEFINE_integer("short_side", decoding.SHORT_SIDE, "Resize frames so that their short side has this size.")
flags.DEFINE_integer("workers", 0, "Worker processes (0: one per core).")
flags.DEFINE_string("shard", None, "i/n: process only videos i, i+n, i+2n, ... of the sorted list (0 <= i < n).")
flags.DEFINE_bool("visualize", False, "Also write DIR/<name>.flow.png: 8 fields in colour and the colour wheel.")
flags.DEFINE_bool("overwrite", False, "Recompute flow that already exists.")
FLAGS = flags.FLAGS


def select_shard(paths, shard):
    """The videos of ``shard`` (``"i/n"``) in the sorted list ``paths``; all of them when ``shard`` is None."""
    if shard is None:
        return sorted(paths)
    try:
        index, count = (int(part) for part in shard.split("/"))
        assert 0 <= index < count
    except (ValueError, AssertionError):
        raise ValueError(f"--shard must be i/n with 0 <= i < n, got {shard!r}") from None
    return sorted(paths)[index::count]


def flow_of_one(path, out, options, visualize):
    """Worker job: the flow folder of one video (and its picture); returns the number of fields."""
    folder = flow.folder_for(path, out)
    fields = flow.compute_flow_folder(path, folder, **options)
    if visualize:
        flow.write_flow_picture(folder, folder + ".flow.png")
    return fields


def main(argv):
    paths = common.start(argv, usage="i3d flow VIDEO... --out DIR")
    with common.one_line_errors():
        paths = select_shard(paths, FLAGS.shard)
        folders = {path: flow.folder_for(path, FLAGS.out) for path in paths}
        if len(set(folders.values())) < len(folders):
            raise ValueError("two videos have the same file name; their flow folders would collide")
    done = [path for path in paths if os.path.isdir(folders[path]) and not FLAGS.overwrite]
    todo = [path for path in paths if path not in done]
    if done:
        print(f"{len(done)} videos already had flow (use --overwrite to redo them)", file=sys.stderr)
    options = {"method": FLAGS.method, "fps": FLAGS.fps or None, "short_side": FLAGS.short_side, "image_format": FLAGS.format}
    job = functools.partial(flow_of_one, out=FLAGS.out, options=options, visualize=FLAGS.visualize)
    progress = common.Progress(len(todo), "flow")
    started, fields_done, failed = time.monotonic(), 0, 0
    for number, (path, fields, error) in enumerate(jobs.run_parallel(job, todo, FLAGS.workers or None), start=1):
        progress.clear()
        if isinstance(error, common.OutputError):
            progress.close()
            common.stop_batch(error, number - 1 - failed, len(todo))
        if error is not None:
            common.report_file_error(path, error)
            failed += 1
        else:
            fields_done += fields
            print(f"{path} -> {folders[path]} [{fields} fields]", flush=True)
        elapsed = time.monotonic() - started
        eta = elapsed / number * (len(todo) - number)
        progress.update(number, f"{fields_done / elapsed:.1f} fields/s, ETA {eta / 60:.0f} min")
    progress.close()
    elapsed = time.monotonic() - started
    print(f"flow ({FLAGS.method}): {len(todo) - failed} videos, {fields_done} fields in {elapsed:.0f} s "
          f"({fields_done / max(elapsed, 1e-9):.1f} fields/s); {len(done)} already done; {failed} failed", file=sys.stderr)
    if failed:
        sys.exit(1)

