"""Verification on held-out documents: does a photo of a document match its clean example?

Used for validation during training and for calibrating an export's threshold. Its templates come
from ``VALIDATION_SEED``, which neither training (``data.synthetic.seed``, 0 by default), the sample
register (2026) nor the reporting set of ``python -m data.samples --eval-set`` (31337) uses. PDF
pages for validation come from a folder training does not read (data.debian_pdfs' val/ split).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from PIL import Image

from data.photo import photo_of
from data.synthetic import SyntheticDocuments
from engine.scores import Evaluation, evaluate_scores

VALIDATION_SEED = 4242


class VerificationSet:
    """Clean examples registered, photos as queries (rendered once): of other instances of synthetic
    templates (the constructor), or of the same PDF pages (``from_pdf_pages``)."""

    def __init__(self, num_types: int = 100, photos_per_type: int = 2, seed: int = VALIDATION_SEED):
        per = photos_per_type + 1
        # Families of look-alike siblings, as training draws them: validation sees the distinction
        # between two designs of one kind, not only between kinds.
        docs = SyntheticDocuments(num_types, per, seed=seed, long_side=384, family_size=4)
        with torch.random.fork_rng(devices=[]):  # photo_of seeds torch's generator: keep the caller's
            self.register = [docs.load(per * t)[0] for t in range(num_types)]
            self.queries = [
                photo_of(docs.load(per * t + k)[0], seed=per * t + k) for t in range(num_types) for k in range(1, per)
            ]
        self.truth = np.repeat(np.arange(num_types), photos_per_type)
        self.num_types = num_types

    @classmethod
    def from_pdf_pages(cls, root: str, num_types: int = 100, photos_per_type: int = 2, seed: int = VALIDATION_SEED):
        """The same check on PDF pages: each page's clean render is registered, photos of it are the
        queries. Pages are spread over the files under ``root`` (a split training never reads);
        nearly blank pages and copies of a chosen page are left out (``data.pdf.DistinctPages``)."""
        from data.pdf import PdfPagesSource, choose_distinct

        def draw(max_pages: int) -> list:
            pages = PdfPagesSource(root, 384, cache_dir=None, max_pages=max_pages)
            return choose_distinct(pages, num_types, np.random.default_rng(seed))[0]

        chosen = draw(max(1, num_types // 10))
        if len(chosen) < num_types:  # few files (or few distinct pages among the spread ones): every page
            chosen = draw(0)
        self = cls.__new__(cls)
        with torch.random.fork_rng(devices=[]):
            self.register = [image for _, image in chosen]
            self.queries = [
                photo_of(im, seed=seed + 10 * t + k)
                for t, im in enumerate(self.register)
                for k in range(photos_per_type)
            ]
        self.num_types = len(chosen)
        self.truth = np.repeat(np.arange(self.num_types), photos_per_type)
        return self

    def scores(self, embed: Callable[[list[Image.Image]], np.ndarray]) -> np.ndarray:
        """(cos + 1) / 2 of every query with every template's example."""
        return (embed(self.queries) @ embed(self.register).T + 1.0) / 2.0

    def evaluate(self, embed: Callable[[list[Image.Image]], np.ndarray], threshold: float = 0.5) -> Evaluation:
        return evaluate_scores(self.scores(embed), self.truth, threshold)

    def evaluate_model(
        self, model: torch.nn.Module, transform, device: torch.device, prefix: str = "val_"
    ) -> dict[str, float]:
        """Validation metrics of an embedding model (images → unit vectors) for the training log.

        The model's train/eval mode and the RNG streams are left as they were, so validating does
        not change what training does next (an interrupted run still resumes exactly).
        """
        was_training = model.training
        model.eval()

        @torch.no_grad()
        def embed(images):
            return model(torch.stack([transform(im) for im in images]).to(device)).float().cpu().numpy()

        try:
            with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
                ev = self.evaluate(embed)
        finally:
            model.train(was_training)
        record = {f"{prefix}top1": ev.top1, f"{prefix}auc": ev.auc}
        record.update({f"{prefix}tpr@{p.target_fpr:g}": p.tpr for p in ev.points if p.target_fpr in (1e-2, 1e-3)})
        return record
