"""PDF and multi-page TIFF inputs (documents.py, infer.py): pages, page ranges, documents, bad files."""

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

import documents
import infer
from conftest import ROOT
from documents import DocumentError, Page, group_documents, page_key, pages_of, parse_pages, render

pdfium = pytest.importorskip("pypdfium2")  # in requirements-infer.txt; the PDF tests need it


def pages_of_register(*labels):
    return [Image.open(ROOT / "register" / f"{label}.png").convert("RGB") for label in labels]


def write_pdf(path, images, dpi=100):
    images = [im.copy() for im in images]  # saving leaves the encoder's settings on the image objects
    images[0].save(path, save_all=True, append_images=images[1:], resolution=dpi)
    return path


def write_tiff(path, images):
    images = [im.copy() for im in images]
    images[0].save(path, save_all=True, append_images=images[1:], compression="tiff_deflate")
    return path


def hand_made_pdf(objects: list[str], trailer: str = "") -> bytes:
    """A minimal PDF with a correct cross-reference table."""
    out, offsets = b"%PDF-1.4\n", []
    for i, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += f"{i} 0 obj\n{body}\nendobj\n".encode()
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += b"".join(f"{o:010d} 00000 n \n".encode() for o in offsets)
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R {trailer}>>\nstartxref\n{xref}\n%%EOF\n".encode()
    return out


@pytest.fixture()
def bad_pdfs(tmp_path):
    """An encrypted PDF (a user password the empty one does not open), a damaged one, one without
    pages and a text file named .pdf."""
    folder = tmp_path / "bad"
    folder.mkdir()
    catalog, pages, page = (
        "<< /Type /Catalog /Pages 2 0 R >>",
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 200 200] >>",
    )
    rng = np.random.default_rng(0)
    o, u, file_id = (rng.bytes(n).hex() for n in (32, 32, 16))
    security = f"<< /Filter /Standard /V 1 /R 2 /O <{o}> /U <{u}> /P -4 >>"
    (folder / "encrypted.pdf").write_bytes(
        hand_made_pdf([catalog, pages, page, security], f"/Encrypt 4 0 R /ID [<{file_id}><{file_id}>] ")
    )
    (folder / "damaged.pdf").write_bytes(b"%PDF-1.4\n" + rng.bytes(300))
    empty = pdfium.PdfDocument.new()
    empty.save(str(folder / "empty.pdf"))
    (folder / "notes.pdf").write_text("not a pdf at all\n")
    return folder


# ------------------------------------------------------------------------------------ units


def test_page_ranges():
    assert parse_pages("1-3,7").select(10) == [0, 1, 2, 6]
    assert parse_pages("2-").select(4) == [1, 2, 3]
    assert parse_pages("5, 2").select(3) == [1]  # beyond the end: left out
    assert parse_pages("3-3,1-2").select(5) == [0, 1, 2]
    for bad, message in (
        ("0", "count from 1"),
        ("3-1", "runs upwards"),
        ("a", "not a page or a range"),
        ("", "not a page"),
    ):
        with pytest.raises(ValueError, match=message):
            parse_pages(bad)


def test_page_keys_and_names():
    assert page_key("forms/form.pdf#page=12") == ("forms/form.pdf", 11)
    assert page_key("form.png") == ("form.png", None)
    assert page_key("odd#page=0.png") == ("odd#page=0.png", None)
    assert str(Page(documents.Path("a.pdf"), 0)) == "a.pdf#page=1"


def test_group_documents_splits_where_the_type_changes():
    def page(n, label, path="s.pdf"):
        return {"path": path, "page": n, "label": label}

    results = [
        page(1, "invoice"),
        page(2, "invoice"),
        page(3, None),
        page(4, None),
        {"path": "s.pdf", "page": 5, "error": "s.pdf#page=5: cannot render"},
        page(6, "invoice"),
        page(8, "invoice"),  # page 7 left out by --pages: not consecutive
        page(1, "invoice", "t.pdf"),  # another file: another document
        {"path": "photo.jpg", "label": "invoice"},  # not a page: belongs to no document
    ]
    assert group_documents(results) == [
        {"path": "s.pdf", "label": "invoice", "pages": [1, 2]},
        {"path": "s.pdf", "label": None, "pages": [3, 4]},
        {"path": "s.pdf", "label": "invoice", "pages": [6, 6]},
        {"path": "s.pdf", "label": "invoice", "pages": [8, 8]},
        {"path": "t.pdf", "label": "invoice", "pages": [1, 1]},
    ]


# ------------------------------------------------------------------------------------ reading


def test_pdf_pages_render_at_the_size_asked_for(tmp_path):
    originals = pages_of_register("form_9", "letter_8", "receipt_13")
    pdf = write_pdf(tmp_path / "stack.pdf", originals)
    pages = pages_of(pdf)
    assert pages == [Page(pdf, 0), Page(pdf, 1), Page(pdf, 2)]
    assert pages_of(pdf, parse_pages("2-")) == [Page(pdf, 1), Page(pdf, 2)]
    assert pages_of(pdf, first_only=True) == [Page(pdf, 0)]
    for page, original in zip(pages, originals, strict=True):
        image = render(page, short_side=192)
        assert image.mode == "RGB" and min(image.size) >= 191  # rounding of the scale: a pixel at most
        assert abs(image.size[0] / image.size[1] - original.size[0] / original.size[1]) < 0.02
        # The same picture: Pillow stored it as a JPEG at 100 dpi, so compare its rendering at that size.
        native = render(page, short_side=min(original.size)).resize(original.size, Image.BILINEAR)
        a, b = (np.asarray(im.convert("L"), np.float32).ravel() for im in (native, original))
        assert np.corrcoef(a, b)[0, 1] > 0.95
        assert max(render(page, long_side=300).size) in (299, 300, 301)
    with pytest.raises(DocumentError, match=r"none of its 3 pages is in --pages 5-"):
        pages_of(pdf, parse_pages("5-"))
    write_pdf(pdf, originals[:1])  # the same path, new content: opened again, not served stale
    assert pages_of(pdf) == [Page(pdf, 0)]


def test_tiff_frames_are_pages_and_one_frame_is_an_image(tmp_path):
    originals = pages_of_register("form_9", "letter_8")
    tiff = write_tiff(tmp_path / "scan.tif", originals)
    assert pages_of(tiff) == [Page(tiff, 0), Page(tiff, 1)]
    assert np.array_equal(np.asarray(render(Page(tiff, 1))), np.asarray(originals[1]))
    single = write_tiff(tmp_path / "one.tiff", originals[:1])
    assert pages_of(single) == [single]
    with pytest.raises(DocumentError, match=r"scan.tif#page=3: the TIFF has fewer frames"):
        render(Page(tiff, 2))


def test_bad_pdfs_are_one_line_errors_naming_the_file(bad_pdfs):
    expected = {
        "encrypted.pdf": "encrypted PDF (a password is needed to open it)",
        "damaged.pdf": "damaged PDF, or one without pages (PDFium cannot open it)",
        "empty.pdf": "damaged PDF, or one without pages (PDFium cannot open it)",
        "notes.pdf": "not a PDF file",
    }
    for name, message in expected.items():
        with pytest.raises(DocumentError) as e:
            pages_of(bad_pdfs / name)
        assert str(e.value) == f"{bad_pdfs / name}: {message}"
    with pytest.raises(DocumentError, match=r"missing.pdf: no such file"):
        pages_of(bad_pdfs / "missing.pdf")


def test_without_pypdfium2_a_pdf_is_a_one_line_error(tmp_path, monkeypatch):
    pdf = write_pdf(tmp_path / "a.pdf", pages_of_register("form_9"))
    monkeypatch.setattr(documents, "_open_pdf", None)
    monkeypatch.setattr(documents, "_pdfium", lambda: None)
    with pytest.raises(DocumentError, match=r"a.pdf: reading PDFs needs pypdfium2 \(pip install pypdfium2\)$"):
        pages_of(pdf)


# ------------------------------------------------------------------------------------ infer.py


def _cli(*args):
    return subprocess.run(
        [sys.executable, str(ROOT / "infer.py"), *map(str, args)], cwd=ROOT, capture_output=True, text=True, timeout=120
    )


@pytest.mark.slow
def test_cli_classifies_every_page_and_splits_documents(tmp_path, bad_pdfs):
    """The shipped model and register: a 3-page PDF and a 3-frame TIFF of two registered types."""
    stack = pages_of_register("form_9", "form_9", "letter_8")
    pdf = write_pdf(tmp_path / "stack.pdf", stack)
    tiff = write_tiff(tmp_path / "stack.tif", stack)
    for path in (pdf, tiff):
        proc = _cli(path, "--json")
        assert proc.returncode == 0, proc.stderr
        doc = json.loads(proc.stdout)
        pages = [(r["path"], r["page"], r["label"]) for r in doc["results"]]
        assert pages == [(str(path), 1, "form_9"), (str(path), 2, "form_9"), (str(path), 3, "letter_8")]
        assert doc["documents"] == [
            {"path": str(path), "label": "form_9", "pages": [1, 2]},
            {"path": str(path), "label": "letter_8", "pages": [3, 3]},
        ]
    plain = _cli(pdf, "--pages", "2-")
    assert plain.returncode == 0, plain.stderr
    assert plain.stdout.splitlines() == [
        f"{pdf}#page=2: form_9  1.000",
        f"{pdf}#page=3: letter_8  1.000",
        f"{pdf} page 2: form_9",
        f"{pdf} page 3: letter_8",
    ]
    # A batch with bad PDFs: one line each on stderr, the good file still classified, exit 1.
    shutil.copy(pdf, bad_pdfs / "good.pdf")
    mixed = _cli(bad_pdfs)
    assert mixed.returncode == 1
    errors = mixed.stderr.strip().splitlines()
    assert len(errors) == 4 and all(line.startswith(f"error: {bad_pdfs}/") for line in errors)
    assert f"{bad_pdfs / 'good.pdf'} pages 1-2: form_9" in mixed.stdout
    bad_range = _cli(pdf, "--pages", "0-2")
    assert bad_range.returncode == 2 and "--pages: '0-2': pages count from 1" in bad_range.stderr


@pytest.mark.slow
def test_a_pdf_in_the_register_registers_its_pages(tmp_path):
    register = tmp_path / "register"
    shutil.copytree(ROOT / "register", register, ignore=shutil.ignore_patterns(".*", "form_9.png", "letter_8.png"))
    # One PDF, two pages: the form and the letter both become examples of "paperwork".
    write_pdf(register / "paperwork.pdf", pages_of_register("form_9", "letter_8"))
    shutil.copy(ROOT / "examples" / "photo_of_form_9.jpg", tmp_path / "q.jpg")
    clf = infer.DocClassifier(infer.DEFAULT_MODEL, register)
    assert "paperwork" in clf.labels and clf.num_examples == 6  # 4 images + 2 pages
    assert clf.classify(tmp_path / "q.jpg")[0] == "paperwork"
    with np.load(register / infer.CACHE_NAME) as z:
        cached = [r["path"] for r in json.loads(str(z["meta"]))["files"]]
    assert "paperwork.pdf#page=1" in cached and "paperwork.pdf#page=2" in cached
    first = infer.DocClassifier(infer.DEFAULT_MODEL, register, register_pages="first")
    assert first.num_examples == 5  # the first page only
    # The second look finds the pages' keypoints through their keys.
    pytest.importorskip("cv2")
    look = infer.DocClassifier(infer.DEFAULT_MODEL, register, second_look=True)
    assert any(k.startswith("paperwork.pdf#page=") and len(v[0]) > 0 for k, v in look._keypoints.items())
    page = Page(register / "paperwork.pdf", 1)
    assert look.classify(page)[0] == "paperwork"  # a Page is an input like a path
    os.utime(register / "paperwork.pdf", ns=(1, 1))  # touched, not changed: the cache still serves
    assert infer.DocClassifier(infer.DEFAULT_MODEL, register).num_examples == 6
