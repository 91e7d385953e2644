"""Collect the PDF manuals of the Debian packages allowed for training into train/, val/ and test/.

    apt-get install r-doc-pdf lilypond-doc-pdf c++-annotations-pdf live-manual-pdf texlive-latex-base-doc
    python -m data.debian_pdfs --out data_cache/pdfs
    python train.py --cfg lcnet050_cosface_96 \\
        --data.sources "[{kind: synthetic}, {kind: pdf, root: data_cache/pdfs/train, expand: true}]"

About 22,000 pages (340 files) in all. Whole PDFs are split by a hash of the file name: one in ten
to val/ (validation during training), one in ten to test/ (the reporting set of eval.py), the rest to
train/; no page of a val/ or test/ PDF is ever trained on. Only these packages are used for training: every
other document source stays out, so evaluation can use documents the model has never seen.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import subprocess
import sys
from pathlib import Path

PACKAGES = ("r-doc-pdf", "lilypond-doc-pdf", "c++-annotations-pdf", "live-manual-pdf", "texlive-latex-base-doc")


SPLITS = ("train", "val", "test")


def split_of(path: Path, every: int = 10) -> str:
    bucket = int.from_bytes(hashlib.sha1(path.name.encode()).digest()[:4], "big") % every
    return "val" if bucket == 0 else "test" if bucket == 1 else "train"


def package_pdfs(package: str) -> list[Path]:
    proc = subprocess.run(["dpkg", "-L", package], capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"debian_pdfs: package {package} is not installed (apt-get install {' '.join(PACKAGES)})")
    return sorted(Path(line) for line in proc.stdout.splitlines() if line.endswith(".pdf") and Path(line).is_file())


def collect(pdfs: dict[str, list[Path]], out: Path) -> dict[str, int]:
    """Symlink ``out/<split>/<package>/<file>`` for every PDF; returns files per split."""
    counts = dict.fromkeys(SPLITS, 0)
    for package, files in pdfs.items():
        for path in files:
            split = split_of(path)
            # Flatten the package's folders into the name so equal file names cannot collide.
            name = "__".join(path.parts[-3:]) if len(path.parts) >= 3 else path.name
            link = out / split / package / name
            link.parent.mkdir(parents=True, exist_ok=True)
            if link.is_symlink() or link.exists():
                link.unlink()
            os.symlink(path, link)
            counts[split] += 1
    return counts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="data_cache/pdfs")
    args = parser.parse_args(argv)
    counts = collect({p: package_pdfs(p) for p in PACKAGES}, Path(args.out))
    print(f"{args.out}: " + ", ".join(f"{counts[s]} PDFs in {s}/" for s in SPLITS))
    return 0


if __name__ == "__main__":
    sys.exit(main())
