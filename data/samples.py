"""Write the sample register and example queries that ship with the repo.

    python -m data.samples --register register --examples examples
    python -m data.samples --eval-set held_out/templates --types 200 --unknown-types 50   # for eval.py
    python -m data.samples --eval-set held_out/pdf_pages --pdf-root data_cache/pdfs/test --types 150 --unknown-types 50

Templates come from a seed the shipped model never trained on (training uses data.synthetic.seed 0),
so the register shows what a user sees: document types new to the model. Evaluation sets use yet
another seed (31337), and PDF evaluation sets pages of PDFs in the test/ split of data.debian_pdfs,
which neither training nor validation reads; nearly blank pages and pages another file prints the
same are no types of their own there (data.pdf.DistinctPages).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from data.photo import photo_of
from data.synthetic import KINDS, SyntheticDocuments

SAMPLE_SEED = 2026
# The shipped register and examples are drawn in Pillow's built-in font, so that the tests that redraw
# them find the same pictures on any machine, whatever fonts it has installed.
SAMPLE_FONTS = "builtin"
# The kinds of the sample register, in order (then the other kinds, for a larger one); examples/ has
# a photo of the third, a form, and a document of a kind not registered.
SAMPLE_KINDS = ("receipt", "bank_card", "form", "id_card", "invoice", "letter")
EXAMPLE_INDEX = 2


def sample_class_ids(types: int) -> tuple[list[int], int]:
    """Class ids (seed SAMPLE_SEED) of the sample register, the first design of each of ``types``
    kinds, and of the unregistered example: the first design of the next kind."""
    from data.synthetic import make_template

    order = [*SAMPLE_KINDS, *(k for k in KINDS if k not in SAMPLE_KINDS)]
    if types >= len(order):
        raise ValueError(f"the sample register has at most {len(order) - 1} types, one per kind")
    first: dict[str, int] = {}
    class_id = 0
    while any(kind not in first for kind in order[: types + 1]):
        first.setdefault(make_template(SAMPLE_SEED, class_id).kind, class_id)
        class_id += 1
    return [first[kind] for kind in order[:types]], first[order[types]]


def write_eval_set(
    out: Path,
    num_types: int,
    photos_per_type: int = 2,
    unknown_types: int = 0,
    seed: int = 31337,
    long_side: int = 384,
    family_size: int = 4,
    fonts: str = "auto",
) -> None:
    """An evaluation folder: ``register/<type>.png`` (a clean example) and ``queries/<type>/*.jpg``
    (photos of other instances); ``unknown_types`` more types have queries but no register entry.
    Types come in families of ``family_size`` look-alike siblings (data/synthetic.py)."""
    total = num_types + unknown_types
    per = photos_per_type + 1
    docs = SyntheticDocuments(total, per, seed=seed, long_side=long_side, family_size=family_size, fonts=fonts)
    (out / "register").mkdir(parents=True, exist_ok=True)
    for t in range(total):
        name = f"type{t:04d}"
        if t < num_types:
            docs.load(per * t)[0].save(out / "register" / f"{name}.png")
        (out / "queries" / name).mkdir(parents=True, exist_ok=True)
        for k in range(1, per):
            photo_of(docs.load(per * t + k)[0], seed=per * t + k).save(out / "queries" / name / f"{k}.jpg", quality=85)


def write_pdf_eval_set(
    out: Path,
    pdf_root: Path,
    num_types: int,
    photos_per_type: int = 2,
    unknown_types: int = 0,
    seed: int = 31337,
    long_side: int = 384,
    pages_per_file: int = 8,
) -> None:
    """An evaluation folder of PDF pages: each page is a type, registered by its clean render and
    queried by photos of it. Pages are drawn at random from at most ``pages_per_file`` evenly spread
    pages of each file, so one long manual cannot fill the set; nearly blank pages and copies of a
    page drawn already are left out (``data.pdf.DistinctPages``: no one registers them, and no model
    could tell two of them apart)."""
    import numpy as np

    from data.pdf import PdfPagesSource, choose_distinct

    pages = PdfPagesSource(pdf_root, long_side, cache_dir=None, max_pages=pages_per_file)
    total = num_types + unknown_types
    chosen, distinct = choose_distinct(pages, total, np.random.default_rng(seed))
    if len(chosen) < total:
        raise SystemExit(
            f"{pdf_root}: {len(chosen)} distinct pages to choose from ({distinct.skipped()}), {total} asked for"
        )
    (out / "register").mkdir(parents=True, exist_ok=True)
    for t, (index, image) in enumerate(chosen):
        name = pages.name(index)
        if t < num_types:
            image.save(out / "register" / f"{name}.png")
        (out / "queries" / name).mkdir(parents=True, exist_ok=True)
        for k in range(1, photos_per_type + 1):
            photo_of(image, seed=seed + 1000 * t + k).save(out / "queries" / name / f"{k}.jpg", quality=85)
    print(f"{out}: {distinct.skipped()}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--register", default="register")
    parser.add_argument("--examples", default="examples")
    parser.add_argument("--types", type=int, default=6)
    parser.add_argument("--eval-set", help="write an evaluation folder (register/ + queries/) here instead")
    parser.add_argument("--unknown-types", type=int, default=0, help="eval set: types with queries only")
    parser.add_argument("--photos-per-type", type=int, default=2)
    parser.add_argument("--pdf-root", help="eval set: pages of the PDFs under this folder instead of templates")
    parser.add_argument(
        "--seed", type=int, default=31337, help="eval set: templates / page choice and photos (default: %(default)s)"
    )
    args = parser.parse_args()
    if args.eval_set and args.pdf_root:
        write_pdf_eval_set(
            Path(args.eval_set), Path(args.pdf_root), args.types, args.photos_per_type, args.unknown_types, args.seed
        )
        print(f"wrote {args.types} registered + {args.unknown_types} unregistered PDF pages to {args.eval_set}/")
        return
    if args.eval_set:
        write_eval_set(Path(args.eval_set), args.types, args.photos_per_type, args.unknown_types, args.seed)
        print(f"wrote {args.types} registered + {args.unknown_types} unregistered types to {args.eval_set}/")
        return
    registered, unregistered = sample_class_ids(args.types)
    docs = SyntheticDocuments(unregistered + 1, 2, seed=SAMPLE_SEED, long_side=384, fonts=SAMPLE_FONTS)
    register, examples = Path(args.register), Path(args.examples)
    register.mkdir(parents=True, exist_ok=True)
    examples.mkdir(parents=True, exist_ok=True)
    names = []
    for class_id in registered:
        name = f"{docs.template(class_id).kind}_{class_id + 1}"
        names.append(name)
        docs.load(class_id * 2)[0].save(register / f"{name}.png", optimize=True)
    # A photo of another instance of a registered type (other content), and an unregistered type.
    target = registered[EXAMPLE_INDEX]
    photo_of(docs.load(target * 2 + 1)[0], seed=1).save(examples / f"photo_of_{names[EXAMPLE_INDEX]}.jpg", quality=80)
    docs.load(unregistered * 2)[0].save(examples / "unregistered_document.png", optimize=True)
    print(f"wrote {args.types} register images to {register}/ and 2 examples to {examples}/")


if __name__ == "__main__":
    main()
