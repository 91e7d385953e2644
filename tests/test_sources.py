"""Training data sources: PDF pages, instance expansion, mixing, one class per image."""

import json
import pickle
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from conftest import TINY
from data import DataError, ExpandedSource, ImageFolderSource, MixedSource, PdfPagesSource, SyntheticDocuments
from data.expand import VARIANTS, variant
from data.folder import IMAGE_EXTENSIONS, FileIndex


def _pdf(path, colors):
    pages = []
    for i, color in enumerate(colors):
        page = Image.new("RGB", (300, 420), "white")
        ImageDraw.Draw(page).rectangle([20, 20 + 30 * i, 200, 120 + 30 * i], fill=color)
        pages.append(page)
    pages[0].save(path, save_all=True, append_images=pages[1:])


@pytest.fixture()
def pdf_folder(tmp_path):
    folder = tmp_path / "pdfs"
    (folder / "sub").mkdir(parents=True)
    _pdf(folder / "a.pdf", ["red", "green", "blue"])
    _pdf(folder / "sub" / "b.pdf", ["black", "orange"])
    (folder / "broken.pdf").write_bytes(b"%PDF-1.4 truncated")
    return folder


def test_every_pdf_page_is_a_class_rendered_once(pdf_folder, tmp_path, capsys):
    src = PdfPagesSource(pdf_folder, long_side=140, cache_dir=tmp_path / "cache")
    assert "broken.pdf: unreadable PDF" in capsys.readouterr().err
    assert (src.num_classes, len(src)) == (5, 5)
    image, label = src.load(1)
    assert label == 1 and max(image.size) == 140 and image.mode == "RGB"
    assert image.getpixel((30, 40 * 140 // 420 + 5))[1] > 100  # the green box of page 2
    cached = list((tmp_path / "cache" / "pdf_pages").glob("*.png"))
    assert len(cached) == 1
    again, _ = pickle.loads(pickle.dumps(src)).load(1)  # as a DataLoader worker gets it
    assert np.array_equal(np.asarray(again), np.asarray(image))
    assert len(list((tmp_path / "cache" / "pdf_pages").glob("*.png"))) == 1
    uncached, _ = PdfPagesSource(pdf_folder, long_side=140, cache_dir=None).load(1)
    assert np.array_equal(np.asarray(uncached), np.asarray(image))


def test_max_pages_spreads_pages_evenly_over_each_file(pdf_folder, tmp_path):
    from data.pdf import spread_pages

    assert spread_pages(5) == spread_pages(5, 9) == [0, 1, 2, 3, 4]
    assert spread_pages(100, 4) == [0, 33, 66, 99] and spread_pages(7, 1) == [0]
    src = PdfPagesSource(pdf_folder, long_side=100, cache_dir=None, max_pages=2)
    assert [src.name(i) for i in range(len(src))] == ["a_p1", "a_p3", "b_p1", "b_p2"]
    assert src.render(1, long_side=60).size == (43, 60)  # page 3 of a.pdf, 300×420 pt


def test_pages_exported_to_an_image_folder_train_as_the_same_classes(pdf_folder, tmp_path, capsys):
    from data.pdf import main

    assert main([str(pdf_folder), "--out", str(tmp_path / "pages"), "--long-side", "100", "--max-pages", "2"]) == 0
    assert "4 pages written" in capsys.readouterr().out
    names = sorted(p.name for p in (tmp_path / "pages").iterdir())
    assert names == ["a_p1.png", "a_p3.png", "sub__b_p1.png", "sub__b_p2.png"]
    folder = ImageFolderSource(tmp_path / "pages", class_per_image=True)
    pdf = PdfPagesSource(pdf_folder, long_side=100, cache_dir=None, max_pages=2)
    assert folder.num_classes == pdf.num_classes == 4
    # here sorted file names keep the PDF source's order, so the same index is the same page
    for i in range(4):
        assert np.array_equal(np.asarray(folder.load(i)[0]), np.asarray(pdf.load(i)[0]))
    assert main([str(tmp_path / "nowhere"), "--out", str(tmp_path / "x")]) == 2
    assert "PDF folder not found" in capsys.readouterr().err

    # --distinct: no class is a blank page or a copy of a page written before it
    _pdf(pdf_folder / "c.pdf", ["white", "red", "purple"])  # blank, a copy of a.pdf's first page, a new one
    assert main([str(pdf_folder), "--out", str(tmp_path / "distinct"), "--long-side", "100", "--distinct"]) == 0
    printed = capsys.readouterr().out
    assert "6 pages written to " in printed and "(1 nearly blank and 1 repeated pages skipped)" in printed
    names = sorted(p.stem for p in (tmp_path / "distinct").iterdir())
    assert names == ["a_p1", "a_p2", "a_p3", "c_p3", "sub__b_p1", "sub__b_p2"]  # c_p2 repeats a_p1: the first kept


def test_pdf_folder_errors(tmp_path):
    with pytest.raises(DataError, match="PDF folder not found"):
        PdfPagesSource(tmp_path / "none", 96)
    with pytest.raises(DataError, match="no PDF pages found"):
        PdfPagesSource(tmp_path, 96)


def test_instance_expansion_gives_24_distinct_classes():
    base = SyntheticDocuments(3, 2, seed=0, long_side=64)
    src = ExpandedSource(base)
    assert (src.num_classes, len(src)) == (72, 144)
    image, label = src.load(2 * 24 + 5)  # base item 2 = class 1, variant 5
    assert label == 1 * 24 + 5
    original = base.load(2)[0]
    w, h = original.size
    assert variant(original, VARIANTS.index((0, False, "top"))).size == (w, h // 2)
    assert variant(original, VARIANTS.index((90, False, "full"))).size == (h, w)
    assert len({variant(original, v).tobytes() for v in range(24)}) == 24


def test_mixed_sources_keep_labels_apart_and_follow_weights():
    a, b = SyntheticDocuments(4, 5, seed=1, long_side=32), SyntheticDocuments(2, 5, seed=2, long_side=32)
    mix = MixedSource([(a, 1.0), (b, 3.0)])  # 30 items: 7.5 → 8 from a, 22.5 → 22 from b
    assert mix.num_classes == 6 and mix.counts == [8, 22] and len(mix) == 30
    labels = [mix.load(i)[1] for i in range(len(mix))]
    assert set(labels[:8]) <= {0, 1, 2, 3} and set(labels[8:]) <= {4, 5}
    # a has 20 items but 8 per epoch: successive epochs move on through them.
    seen = {tuple(np.asarray(mix.load(0, epoch)[0]).ravel()[:50]) for epoch in range(3)}
    assert len(seen) == 3


def test_folder_with_a_class_per_image(tmp_path):
    for i in range(3):
        (tmp_path / f"d{i % 2}").mkdir(exist_ok=True)
        Image.new("RGB", (20, 20), (i * 80, 0, 0)).save(tmp_path / f"d{i % 2}" / f"{i}.png")
    assert ImageFolderSource(tmp_path).num_classes == 2
    per_image = ImageFolderSource(tmp_path, class_per_image=True)
    assert per_image.num_classes == 3 and [per_image.load(i)[1] for i in range(3)] == [0, 1, 2]


def test_folders_read_pdfs_and_tiffs_page_by_page_as_infer_does(pdf_folder, tmp_path, capsys):
    """A class folder may hold PDFs and multi-page TIFFs: every page is a sample of that class (or
    with ``class_per_image`` its own class), rendered as infer.py renders it; a PDF that cannot be
    opened is one warning when the folder is read, and the rest trains."""
    pytest.importorskip("pypdfium2")
    import infer
    from documents import Page

    root = tmp_path / "classes"
    (root / "invoice").mkdir(parents=True)
    (root / "letter").mkdir()
    (pdf_folder / "a.pdf").rename(root / "invoice" / "a.pdf")  # 3 pages
    (pdf_folder / "broken.pdf").rename(root / "invoice" / "broken.pdf")
    frames = [Image.new("RGB", (120, 160), c) for c in ("red", "green")]
    frames[0].save(root / "letter" / "scan.tif", save_all=True, append_images=frames[1:])
    Image.new("RGB", (120, 160), "blue").save(root / "letter" / "z.png")
    src = ImageFolderSource(root, min_side=96)
    assert capsys.readouterr().err.count("broken.pdf") == 1
    keys = [src.samples[i] for i in range(len(src))]
    assert keys == [(str(root / "invoice" / f"a.pdf#page={n}"), 0) for n in (1, 2, 3)] + [
        (str(root / "letter" / "scan.tif#page=1"), 1),
        (str(root / "letter" / "scan.tif#page=2"), 1),
        (str(root / "letter" / "z.png"), 1),
    ]
    page, label = src.load(1)
    assert label == 0 and min(page.size) >= 96 and page.mode == "RGB"
    reference = infer.open_image(Page(root / "invoice" / "a.pdf", 1), 96)
    assert page.size == reference.size and np.array_equal(np.asarray(page), np.asarray(reference))
    assert src.load(4)[0].getpixel((5, 5)) == (0, 128, 0)  # the TIFF's second frame
    per_page = ImageFolderSource(root, class_per_image=True)
    assert per_page.num_classes == len(per_page) == 6
    (root / "invoice" / "a.pdf").write_bytes(b"%PDF-1.4 gone bad after the index was built")
    with pytest.raises(DataError, match=r"a.pdf: damaged PDF"):
        src.load(0)


@pytest.mark.slow
def test_training_on_mixed_synthetic_and_expanded_pdf_pages(pdf_folder, tmp_path):
    from train import run

    sources = f"[{{kind: synthetic}}, {{kind: pdf, root: '{pdf_folder}', expand: true, cache_dir: '{tmp_path}'}}]"
    result = run(
        [
            "--cfg",
            "tiny_cpu",
            *TINY,
            "--data.sources",
            sources,
            "--data.num_workers",
            "2",
            "--train.epochs",
            "1",
            "--run-dir",
            str(tmp_path / "r"),
        ]
    )
    assert result.model.head.weight.shape[0] == 16 + 5 * 24
    assert result.step == (64 + 120) // 8


def test_debian_pdfs_split_whole_files_into_train_val_and_test(tmp_path):
    from data.debian_pdfs import collect, split_of

    files = []
    for i in range(40):
        f = tmp_path / "usr" / "share" / "doc" / f"manual{i}.pdf"
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_bytes(b"%%PDF manual %d" % i)
        files.append(f)
    counts = collect({"pkg": files}, tmp_path / "out")
    assert counts["train"] + counts["val"] + counts["test"] == 40 and counts["duplicates"] == 0
    assert 0 < counts["val"] < 12 and 0 < counts["test"] < 12
    for f in files:
        link = tmp_path / "out" / split_of(f) / "pkg" / "__".join(f.parts[-3:])
        assert link.is_symlink() and link.resolve() == f.resolve()
    assert collect({"pkg": files}, tmp_path / "out") == counts  # re-running replaces the links
    # The same bytes installed twice (as r-doc-pdf does with R's manuals) are one document, linked once;
    # a re-run also drops links an earlier run left behind.
    copy = tmp_path / "usr" / "lib" / "R" / "manual" / "manual3.pdf"
    copy.parent.mkdir(parents=True)
    copy.write_bytes(files[3].read_bytes())
    counts = collect({"pkg": files, "other": [copy]}, tmp_path / "out")
    assert counts["duplicates"] == 1 and counts["train"] + counts["val"] + counts["test"] == 40
    assert not list((tmp_path / "out").glob("*/other/*.pdf"))
    stale = tmp_path / "out" / "train" / "pkg" / "gone.pdf"
    stale.symlink_to(tmp_path / "nowhere.pdf")
    collect({"pkg": files}, tmp_path / "out")
    assert not stale.is_symlink()


def test_pdf_pages_make_evaluation_and_validation_sets(pdf_folder, tmp_path):
    from data.samples import write_pdf_eval_set
    from engine.verification import VerificationSet

    out = tmp_path / "eval"
    write_pdf_eval_set(out, pdf_folder, num_types=3, photos_per_type=2, unknown_types=1, long_side=120)
    registered = sorted(p.stem for p in (out / "register").iterdir())
    queried = sorted(p.name for p in (out / "queries").iterdir())
    assert len(registered) == 3 and len(queried) == 4 and set(registered) < set(queried)
    assert all(len(list((out / "queries" / q).glob("*.jpg"))) == 2 for q in queried)
    with pytest.raises(SystemExit, match="5 distinct pages to choose from"):
        write_pdf_eval_set(tmp_path / "e2", pdf_folder, num_types=9)

    val = VerificationSet.from_pdf_pages(str(pdf_folder), num_types=4, photos_per_type=2)
    assert (len(val.register), len(val.queries), val.num_types) == (4, 8, 4)
    assert val.truth.tolist() == [0, 0, 1, 1, 2, 2, 3, 3]


def test_page_sets_leave_out_blank_pages_and_copies_of_a_page(pdf_folder, tmp_path):
    """No evaluation or calibration type is a blank page or a page another file prints the same."""
    from data.pdf import DistinctPages, choose_distinct
    from data.samples import write_pdf_eval_set
    from engine.verification import VerificationSet

    # Where the draw holds no such page it is the plain draw (sets drawn before the filter stay as they were).
    pages = PdfPagesSource(pdf_folder, long_side=100, cache_dir=None)
    chosen, _ = choose_distinct(pages, 3, np.random.default_rng(5))
    assert [i for i, _ in chosen] == np.random.default_rng(5).choice(5, 3, replace=False).tolist()

    _pdf(pdf_folder / "c.pdf", ["white", "red", "purple"])  # a blank page, a copy of a.pdf's first, a new one
    distinct = DistinctPages()
    red = PdfPagesSource(pdf_folder, long_side=140, cache_dir=None).render(0)
    assert distinct.admit(red) and not distinct.admit(red.resize((150, 210)))  # the same page at another size
    assert not distinct.admit(Image.new("RGB", (300, 420), "white"))
    speck = Image.new("RGB", (300, 420), "white")
    ImageDraw.Draw(speck).rectangle([10, 10, 30, 30], fill="black")  # 0.4 % ink: nearly blank
    assert not distinct.admit(speck) and (distinct.kept, distinct.blank, distinct.repeated) == (1, 2, 1)
    blue = Image.new("RGB", (300, 420), "white")
    ImageDraw.Draw(blue).rectangle([20, 80, 200, 180], fill="blue")  # the same box lower down: another page
    assert distinct.admit(blue)
    stamped = blue.copy()
    ImageDraw.Draw(stamped).rectangle([240, 360, 260, 380], fill="black")  # the same page with a small stamp
    assert distinct.admit(stamped) and distinct.kept == 3

    out = tmp_path / "eval"
    write_pdf_eval_set(out, pdf_folder, num_types=5, photos_per_type=1, unknown_types=1, long_side=120)
    queried = sorted(p.name for p in (out / "queries").iterdir())
    assert len(queried) == 6 and "c_p1" not in queried
    assert sum(name in ("a_p1", "c_p2") for name in queried) == 1  # one of the two red pages
    with pytest.raises(SystemExit, match=r"6 distinct pages to choose from \(1 nearly blank and 1 repeated"):
        write_pdf_eval_set(tmp_path / "e2", pdf_folder, num_types=7)
    val = VerificationSet.from_pdf_pages(str(pdf_folder), num_types=8, photos_per_type=1)
    assert val.num_types == len(val.register) == 6 and val.truth.tolist() == list(range(6))


def test_folder_index_keeps_rglob_order_and_is_memory_mapped_and_small_to_pickle(tmp_path):
    root = tmp_path / "pages"
    names = ["a.png", "a/b.png", "a/c/d.png", "a-b.png", "A.png", "ça/é.jpg", "z.txt", ".hidden.png", "b/x.JPG"]
    for name in names:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (4, 4)).save(root / name, format="PNG")
    (root / "dangling.png").symlink_to(root / "nowhere.png")
    expected = [str(p) for p in sorted(root.rglob("*")) if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file()]
    plain = ImageFolderSource(root, class_per_image=True)
    mapped = ImageFolderSource(root, class_per_image=True, cache_dir=tmp_path / "cache")
    for source in (plain, mapped):
        assert [source.samples[i] for i in range(len(source))] == [(p, i) for i, p in enumerate(expected)]
    assert isinstance(mapped.samples.blob, np.memmap) and not isinstance(plain.samples.blob, np.memmap)
    by_folder = ImageFolderSource(root, cache_dir=tmp_path / "cache")  # classes: a, b, ça
    assert [by_folder.samples[i][1] for i in range(len(by_folder))] == [0, 0, 1, 2]
    again = ImageFolderSource(root, class_per_image=True, cache_dir=tmp_path / "cache")
    assert again.samples.folder == mapped.samples.folder  # same files: the same saved index
    # A DataLoader worker receives the folder's name, not the arrays.
    many = FileIndex.build(root, [f"d{i:06d}/page.png" for i in range(20_000)], list(range(20_000)), tmp_path / "c2")
    assert (
        len(pickle.dumps(many))
        < 1_000
        < len(pickle.dumps(FileIndex.build(root, ["x.png"] * 20_000, [0] * 20_000, None)))
    )
    copy = pickle.loads(pickle.dumps(many))
    assert copy[12_345] == (str(root / "d012345/page.png"), 12_345) and isinstance(copy.labels, np.memmap)


def _photo(path, seed: int, size=(900, 1260)):
    """A page-sized JPEG with structure at every scale (noise over a few boxes)."""
    rng = np.random.default_rng(seed)
    img = Image.fromarray(rng.integers(90, 200, (size[1], size[0], 3), dtype=np.uint8))
    draw = ImageDraw.Draw(img)
    for _ in range(6):
        x, y = rng.integers(0, size[0] - 200), rng.integers(0, size[1] - 200)
        draw.rectangle([x, y, x + 150, y + 120], fill=tuple(int(v) for v in rng.integers(0, 255, 3)))
    img.save(path, quality=90)


def test_decoded_cache_keeps_full_size_images_once_and_reads_them_back(tmp_path, monkeypatch, capsys):
    import data.folder as folder

    (tmp_path / "photos" / "a").mkdir(parents=True)
    _photo(tmp_path / "photos" / "a" / "big.jpg", 1)
    Image.new("RGB", (100, 150), (10, 200, 30)).save(tmp_path / "photos" / "a" / "small.png")
    cache = tmp_path / "cache"
    src = ImageFolderSource(tmp_path / "photos", cache_dir=cache, min_side=256, cache_side=320)
    big, small = src.load(0)[0], src.load(1)[0]
    entries = sorted((cache / "decoded").rglob("*.npy"))
    assert len(entries) == 1  # the small PNG is read from its file each time: not worth keeping
    assert big.dtype == np.uint8 and big.shape == (448, 320, 3)  # 1,260 × 900 → short side 320
    assert np.array_equal(small, np.asarray(Image.open(tmp_path / "photos" / "a" / "small.png")))
    assert np.array_equal(np.load(entries[0]), big)

    def no_decoding(*args):
        raise AssertionError("decoded again")

    with monkeypatch.context() as m:  # a second read comes from the cache, the same pixels
        m.setattr(folder, "_decode", no_decoding)
        assert np.array_equal(src.load(0)[0], big)
        again = pickle.loads(pickle.dumps(src))  # as DataLoader workers get it
        assert np.array_equal(again.load(0)[0], big)

    entries[0].write_bytes(entries[0].read_bytes()[:200])  # damaged (a crash on a file system that lost it)
    assert np.array_equal(src.load(0)[0], big) and np.array_equal(np.load(entries[0]), big)  # decoded, rewritten

    _photo(tmp_path / "photos" / "a" / "big.jpg", 2)  # the file changes: decoded anew, a new entry
    changed = src.load(0)[0]
    assert not np.array_equal(changed, big) and len(list((cache / "decoded").rglob("*.npy"))) == 2
    assert capsys.readouterr().err == ""


def test_decoded_cache_that_cannot_be_written_warns_once_and_training_goes_on(tmp_path):
    (tmp_path / "photos" / "a").mkdir(parents=True)
    for k in range(3):
        _photo(tmp_path / "photos" / "a" / f"{k}.jpg", k)
    (tmp_path / "cache").write_text("a file where the cache folder should be")
    warnings = []
    src = ImageFolderSource(
        tmp_path / "photos", cache_dir=tmp_path / "cache", min_side=256, cache_side=320, warn=warnings.append
    )
    images = [src.load(i)[0] for i in range(3)] + [src.load(0)[0]]
    assert [min(im.shape[:2]) for im in images] == [320] * 4 and np.array_equal(images[0], images[3])
    assert len(warnings) == 1 and "cache/decoded: cannot keep decoded images there" in warnings[0]
    assert ImageFolderSource(tmp_path / "photos", min_side=256, cache_side=320).decoded is None  # no cache_dir


def test_cached_images_train_through_expansion_letterbox_and_plain_resize(tmp_path):
    """Sources may give arrays (the decoded cache): every transform and the expansion take them, and an
    epoch with a cold cache gives the same tensors as with a warm one."""
    import shutil

    import torch

    from configs import load_config
    from data import AugmentedDataset, build_source, train_transform

    (tmp_path / "photos" / "a").mkdir(parents=True)
    (tmp_path / "photos" / "b").mkdir()
    _photo(tmp_path / "photos" / "a" / "0.jpg", 0)
    _photo(tmp_path / "photos" / "b" / "1.jpg", 1, size=(1200, 800))
    sources = f"[{{kind: folder, root: {tmp_path / 'photos'}, cache_dir: {tmp_path / 'cache'}}}]"
    cfg = load_config("tiny_cpu", ["--data.sources", sources, "--data.image_size", "64"])
    source = build_source(cfg.data)
    assert isinstance(source.load(0)[0], np.ndarray)
    for strength, letterbox in (("medium", False), ("medium", True), ("none", False), ("none", True)):
        dataset = AugmentedDataset(
            source, train_transform(64, cfg.data.mean, cfg.data.std, strength, letterbox=letterbox)
        )
        x, label = dataset[1]
        assert x.shape == (3, 64, 64) and label == 1, (strength, letterbox)
    assert source.load(1)[0].shape == (160, 240, 3)  # 800 × 1,200 → short side 2.5 × 64
    image, label = ExpandedSource(source).load(5)  # variant 5: mirrored, bottom half
    assert VARIANTS[5] == (0, True, "bottom") and image.size == (160, 112) and label == 5
    dataset = AugmentedDataset(source, train_transform(64, cfg.data.mean, cfg.data.std, "medium"), seed=3)
    shutil.rmtree(tmp_path / "cache" / "decoded")
    cold = [dataset[i][0] for i in range(2)]
    warm = [dataset[i][0] for i in range(2)]
    assert all(torch.equal(a, b) for a, b in zip(cold, warm, strict=True))


def test_families_group_look_alike_classes_and_stay_apart_when_mixed(pdf_folder, tmp_path, capsys):
    """Each source's classes by family (``model.sibling_margin`` reads them): a synthetic family's
    siblings, the pages of one document; sub-folder classes and a source without families stand alone."""
    from data import class_families
    from data.folder import document_of

    synthetic = SyntheticDocuments(8, 1, family_size=4)
    assert class_families(synthetic).tolist() == [0, 0, 0, 0, 1, 1, 1, 1]
    assert class_families(SyntheticDocuments(3, 1)).tolist() == [0, 1, 2]
    pdfs = PdfPagesSource(pdf_folder, 64)  # a.pdf: 3 pages, sub/b.pdf: 2 (the broken one skipped)
    assert class_families(pdfs).tolist() == [0, 0, 0, 1, 1]
    pages = tmp_path / "pages"
    pages.mkdir()
    for name in ("a_p1", "a_p12", "b_p1", "a_p", "cover"):  # as `python -m data.pdf` names pages
        Image.new("RGB", (20, 20)).save(pages / f"{name}.png")
    per_image = ImageFolderSource(pages, class_per_image=True)
    by_name = {Path(per_image.samples[i][0]).stem: f for i, f in enumerate(class_families(per_image))}
    assert by_name["a_p1"] == by_name["a_p12"] and len(set(by_name.values())) == 4
    folder_pdfs = ImageFolderSource(pdf_folder, class_per_image=True)  # PDFs page by page: one family each
    assert sorted(np.bincount(class_families(folder_pdfs)).tolist()) == [2, 3]
    assert document_of("x/doc.pdf#page=3") == "x/doc.pdf" and document_of("x/doc_p3.png") == "x/doc"
    assert class_families(ImageFolderSource(pdf_folder)).tolist() == list(
        range(ImageFolderSource(pdf_folder).num_classes)
    )
    expanded = class_families(ExpandedSource(SyntheticDocuments(2, 1, family_size=2)))
    assert expanded.tolist() == list(range(24)) * 2  # variant v of class 0 and of its sibling, class 1
    mixed = class_families(MixedSource([(synthetic, 1.0), (pdfs, 1.0)]))
    assert mixed.tolist() == [0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 3, 3]
    capsys.readouterr()


def test_training_with_a_sibling_margin(pdf_folder, tmp_path):
    from train import run

    result = run(
        [
            "--cfg",
            "tiny_cpu",
            *TINY,
            "--data.sources",
            f"[{{kind: synthetic}}, {{kind: pdf, root: '{pdf_folder}'}}]",
            "--data.synthetic.family_size",
            "4",
            "--model.sibling_margin",
            "0.1",
            "--train.epochs",
            "1",
            "--run-dir",
            str(tmp_path / "r"),
        ]
    )
    head = result.model.head
    assert head.sibling_margin == 0.1 and head.families.tolist()[-5:] == [4, 4, 4, 5, 5]
    losses = [
        r["loss"] for r in map(json.loads, (result.run_dir / "metrics.jsonl").read_text().splitlines()) if "loss" in r
    ]
    assert losses and np.isfinite(losses).all()
    # Export and evaluation build the body alone: the margin's family ids are not needed there.
    import export_onnx

    out = tmp_path / "m.onnx"
    argv = ["--ckpt", str(result.run_dir), "--out", str(out), "--calibration-types", "6", "--policy-types", "0"]
    assert export_onnx.main(argv) == 0 and out.is_file()
