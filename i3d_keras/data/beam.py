"""Dataset-scale jobs as Apache Beam pipelines: one video per element, on a local multi-process runner (no
download, one worker per core) or on another Beam runner (Flink, Spark, ...) by its pipeline options.

- ``VideoJob``: the work on one video (``FlowJob`` here; the TFRecord and feature jobs beside their formats). It
  runs in a child process of its Beam worker (spawned once, reused): a video whose decoder crashes the process or
  runs past ``timeout`` costs only that child. It goes, with its cause, to the dead-letter output, and the
  pipeline goes on. An output that cannot be written (``files.OutputError``: disk full, no permission) is the
  machine's fault, not the video's, and a job that cannot start (``JobFailed``) is nobody's video: both fail the
  pipeline.
- ``for_each_video(job)``: the ``PTransform`` items -> ``(item, amount)``, reshuffled so that the workers share
  the list, with a ``failed`` output of ``(item, cause)``; ``write_failures``: the dead-letter report,
  ``<out>/failed.tsv`` (path, tab, cause).
- ``process_videos`` / ``compute_flow``: a whole command (``i3d flow``) as a function.
- ``pipeline_options`` / ``run``: the runner, and running a pipeline to a ``JobReport``.

Every output is written under a temporary name and renamed when complete, so a retried element (Beam retries
failed bundles) or a rerun never duplicates or corrupts one, and a rerun skips the outputs that exist. Inputs and
outputs are paths of the local file system: a local disk for the local runner, a shared file system (NFS, a
bucket mounted with FUSE) that every worker mounts at the same place on a cluster."""

import atexit
import concurrent.futures
import dataclasses
import functools
import logging
import multiprocessing
import os
import re
import shlex
import signal
import sys
import time

from i3d_keras import files
from i3d_keras.data import decoding, flow

FAILURES_FILE = "failed.tsv"
LOCAL = "local"  # Beam's FnApiRunner: worker processes on this machine, nothing downloaded
METRICS_NAMESPACE = "i3d"


def default_workers():
    """Local worker processes: the cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


class VideoJob:
    """The work on one video, run in a worker's child process. Subclasses are picklable (dataclasses of plain
    options) and define ``__call__(item) -> (line, amount)``: a line saying what was written, and an amount to
    count (fields, videos). ``setup()`` runs once per child before its first item."""

    tensorflow = False  # whether the child imports TensorFlow first (quietly, before the job is unpickled)

    def setup(self):
        pass

    def path_of(self, item):
        """The video file of ``item`` (items are paths unless a job says otherwise)."""
        return item

    def output(self, item):
        """The file or folder ``item`` is written to (its temporaries are removed when its process is killed)."""
        raise NotImplementedError

    def __call__(self, item):
        raise NotImplementedError


class VideoFailed(Exception):
    """A video's child process crashed or ran out of time."""


class JobFailed(RuntimeError):
    """The job cannot run at all (its set-up failed: weights, model): not one video's fault; the pipeline stops."""


_child_job = None


def _start_child(log_level, tensorflow):
    """In the spawned child: logging as the parent's; TensorFlow imported quietly if the job needs it."""
    from i3d_keras import quiet

    logging.basicConfig(level=log_level, format="warning: %(message)s")
    os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")
    if tensorflow and quiet.wanted():
        quiet.import_tensorflow()


def _set_up_child(job):
    global _child_job
    job.setup()
    _child_job = job


def _run_in_child(item):
    return _child_job(item)


def _signal_name(exitcode):
    if exitcode is not None and exitcode < 0:
        try:
            return signal.Signals(-exitcode).name
        except ValueError:
            pass
    return f"exit status {exitcode}"


class IsolatedRunner:
    """Runs a ``VideoJob`` on items in one spawned child process, started on first use and restarted after a
    crash or a timeout. A crash is tried once more in a fresh child (so that a child lost for another reason does
    not fail the video); the second crash, or a run past ``timeout`` seconds, raises ``VideoFailed``."""

    def __init__(self, job, timeout=None):
        self.job, self.timeout, self._pool = job, timeout or None, None

    def __call__(self, item):
        for attempt in (1, 2):
            if self._pool is None:
                context = multiprocessing.get_context("spawn")  # never fork a worker's threads (gRPC, TensorFlow)
                self._pool = concurrent.futures.ProcessPoolExecutor(
                    1, mp_context=context, initializer=_start_child,
                    initargs=(logging.getLogger().getEffectiveLevel(), self.job.tensorflow))
                atexit.register(self.stop)  # a runner that never calls teardown still ends the child
                try:
                    self._pool.submit(_set_up_child, self.job).result()
                except Exception as error:
                    self.stop()
                    raise JobFailed(f"{type(self.job).__name__} cannot start: {_cause('', error)}") from error
            future = self._pool.submit(_run_in_child, item)
            try:
                return future.result(self.timeout)
            except concurrent.futures.process.BrokenProcessPool:
                exitcode = self.stop()
                if attempt == 2:
                    raise VideoFailed(f"the process decoding it crashed twice ({_signal_name(exitcode)})") from None
            except concurrent.futures.TimeoutError:
                self.stop()
                raise VideoFailed(f"still running after {self.timeout:g} s: stopped (see --timeout)") from None

    def stop(self):
        """Ends the child now; returns its exit status (None if it was running)."""
        pool, self._pool = self._pool, None
        if pool is None:
            return None
        atexit.unregister(self.stop)
        processes = list(pool._processes.values())
        for process in processes:
            if process.is_alive():
                process.kill()
        pool.shutdown(wait=True, cancel_futures=True)
        return next((process.exitcode for process in processes), None)


def _cause(path, error):
    """Why ``path`` failed, in one line without the path: ``not a video OpenCV can decode (...)``."""
    message = " ".join((str(error) or type(error).__name__).split())
    if message.startswith(f"{path}: "):
        return message[len(str(path)) + 2:]
    return message if isinstance(error, (VideoFailed, OSError, ValueError)) else f"{type(error).__name__}: {message}"


def apache_beam():
    """``apache_beam``, imported without its BigQuery-clients warning."""
    if "apache_beam" not in sys.modules:
        logging.disable(logging.WARNING)
        try:
            import apache_beam  # noqa: F401
        finally:
            logging.disable(logging.NOTSET)
    return sys.modules["apache_beam"]


@functools.cache
def _do_fn_class():
    beam = apache_beam()

    class RunVideoJob(beam.DoFn):
        """Applies a ``VideoJob`` to each element in an ``IsolatedRunner``: ``(item, amount)`` to the main output,
        ``(item, cause)`` to ``"failed"``; an ``OutputError`` fails the bundle (and so the pipeline)."""

        def __init__(self, job, timeout, print_lines):
            self.job, self.timeout, self.print_lines = job, timeout, print_lines

        def setup(self):
            self.runner = IsolatedRunner(self.job, self.timeout)
            self.done = beam.metrics.Metrics.counter(METRICS_NAMESPACE, "videos")
            self.amount = beam.metrics.Metrics.counter(METRICS_NAMESPACE, "amount")
            self.failed = beam.metrics.Metrics.counter(METRICS_NAMESPACE, "failed")

        def process(self, item):
            try:
                line, amount = self.runner(item)
            except (files.OutputError, JobFailed):
                raise
            except Exception as error:  # the video's fault: dead-letter it, go on
                if isinstance(error, VideoFailed):  # its process was killed mid-write
                    files.remove_leftovers(self.job.output(item))
                self.failed.inc()
                yield beam.pvalue.TaggedOutput("failed", (item, _cause(self.job.path_of(item), error)))
                return
            self.done.inc()
            self.amount.inc(amount)
            if self.print_lines and line:
                print(line, flush=True)
            yield item, amount

        def teardown(self):
            self.runner.stop()

    return RunVideoJob


def for_each_video(job, timeout=None, print_lines=False):
    """The ``PTransform`` items -> ``(item, amount)`` of ``job`` (output ``done``), with an output ``failed`` of
    ``(item, cause)``; the items are reshuffled first so that every worker gets a share of a long list."""
    beam = apache_beam()

    @beam.ptransform_fn
    def ForEachVideo(items):  # noqa: N802 (Beam's naming)
        return (items | "Spread" >> beam.Reshuffle()
                | "Run" >> beam.ParDo(_do_fn_class()(job, timeout, print_lines)).with_outputs("failed", main="done"))

    return ForEachVideo()


def write_failures(out, job):
    """The ``PTransform`` that writes the failed ``(item, cause)`` of ``job`` as ``<out>/failed.tsv`` (path, tab,
    cause), sorted, atomically; an empty file when none failed: a rerun's report replaces the last one."""
    beam = apache_beam()

    @beam.ptransform_fn
    def WriteFailures(failures):  # noqa: N802
        return (failures | "All" >> beam.combiners.ToList()
                | "Write" >> beam.Map(lambda all_: write_failure_report(out, [(job.path_of(i), c) for i, c in all_])))

    return WriteFailures()


def write_failure_report(out, failures):
    """Writes ``[(path, cause)]`` as ``<out>/failed.tsv``, sorted, atomically."""
    lines = "".join(sorted(f"{path}\t{cause}\n" for path, cause in failures))
    files.write_bytes(os.path.join(out, FAILURES_FILE), lines.encode())


def read_failures(out):
    """``[(path, cause)]`` of the report ``write_failures`` left in ``out`` (none if there is no report)."""
    try:
        with open(os.path.join(out, FAILURES_FILE), encoding="utf-8") as report:
            return [tuple(line.rstrip("\n").split("\t", 1)) for line in report if line.strip()]
    except FileNotFoundError:
        return []


def pipeline_options(runner=LOCAL, workers=0, beam_args=""):
    """``(runner, PipelineOptions)``: ``"local"`` is Beam's ``FnApiRunner`` with ``workers`` processes (0: one per
    core; 1: this process), which needs no network; any other name is a Beam runner (``DataflowRunner``,
    ``FlinkRunner``, ``SparkRunner``, ``PortableRunner``...) configured by ``beam_args``, Beam's own command-line
    options in one string (``"--project p --region r --temp_location gs://b/tmp"``)."""
    apache_beam()
    from apache_beam.options.pipeline_options import PipelineOptions

    args = shlex.split(beam_args or "")
    if any(arg == "--runner" or arg.startswith("--runner=") for arg in args):
        raise ValueError("give the runner as --runner, not inside --beam_options")
    if runner != LOCAL:
        return None, PipelineOptions(["--runner", runner, *args])
    from apache_beam.runners.portability.fn_api_runner import FnApiRunner
    from apache_beam.transforms.environments import SubprocessSDKEnvironment

    workers = workers or default_workers()
    # Beam's multi_processing mode, with our quiet entry point for the worker processes (the runner warns that
    # in_memory mode will not start them: it does, from default_environment); the workers' log lines about their
    # own set-up reach this process through the job service
    for name in ("fn_api_runner.fn_runner", "local_job_service"):
        logging.getLogger(f"apache_beam.runners.portability.{name}").setLevel(logging.ERROR)
    options = PipelineOptions(args, direct_num_workers=workers, direct_running_mode="in_memory")
    if workers == 1:
        return FnApiRunner(), options
    command = f"{shlex.quote(sys.executable)} -m i3d_keras.data.beam_worker"
    return FnApiRunner(default_environment=SubprocessSDKEnvironment.from_command_string(command)), options


@dataclasses.dataclass
class JobReport:
    """What a pipeline did: videos done now and found done, the amount counted (fields, videos), failures."""

    done: int
    existing: int
    amount: int
    failures: list
    seconds: float

    def describe(self, unit):
        amount = "" if unit == "videos" else f", {self.amount} {unit}"
        rate = f" ({self.amount / max(self.seconds, 1e-9):.1f} {unit}/s)" if self.amount else ""
        return (f"{self.done} videos{amount} in {self.seconds:.0f} s{rate}; {self.existing} already done; "
                f"{len(self.failures)} failed")


def _counter(result, name):
    from apache_beam.metrics.metric import MetricsFilter

    counters = result.metrics().query(MetricsFilter().with_namespace(METRICS_NAMESPACE).with_name(name))["counters"]
    return sum(counter.committed or 0 for counter in counters)


def run(build, options, existing=0):
    """Builds a pipeline with ``build(pipeline)``, runs it to the end and returns a ``JobReport`` (its ``failures``
    are the caller's to fill in). A failed pipeline raises; an ``OutputError`` inside it is raised as one."""
    beam = apache_beam()
    runner, pipeline_options_ = options
    started = time.monotonic()
    try:
        pipeline = beam.Pipeline(runner=runner, options=pipeline_options_)
        build(pipeline)
        result = pipeline.run()
        result.wait_until_finish()
    except Exception as error:
        raise output_error_in(error) or JobFailed(_last_line(error)) from error
    return JobReport(_counter(result, "videos"), existing, _counter(result, "amount"), [], time.monotonic() - started)


def _last_line(error):
    """A failed pipeline's cause in one line: the last line of the worker's traceback that names an error."""
    lines = [line.strip() for line in str(error).replace("\\n", "\n").splitlines() if line.strip()]
    named = [line for line in lines if re.match(r"^[\w.]+(Error|Exception|Failed)\b.*:", line)]
    return (named or lines or [type(error).__name__])[-1]


def output_error_in(error):
    """The ``OutputError`` that failed a pipeline (runners pass a worker's error on as text), else None."""
    if isinstance(error, files.OutputError):
        return error
    match = re.search(r"OutputError: cannot write (.*): ([^:\\\n]*?)(?:\\n|\n|$)", str(error))
    return files.OutputError(match.group(1), match.group(2)) if match else None


@dataclasses.dataclass(frozen=True)
class FlowJob(VideoJob):
    """The flow folder of one video (``data.flow``), and its picture with ``visualize``."""

    out: str
    method: str = "tvl1"
    fps: float = decoding.DEFAULT_FPS
    short_side: int = decoding.SHORT_SIDE
    image_format: str = "png"
    visualize: bool = False

    def setup(self):
        decoding._cv2().setNumThreads(1)  # one process per core: OpenCV's own threads would oversubscribe

    def output(self, path):
        return flow.folder_for(path, self.out)

    def __call__(self, path):
        folder = self.output(path)
        fields = flow.compute_flow_folder(path, folder, self.method, self.fps, self.short_side, self.image_format)
        if self.visualize:
            flow.write_flow_picture(folder, folder + ".flow.png")
        return f"{path} -> {folder} [{fields} fields]", fields


def pending(outputs, overwrite=False):
    """The items whose output (``{item: path}``) is still to be written, and the number already written; the
    temporaries a killed earlier run left for them are removed (no worker of this run has started yet)."""
    todo = [item for item, path in outputs.items() if overwrite or not os.path.exists(path)]
    for item in todo:
        files.remove_leftovers(outputs[item])
    return todo, len(outputs) - len(todo)


def process_videos(outputs, job, out, options=None, timeout=None, overwrite=False, print_lines=False):
    """Runs ``job`` on every video of ``outputs`` (``{path: its output}``) whose output does not exist yet (all
    with ``overwrite``), as a pipeline (``options``: ``pipeline_options(...)``, default local); failures go to
    ``out/failed.tsv``. Returns a ``JobReport``."""
    beam = apache_beam()
    if len(set(outputs.values())) < len(outputs):
        raise ValueError("two videos have the same file name; their outputs would collide")
    todo, existing = pending(outputs, overwrite)

    def build(pipeline):
        results = pipeline | "Videos" >> beam.Create(todo) | "Run" >> for_each_video(job, timeout, print_lines)
        _ = results.failed | "Report" >> write_failures(out, job)

    report = run(build, options or pipeline_options(), existing)
    report.failures = read_failures(out)
    return report


def compute_flow(paths, job, options=None, timeout=None, overwrite=False, print_lines=False):
    """``i3d flow`` as a pipeline: the flow folder of every video in ``paths`` under ``job.out`` (a ``FlowJob``),
    skipping existing folders unless ``overwrite``. Returns a ``JobReport``; failures are in ``failed.tsv``."""
    return process_videos({path: job.output(path) for path in paths}, job, job.out, options, timeout, overwrite,
                          print_lines)
