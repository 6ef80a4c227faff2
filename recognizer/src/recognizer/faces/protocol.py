"""What the rest of the service needs from the face pipeline, whichever process runs it.

`FaceEmbedder` (faces/embedder.py) runs the pipeline in the calling process; `EmbedderPool`
(faces/pool.py) hands each image to a worker process running a FaceEmbedder. Both are an
`Embedder`, so the service, the CLI and the wiring never need to know which one they hold.
This module imports no dlib, OpenCV or DeepFace: code that only passes embedders around stays cheap.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

Box = tuple[int, int, int, int]  # x, y, w, h in original-image pixels


@dataclass(frozen=True)
class Face:
    """One face's embedding and where it was found."""

    embedding: np.ndarray  # float32, shape (128,)
    box: Box  # x, y, w, h in original-image pixels
    model_name: str


class Embedder(Protocol):
    """Upload bytes in, the one face's embedding out; FacefleetError for what the client must fix."""

    @property
    def detector_name(self) -> str: ...

    @property
    def model_name(self) -> str: ...

    def embed(self, data: bytes) -> Face:
        """Decode, detect, align and embed; raises FacefleetError (not_an_image, no_face, ...)."""
        ...

    def embed_many(self, images: list[bytes]) -> list[Face]:
        """`embed` for several uploads, their chips in one forward pass; the first refusal raises."""
        ...

    def close(self) -> None:
        """Release what the embedder holds (worker processes); a no-op in process."""
        ...
