"""The per-video jobs of ``i3d features`` and ``i3d fvd-stats``, as ``data.beam.VideoJob``s: window features to
``<name>.npy``, snippet features (``snippets``) to ``<name>.npz``, FVD embeddings to ``<parts>/<hash>.npz``. Each
loads its model once per worker process (``setup``) and writes its file atomically; ``extract_features`` and
``fvd_statistics`` run one over many videos as an Apache Beam pipeline."""

import dataclasses
import os

import numpy as np

from i3d_keras import files
from i3d_keras.data import beam


def stem(path):
    """A video's output name: its file name without the extension."""
    return os.path.splitext(os.path.basename(path))[0]


def _start_tensorflow(threads):
    """TensorFlow with ``threads`` threads per operation when given (the child imported it quietly)."""
    import tensorflow as tf

    if threads:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)
    return tf


@dataclasses.dataclass
class WindowFeaturesJob(beam.VideoJob):
    """``--endpoint`` features of ``window``-frame windows, averaged over the video (``[C]``) or kept per window
    (``per_window``: ``[windows, C]``). ``export``: an exported model's folder (``runtimes``) run instead of Keras."""

    out: str
    weights: str = "kinetics400"
    endpoint: str = "Mixed_5c"
    per_window: bool = False
    window_options: dict = dataclasses.field(default_factory=dict)
    dtype: str = None
    export: str = None
    threads: int = None
    tensorflow = True

    def output(self, path):
        return os.path.join(self.out, stem(path) + ".npy")

    def setup(self):
        if self.export:
            from i3d_keras import runtimes

            self.model = runtimes.ExportedModel(self.export, output="features", threads=self.threads)
            return
        _start_tensorflow(self.threads)
        from i3d_keras import I3D

        self.model = I3D(weights=self.weights, include_top=False, final_endpoint=self.endpoint, dtype=self.dtype)

    def __call__(self, path):
        from i3d_keras import inference

        features = inference.video_features(self.model, path, per_window=self.per_window, **self.window_options)
        target = self.output(path)
        files.save_npy(target, features.astype(np.float32))
        return f"{path} -> {target} {list(features.shape)}", 1


@dataclasses.dataclass
class SnippetFeaturesJob(beam.VideoJob):
    """Snippet features of each video (``snippets.extract`` with ``options``), saved by ``snippets.save``.
    ``weights``: ``{stream: weight set}``; ``flow_root``: ``i3d flow`` folders (else TV-L1 is computed)."""

    out: str
    options: object = None
    weights: dict = dataclasses.field(default_factory=dict)
    flow_root: str = None
    batch_size: int = 8
    dtype: str = None
    threads: int = None
    tensorflow = True

    def output(self, path):
        from i3d_keras import snippets

        return snippets.output_paths(self.out, stem(path), self.options)[-1]

    def setup(self):
        _start_tensorflow(self.threads)
        from i3d_keras import snippets

        self.models = {stream: snippets.feature_model(self.weights[stream], stream, self.options.endpoint, self.dtype)
                       for stream in self.options.streams}

    def __call__(self, path):
        from i3d_keras import snippets

        result = snippets.extract(path, self.models, self.options, self.flow_root, self.batch_size)
        target = snippets.save(self.out, stem(path), result, self.options, path,
                               {stream: self.weights[stream] for stream in self.options.streams})
        return f"{path} -> {target} {list(result['features'].shape)}", 1


@dataclasses.dataclass
class EmbeddingJob(beam.VideoJob):
    """The FVD detector's embeddings of each video's clip (``fvd.iter_embeddings``: clips seeded per video) with
    the videos' names, to ``<parts>/<sha1 of the path>.npz`` (``embeddings`` ``[n, 400]`` float64, ``names``)."""

    parts: str
    protocol: str = "original"
    num_frames: int = None
    seed: int = 0
    loop_short: bool = False
    weights: str = "kinetics400"
    threads: int = None
    tensorflow = True

    def output(self, path):
        import hashlib

        return os.path.join(self.parts, hashlib.sha1(os.path.abspath(path).encode()).hexdigest()[:24] + ".npz")

    def setup(self):
        _start_tensorflow(self.threads)
        from i3d_keras import fvd

        self.model = fvd.detector(self.protocol, weights=self.weights)

    def __call__(self, path):
        import io

        from i3d_keras import fvd

        names = []
        batches = list(fvd.iter_embeddings(path, self.protocol, model=self.model, num_frames=self.num_frames,
                                           seed=self.seed, on_clip=names.append, loop_short=self.loop_short))
        if not batches:
            raise ValueError(f"{path}: no video in it")
        buffer = io.BytesIO()
        np.savez(buffer, embeddings=np.concatenate(batches), names=np.array(names))
        target = self.output(path)
        files.write_bytes(target, buffer.getvalue())
        return f"{path} -> {target} ({len(names)} clips)", len(names)


def fvd_statistics(paths, job, out, options=None, timeout=None, dataset=None, split=None):
    """``i3d fvd-stats``: the embeddings of every video in ``paths`` (``job``: an ``EmbeddingJob``) as a pipeline,
    resuming from the parts already written, then their ``fvd.Statistics`` saved to ``out``. The parts are merged
    one by one in the order of ``paths`` (Chan's rule, float64), so the statistics do not depend on the number of
    workers or on which one embedded what. Returns the ``beam.JobReport``; failures are in
    ``<parts>/failed.tsv``; nothing is written to ``out`` while a video failed."""
    from i3d_keras import fvd

    report = beam.process_videos({path: job.output(path) for path in paths}, job, job.parts, options, timeout)
    if report.failures:
        return report
    digest = fvd.detector_digest(fvd.detector(job.protocol, weights=job.weights))
    merge_parts(paths, job, digest, dataset, split).save(out)
    return report


def merge_parts(paths, job, detector_sha256, dataset=None, split=None):
    """The ``fvd.Statistics`` (with manifest) of the parts ``job`` wrote for ``paths``, merged in that order."""
    from i3d_keras import fvd

    statistics, names = fvd.Statistics.empty(protocol=fvd.get_protocol(job.protocol).name), []
    for path in paths:
        with np.load(job.output(path), allow_pickle=False) as part:
            statistics.add(part["embeddings"])
            names += [str(name) for name in part["names"]]
    root = os.path.commonpath([os.path.dirname(os.path.abspath(path)) for path in paths])
    sources = [dict(record, name=os.path.relpath(record["name"], root)) for record in fvd.source_records(names)]
    statistics.manifest = fvd.make_manifest(job.protocol, detector_sha256, sources, job.num_frames, job.seed, dataset,
                                            split, job.weights, job.loop_short)
    return statistics


def fetch_weights(job):
    """Downloads and converts the registered weight sets ``job`` uses (a worker then finds them in the cache)."""
    from i3d_keras import pretrained, weights

    names = list(job.weights.values()) if isinstance(job.weights, dict) else [job.weights]
    for name in names:
        if not getattr(job, "export", None) and weights.lookup(name) is not None:
            pretrained.weights_file(name)


def extract_features(paths, job, options=None, timeout=None, overwrite=False, print_lines=False):
    """The feature file of every video in ``paths`` (``job``: a ``WindowFeaturesJob`` or ``SnippetFeaturesJob``)
    as a pipeline, skipping existing files unless ``overwrite``; snippet mode also rewrites ``index.json``.
    Returns a ``beam.JobReport``; failures are in ``<out>/failed.tsv``."""
    try:
        return beam.process_videos({path: job.output(path) for path in paths}, job, job.out, options, timeout,
                                   overwrite, print_lines)
    finally:
        if isinstance(job, SnippetFeaturesJob) and os.path.isdir(job.out):
            from i3d_keras import snippets

            snippets.write_index(job.out)
