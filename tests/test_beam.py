"""Apache Beam jobs (``i3d_keras.data.beam``): on the local multi-process runner each pipeline gives the
single-process outputs exactly; a video that crashes or hangs its worker goes to the dead-letter report while
every other output completes; no output is written twice; the runner options.

The crash and the hang are real: a ``sitecustomize`` put on the command's ``PYTHONPATH`` makes OpenCV's
``VideoCapture`` raise SIGSEGV (``crash*``) or sleep (``hang*``) in every process, and logs every ``os.replace``
(how each output is put in place) with the process that made it."""

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from conftest import clip_frames, error_lines, i3d, write_video
from i3d_keras.data import beam, datasets, flow, tfrecord

SIZE = 64

HOOKS = textwrap.dedent("""
    import os
    if os.environ.get("I3D_TEST_WRITE_LOG"):
        _replace = os.replace

        def _logged_replace(source, target, *args, **kwargs):
            _replace(source, target, *args, **kwargs)
            with open(os.environ["I3D_TEST_WRITE_LOG"], "a") as log:
                log.write(f"{os.getpid()} {os.fspath(target)}\\n")

        os.replace = _logged_replace
    if os.environ.get("I3D_TEST_BAD_DECODERS"):
        import signal, time
        import cv2

        _capture = cv2.VideoCapture

        def _video_capture(path, *args):
            name = os.path.basename(str(path))
            if name.startswith("crash"):
                os.kill(os.getpid(), signal.SIGSEGV)
            if name.startswith("hang"):
                time.sleep(3600)
            return _capture(path, *args)

        cv2.VideoCapture = _video_capture
""")


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    folder = tmp_path_factory.mktemp("beam_videos")
    return [write_video(folder / f"clip{i}.avi", clip_frames(10 + 3 * i, i % 2, seed=i)) for i in range(4)]


def run_with_hooks(tmp_path, *args):
    """``i3d ARGS`` with the hooks; returns the process and ``{output: [pids that put it in place]}``."""
    hooks = tmp_path / "hooks"
    hooks.mkdir(exist_ok=True)
    (hooks / "sitecustomize.py").write_text(HOOKS)
    log = tmp_path / "writes.log"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(hooks), os.environ.get("PYTHONPATH", "")]),
               I3D_TEST_WRITE_LOG=str(log), I3D_TEST_BAD_DECODERS="1")
    result = subprocess.run([sys.executable, "-m", "i3d_keras", *map(str, args)], capture_output=True, text=True,
                            env=env, timeout=600, check=False)
    writes = {}
    for line in log.read_text().splitlines() if log.exists() else []:
        pid, target = line.split(" ", 1)
        writes.setdefault(target, []).append(int(pid))
    return result, writes


def test_flow_pipeline_dead_letters_a_crash_and_a_hang_and_writes_the_rest_exactly_once(videos, tmp_path):
    crash, hang = tmp_path / "crash.avi", tmp_path / "hang.avi"
    for path in (crash, hang):
        os.link(videos[0], path)
    out = tmp_path / "flow"
    # OpenCV's TV-L1: the job's mechanics, with a timeout under TensorFlow's compilation (the default method's
    # two-worker output is checked bit for bit in test_flow)
    result, writes = run_with_hooks(tmp_path, "flow", "--out", out, "--short_side", SIZE, "--workers", 2,
                                    "--method", "tvl1-opencv", "--timeout", 15, *videos, crash, hang)
    assert result.returncode == 1, result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    report = (out / "failed.tsv").read_text().splitlines()
    assert report == [f"{crash}\tthe process decoding it crashed twice (SIGSEGV)",
                      f"{hang}\tstill running after 15 s: stopped (see --timeout)"]
    assert sorted(error_lines(result.stderr)) == sorted(f"error: {line.replace(chr(9), ': ')}" for line in report)
    assert "4 videos, " in result.stderr and "2 failed" in result.stderr
    for path in videos:  # every other output complete, bit-identical to the single-process flow
        expected = np.stack(list(flow.video_flow(path, "tvl1-opencv", short_side=SIZE)))
        np.testing.assert_array_equal(flow.read_flow_folder(flow.folder_for(path, out)), expected)
    # each output put in place once, by one process; both workers took videos (children restarted after the
    # crash and the hang have pids of their own)
    finals = {target: pids for target, pids in writes.items() if target.startswith(str(out))}
    assert sorted(finals) == sorted([flow.folder_for(path, str(out)) for path in videos] + [str(out / "failed.tsv")])
    assert all(len(pids) == 1 for pids in finals.values()), finals
    assert len({pids[0] for target, pids in finals.items() if not target.endswith(".tsv")}) >= 2
    assert sorted(os.listdir(out)) == sorted(["failed.tsv"] + [f"clip{i}" for i in range(4)])  # no temporaries


def test_tfrecord_pipeline_on_two_workers_equals_the_single_process_examples(videos, tmp_path):
    folder = tmp_path / "tree"
    for i, path in enumerate(videos):
        (folder / ("left" if i % 2 else "right")).mkdir(parents=True, exist_ok=True)
        os.link(path, folder / ("left" if i % 2 else "right") / os.path.basename(path))
    dataset = datasets.from_folder(folder)
    options = tfrecord.FrameOptions(short_side=SIZE, with_flow=True)
    report = tfrecord.write_shards(dataset, tmp_path / "records", shards=3, options=options,
                                   pipeline_options=beam.pipeline_options(workers=2))
    assert (report.done, report.failures) == (4, [])
    import tensorflow as tf

    for shard, entries in tfrecord.shard_entries(dataset, str(tmp_path / "records"), "train", 3).items():
        written = [record.numpy() for record in tf.data.TFRecordDataset(shard)]
        expected = [tfrecord.video_example(entry.sample, entry.label_text, options) for entry in entries]
        # the same examples (every frame's JPEG and flow PNG byte for byte), in the same order; protobuf writes the
        # maps' keys in any order, so the messages are compared, not their serialisations
        parse = tf.train.SequenceExample.FromString
        assert [parse(record) for record in written] == [parse(record) for record in expected] and expected


def test_feature_pipeline_on_two_workers_equals_the_model_in_this_process(videos, tmp_path, kinetics_i3d):
    from i3d_keras import I3D, feature_jobs, inference

    options = {"window": 16, "stride": 16, "fps": None}
    job = feature_jobs.WindowFeaturesJob(str(tmp_path / "features"), "kinetics400", "Mixed_5c", per_window=True,
                                         window_options=options, threads=1)
    report = feature_jobs.extract_features(videos, job, beam.pipeline_options(workers=2))
    assert (report.done, report.failures) == (4, [])
    model = I3D(weights="kinetics400", include_top=False)
    for path in videos:
        expected = inference.video_features(model, path, per_window=True, **options)
        np.testing.assert_allclose(np.load(job.output(path)), expected, atol=1e-5)


def test_the_jobs_compose_into_a_users_own_pipeline(videos, tmp_path):
    import apache_beam
    from apache_beam.testing.util import assert_that, equal_to

    job = beam.FlowJob(str(tmp_path / "flow"), method="dis", short_side=SIZE)
    runner, options = beam.pipeline_options(workers=1)
    with apache_beam.Pipeline(runner=runner, options=options) as pipeline:
        results = pipeline | apache_beam.Create(videos[:2] + ["missing.mp4"]) | beam.for_each_video(job)
        fields = results.done | "Fields" >> apache_beam.MapTuple(lambda path, count: (os.path.basename(path), count))
        assert_that(fields, equal_to([("clip0.avi", 9), ("clip1.avi", 12)]), label="done")
        failed = results.failed | "Causes" >> apache_beam.MapTuple(lambda path, cause: (path, cause))
        assert_that(failed, equal_to([("missing.mp4", "no such file")]), label="failed")


def test_runner_options():
    runner, options = beam.pipeline_options("DataflowRunner", beam_args="--project=p --region=europe-west4 "
                                            "--temp_location=gs://bucket/tmp --num_workers=64")
    from apache_beam.options.pipeline_options import GoogleCloudOptions, StandardOptions, WorkerOptions

    assert runner is None and options.view_as(StandardOptions).runner == "DataflowRunner"
    assert options.view_as(GoogleCloudOptions).project == "p" and options.view_as(WorkerOptions).num_workers == 64
    with pytest.raises(ValueError, match="give the runner as --runner"):
        beam.pipeline_options("local", beam_args="--runner=FlinkRunner")
    runner, options = beam.pipeline_options(workers=3)
    assert type(runner).__name__ == "FnApiRunner" and options.get_all_options()["direct_num_workers"] == 3


@pytest.mark.parametrize("command", ["flow", "build-tfrecords", "features"])
def test_help_documents_the_runner_options(command):
    result = i3d(command, "--help")
    assert result.returncode == 0
    for flag in ("--runner=STRING", "--beam_options=STRING", "--workers=INT", "--timeout=FLOAT"):
        assert flag in result.stdout
    assert "DataflowRunner" in result.stdout and "failed.tsv" in result.stdout
