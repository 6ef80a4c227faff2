"""The face pipeline in worker processes, so concurrent logins use every core.

dlib's forward pass holds Python's GIL for its whole duration (two threads with two separate
networks run no faster than one: recognizer/README.md, Concurrency), so threads cannot run two
embeddings at once. With
FACEFLEET_MODEL_PROCESSES=N the service hands each image to one of N worker processes, each with
its own FaceEmbedder; the server process keeps HTTP, the database, the index and the metrics.

The pool is an `Embedder` (faces/protocol.py), like the FaceEmbedder it runs. Errors the pipeline raises for
the client (no face, bad image...) cross the process boundary unchanged. A worker that dies (the
kernel's OOM killer, a crash in native code) fails only the requests it held, with 503; the pool
is rebuilt for the next request.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import TypeVar

from recognizer.errors import ErrorCode, FacefleetError
from recognizer.faces import metric
from recognizer.faces.embedder import FaceEmbedder, PipelineOptions
from recognizer.faces.protocol import Face

log = logging.getLogger(__name__)

_worker: FaceEmbedder | None = None  # the embedder of this worker process
_Arg = TypeVar("_Arg")
_Result = TypeVar("_Result")


def _init_worker(options: PipelineOptions) -> None:
    global _worker
    # one BLAS/OpenMP thread per worker: N workers on N cores, not N x N threads fighting
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, "1")
    _worker = FaceEmbedder.from_options(options)
    threading.Thread(target=_exit_with_parent, args=(os.getppid(),), name="parent-watch", daemon=True).start()


def _exit_with_parent(parent: int) -> None:
    """A worker outlives a server killed with SIGKILL (nothing closes its queue): leave when orphaned."""
    while os.getppid() == parent:
        time.sleep(1.0)
    os._exit(0)


def _embed(data: bytes) -> Face:
    assert _worker is not None, "worker not initialised"
    return _worker.embed(data)


def _embed_many(images: list[bytes]) -> list[Face]:
    assert _worker is not None, "worker not initialised"
    return _worker.embed_many(images)


def _ready() -> str:
    assert _worker is not None, "worker not initialised"
    return _worker.detector_name


class EmbedderPool:
    """N worker processes, each running the whole face pipeline (decode, detect, align, embed)."""

    def __init__(self, processes: int, options: PipelineOptions) -> None:
        if processes < 1:
            raise ValueError("an EmbedderPool needs at least one process")
        # here, not only in the workers: a worker's start-up error would surface as a bare BrokenProcessPool
        FaceEmbedder.preflight(options.detector, options.engine)
        self.processes = processes
        self._options = options
        self._lock = threading.Lock()
        self._executor = self._start()
        self._detector_name = self._warm_up(self._executor)

    @property
    def detector_name(self) -> str:
        return self._detector_name

    @property
    def model_name(self) -> str:
        return metric.MODEL_NAME

    @classmethod
    def load(cls, processes: int, options: PipelineOptions) -> EmbedderPool:
        """Start the workers and wait for the model to answer from them (a missing weight raises here)."""
        return cls(processes, options)

    def _start(self) -> ProcessPoolExecutor:
        # spawn, not fork: the server process has threads (database, index refresh) that a fork
        # would copy in whatever state their locks were in
        return ProcessPoolExecutor(
            max_workers=self.processes,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_init_worker,
            initargs=(self._options,),
        )

    def _warm_up(self, executor: ProcessPoolExecutor) -> str:
        """Spawn the workers and load their models now (2 tasks per worker: each busy worker makes the
        executor spawn another), so the first logins rarely wait for a model to load."""
        barrier = [executor.submit(_ready) for _ in range(self.processes * 2)]
        return [f.result() for f in barrier][0]

    def embed(self, data: bytes) -> Face:
        return self._call(_embed, data)

    def embed_many(self, images: list[bytes]) -> list[Face]:
        """All of them in one worker: one forward pass over their chips."""
        return self._call(_embed_many, images)

    def _call(self, task: Callable[[_Arg], _Result], arg: _Arg) -> _Result:
        executor = self._executor
        try:
            return executor.submit(task, arg).result()
        except BrokenProcessPool as exc:
            self._replace(executor)
            log.error("face worker process died; pool restarted", extra={"fields": {"error": str(exc)}})
            raise FacefleetError(
                ErrorCode.UNAVAILABLE, "The face model worker stopped while handling this image; try again."
            ) from exc

    def _replace(self, broken: ProcessPoolExecutor) -> None:
        with self._lock:
            if self._executor is broken:  # another request may have replaced it already
                self._executor = self._start()
        broken.shutdown(wait=False, cancel_futures=True)

    def close(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)
