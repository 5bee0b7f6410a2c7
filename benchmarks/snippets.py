"""Snippet feature extraction speed per preset (``i3d_keras.snippets``): snippets/s and seconds per video minute.

A synthetic 320x240 video (``--seconds`` long, at 30 fps, the native rate THUMOS presets keep) with a flow folder
of random fields beside it, so the table measures the extractor (decoding, crops, I3D) and not TV-L1, which
``benchmarks/flow.py`` measures. The flow stream runs randomly initialised weights: the same arithmetic as
``flow_imagenet_kinetics400``, no download. Not a test.

    python benchmarks/snippets.py [--seconds 8] [--batch_size 8] [--presets thumos-i3d anet-i3d bmt video-features]
"""

import argparse
import os
import tempfile
import time

import numpy as np

from i3d_keras import snippets
from i3d_keras.data import decoding, flow, synthetic


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=8)
    parser.add_argument("--batch_size", type=int, default=8)
    parser.add_argument("--presets", nargs="+", default=list(snippets.PRESETS))
    args = parser.parse_args()
    models = {"rgb": snippets.feature_model("kinetics400", "rgb"), "flow": snippets.feature_model(None, "flow")}
    with tempfile.TemporaryDirectory() as folder:
        frames = int(args.seconds * 30)
        rng = np.random.default_rng(0)
        video = os.path.join(folder, "clip.avi")
        synthetic.write_video(video, rng.integers(0, 256, (frames, 240, 320, 3), np.uint8), fps=30)
        print(f"{args.seconds:g} s video, 320x240 at 30 fps; batches of {args.batch_size} clips")
        print("| preset | fps | snippets | crops x streams | s | snippets/s | s per video minute |")
        print("|---|---|---|---|---|---|---|")
        for name in args.presets:
            options = snippets.PRESETS[name].options
            fields = len(list(decoding.iter_frames(video, fps=options.fps, short_side=None, crop=None))) - 1
            root = os.path.join(folder, f"flow-{options.fps}")
            if not os.path.exists(flow.folder_for(video, root)):
                field = rng.integers(0, 256, (256, 341, 2), np.uint8)
                flow.write_flow_folder(flow.folder_for(video, root), (field for _ in range(fields)), fps=options.fps)
            snippets.extract(video, models, options, root, args.batch_size)  # warm-up: traces the graphs
            start = time.perf_counter()
            result = snippets.extract(video, models, options, root, args.batch_size)
            seconds = time.perf_counter() - start
            count = len(result["features"])
            views = {"center": 1, "resize": 1, "5": 5, "10": 10}[options.crops] * len(options.streams)
            print(f"| {name} | {result['fps']:g} | {count} | {views} | {seconds:.1f} | {count / seconds:.2f} | "
                  f"{seconds / args.seconds * 60:.0f} |", flush=True)


if __name__ == "__main__":
    main()
