"""Running one function over many independent items on all cores, results as they finish, one bad item never
stopping the rest."""

import concurrent.futures
import logging
import multiprocessing
import os


def default_workers():
    """The number of worker processes to use: the cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def _parent_logging():
    """The root logger's level and format, for the workers (``spawn`` starts them with logging unconfigured)."""
    root = logging.getLogger()
    formatter = root.handlers[0].formatter if root.handlers else None
    return root.level, formatter._fmt if formatter else None


def _start_worker(level, log_format, tensorflow):
    import cv2

    cv2.setNumThreads(1)  # one process per core; OpenCV's own threads would oversubscribe
    logging.basicConfig(level=level, format=log_format)  # warnings read as the parent's do
    from i3d_keras import quiet

    if tensorflow and quiet.wanted():
        quiet.import_tensorflow()


def _guarded(function, item):
    try:
        return item, function(item), None
    except Exception as error:  # reported per item, the batch goes on
        return item, None, error


def run_parallel(function, items, workers=None, tensorflow=False):
    """Yields ``(item, result, error)`` for every item, in completion order; ``error`` is None on success.

    ``function`` must be a module-level function (it is sent to worker processes). ``workers=1`` runs in
    this process. Workers are started with ``spawn``, so they never inherit TensorFlow's state; with
    ``tensorflow`` they import it at start, quietly when ``quiet.wanted()``.
    """
    items = list(items)
    workers = min(workers or default_workers(), len(items))
    if workers <= 1:
        from i3d_keras import quiet

        if tensorflow and quiet.wanted():
            quiet.import_tensorflow()
        for item in items:
            yield _guarded(function, item)
        return
    context = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(workers, mp_context=context, initializer=_start_worker,
                                                initargs=(*_parent_logging(), tensorflow)) as pool:
        futures = {pool.submit(_guarded, function, item): item for item in items}
        try:
            for future in concurrent.futures.as_completed(futures):
                try:
                    yield future.result()
                except Exception as error:  # the worker died (killed, out of memory, crashed in native code)
                    yield futures[future], None, error
        finally:  # a caller that stops early (an output that cannot be written) starts nothing more
            pool.shutdown(wait=True, cancel_futures=True)
