"""Collect the PDF manuals of the Debian packages allowed for training into train/, val/ and test/.

    apt-get install r-doc-pdf lilypond-doc-pdf c++-annotations-pdf live-manual-pdf texlive-latex-base-doc \
        texlive-publishers-doc texlive-latex-extra-doc texlive-latex-recommended-doc texlive-pictures-doc \
        texlive-science-doc texlive-fonts-extra-doc
    python -m data.debian_pdfs --out data_cache/pdfs
    python train.py --cfg lcnet050_cosface_96 \\
        --data.sources "[{kind: synthetic}, {kind: pdf, root: data_cache/pdfs/train, expand: true}]"

About 107,000 pages (5,552 distinct files) in all. Whole PDFs are split by a hash of the file name:
one in ten to val/ (validation during training), one in ten to test/ (the reporting set of eval.py),
the rest to train/; no page of a val/ or test/ PDF is ever trained on. Only these packages are used
for training: every other document source stays out, so evaluation can use documents the model has
never seen.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import subprocess
import sys
from pathlib import Path

PACKAGES = (
    "r-doc-pdf",
    "lilypond-doc-pdf",
    "c++-annotations-pdf",
    "live-manual-pdf",
    "texlive-latex-base-doc",
    # Publishers' article classes (first pages of one journal's class look alike across journals),
    # package manuals, pictures, science and font samples.
    "texlive-publishers-doc",
    "texlive-latex-extra-doc",
    "texlive-latex-recommended-doc",
    "texlive-pictures-doc",
    "texlive-science-doc",
    "texlive-fonts-extra-doc",
)


SPLITS = ("train", "val", "test")


def split_of(path: Path, every: int = 10) -> str:
    bucket = int.from_bytes(hashlib.sha1(path.name.encode()).digest()[:4], "big") % every
    return "val" if bucket == 0 else "test" if bucket == 1 else "train"


def package_pdfs(package: str) -> list[Path]:
    proc = subprocess.run(["dpkg", "-L", package], capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"debian_pdfs: package {package} is not installed (apt-get install {' '.join(PACKAGES)})")
    return sorted(Path(line) for line in proc.stdout.splitlines() if line.endswith(".pdf") and Path(line).is_file())


def file_digest(path: Path) -> str:
    h = hashlib.sha1()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def collect(pdfs: dict[str, list[Path]], out: Path) -> dict[str, int]:
    """Symlink ``out/<split>/<package>/<file>`` for every distinct PDF; returns files per split
    (and ``duplicates``: files skipped because the same bytes were already linked: r-doc-pdf
    installs each R manual twice, which would make two "types" of one document)."""
    counts = dict.fromkeys(SPLITS, 0)
    counts["duplicates"] = 0
    for split in SPLITS:  # links of an earlier run: a file may have gone, or be a known duplicate now
        for old in (out / split).glob("*/*.pdf"):
            if old.is_symlink():
                old.unlink()
    seen: set[str] = set()
    for package, files in pdfs.items():
        for path in files:
            digest = file_digest(path)
            if digest in seen:
                counts["duplicates"] += 1
                continue
            seen.add(digest)
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
    print(
        f"{args.out}: "
        + ", ".join(f"{counts[s]} PDFs in {s}/" for s in SPLITS)
        + f" ({counts['duplicates']} byte-identical copies skipped)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
