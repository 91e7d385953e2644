"""Verification scores and thresholds: does a photo of a document match its registered example?"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from PIL import Image

from data.samples import photo_of
from data.synthetic import SyntheticDocuments

HELD_OUT_SEED = 31337  # templates that neither training (seed 0) nor the sample register (2026) use


def synthetic_verification(
    embed: Callable[[list[Image.Image]], np.ndarray], num_types: int = 100, photos_per_type: int = 2
) -> tuple[np.ndarray, np.ndarray, float]:
    """Register one clean example per held-out template, query with photos of other instances.

    ``embed`` maps PIL images to unit vectors. Returns (genuine scores, impostor scores, top-1
    accuracy), scores as (cos + 1) / 2.
    """
    docs = SyntheticDocuments(num_types, photos_per_type + 1, seed=HELD_OUT_SEED, long_side=384)
    per = photos_per_type + 1
    register = embed([docs.load(per * c)[0] for c in range(num_types)])
    photos = [photo_of(docs.load(per * c + k)[0], seed=c * per + k) for c in range(num_types) for k in range(1, per)]
    queries = embed(photos)
    truth = np.repeat(np.arange(num_types), photos_per_type)
    scores = (queries @ register.T + 1.0) / 2.0
    genuine = scores[np.arange(len(truth)), truth]
    others = np.ones_like(scores, dtype=bool)
    others[np.arange(len(truth)), truth] = False
    return genuine, scores[others], float((scores.argmax(1) == truth).mean())
