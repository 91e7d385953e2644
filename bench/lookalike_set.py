"""A look-alike evaluation set drawn by its own code, not by the training generator.

    python -m bench.lookalike_set --out held_out/lookalike --pdf-root data_cache/pdfs/test
    python eval.py --model assets/model.onnx --data held_out/lookalike                      # both parts
    python eval.py --model assets/model.onnx --data held_out/lookalike/lookalike_templates  # one part
    python eval.py --model assets/model.onnx --data held_out/lookalike/lookalike_pages

The model tells kinds of documents apart (invoice against ticket) far better than two designs of one
kind (two vendors' invoices made from one package, a form and its revised edition), and a set drawn
by data/synthetic.py, which also draws the training classes, flatters it. So this file draws its own
documents: families of one kind whose sibling designs are

- ``rebrand``: the same layout with another issuer, logo and palette;
- ``variant``: the same issuer, palette and style with one or two layout elements changed (header,
  logo side, field style, field list, table columns, footer, bands);
- ``fresh``: an unrelated design of the same kind;

each sibling its own type, registered by one clean instance and queried by photos of other instances
(other names, numbers, amounts, rows, dates). It uses only the fonts kept for evaluation (DejaVu,
Liberation, Carlito, Open Sans; training draws with Pillow's built-in font), its own word lists and
its own photo simulation, and imports nothing from data/synthetic.py or data/transforms.py. Real
look-alikes come from pages of the PDFs in the test split (first pages of publishers' classes, title
pages of manuals, other pages), queried by photos of the same page.

The output folder holds the combined set (``register/``, ``queries/``) and each part as a set of its
own (``<name>_templates/``, ``<name>_pages/``, the same files hard-linked), plus ``manifest.json``
(every type's family, relation, changed attributes, design, registered or not) and ``overview.png``.
A query type without a register entry must come out "unknown": unregistered siblings of registered
families are the hardest of those.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import json
import math
import os
import shutil
import sys
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

LOOKALIKE_SEED = 271828  # used nowhere else in the repo

# ---------------------------------------------------------------------------------------------- fonts

# typeface → (regular, bold, italic) files; all of them evaluation-only fonts
FONT_FILES: dict[str, tuple[str, str, str]] = {
    "dejavu_sans": ("DejaVuSans.ttf", "DejaVuSans-Bold.ttf", "DejaVuSans-Oblique.ttf"),
    "dejavu_condensed": ("DejaVuSansCondensed.ttf", "DejaVuSansCondensed-Bold.ttf", "DejaVuSansCondensed-Oblique.ttf"),
    "dejavu_serif": ("DejaVuSerif.ttf", "DejaVuSerif-Bold.ttf", "DejaVuSerif-Italic.ttf"),
    "dejavu_mono": ("DejaVuSansMono.ttf", "DejaVuSansMono-Bold.ttf", "DejaVuSansMono-Oblique.ttf"),
    "liberation_sans": ("LiberationSans-Regular.ttf", "LiberationSans-Bold.ttf", "LiberationSans-Italic.ttf"),
    "liberation_serif": ("LiberationSerif-Regular.ttf", "LiberationSerif-Bold.ttf", "LiberationSerif-Italic.ttf"),
    "liberation_mono": ("LiberationMono-Regular.ttf", "LiberationMono-Bold.ttf", "LiberationMono-Italic.ttf"),
    "carlito": ("Carlito-Regular.ttf", "Carlito-Bold.ttf", "Carlito-Italic.ttf"),
    "open_sans": ("OpenSans-Regular.ttf", "OpenSans-Bold.ttf", "OpenSans-Italic.ttf"),
    "open_sans_light": ("OpenSans-Light.ttf", "OpenSans-Semibold.ttf", "OpenSans-LightItalic.ttf"),
}
FONT_PACKAGES = "fonts-dejavu-core fonts-liberation2 fonts-crosextra-carlito fonts-open-sans"
FONT_DIRS = ("/usr/share/fonts", "/usr/local/share/fonts", "~/.local/share/fonts", "~/.fonts")
MONO_FACES = ("dejavu_mono", "liberation_mono")


class FontsMissing(RuntimeError):
    pass


@functools.lru_cache(maxsize=1)
def typefaces() -> dict[str, tuple[Path, Path, Path]]:
    """The evaluation typefaces installed here (all three styles found), by name."""
    found: dict[str, Path] = {}
    for folder in FONT_DIRS:
        root = Path(folder).expanduser()
        if root.is_dir():
            for path in sorted(root.rglob("*.[ot]tf")):
                found.setdefault(path.name, path)
    return {name: tuple(found[f] for f in trio) for name, trio in FONT_FILES.items() if all(f in found for f in trio)}


def require_typefaces() -> dict[str, tuple[Path, Path, Path]]:
    faces = typefaces()
    if not faces:
        raise FontsMissing(
            f"no evaluation fonts (DejaVu, Liberation, Carlito, Open Sans) found under {', '.join(FONT_DIRS)}: "
            f"apt-get install {FONT_PACKAGES}"
        )
    return faces


FONTS_USED: set[Path] = set()  # every font file opened, so a test can check that only evaluation fonts are


@functools.lru_cache(maxsize=256)  # each holds its font file in memory
def _font(path: Path, px: int) -> ImageFont.FreeTypeFont:
    FONTS_USED.add(path)
    return ImageFont.truetype(str(path), max(5, px))


# ---------------------------------------------------------------------------------------------- words


def _words(text: str, sep: str | None = None) -> tuple[str, ...]:
    return tuple(text.split(sep))


FIRST = _words(
    "Anna Ben Carla David Elena Farid Greta Hannah Ivan Julia Karim Laura Marco Nadia Oscar Paula Quentin Rosa "
    "Samuel Tara Ugo Vera Walter Xenia Yusuf Zoe Amira Bruno Chloe Dmitri Emma Felix Grace Hugo Ines Jonas Kira "
    "Leon Maya Noah Olga Pedro Rania Stefan Tomas Ulla Victor Wen Yara Aiko Rafael Sofia Mateo Lena Arjun Priya"
)
LAST = _words(
    "Adams Becker Costa Dubois Eriksen Fischer Garcia Hoffmann Ivanova Jensen Kowalski Lambert Moreau Novak "
    "Olsen Petrov Quinn Rossi Schmidt Tanaka Umar Vargas Weber Xu Young Zimmermann Almeida Brennan Castillo "
    "Dalton Ferreira Gallagher Haddad Ishikawa Jovanovic Keller Lindqvist Mendes Nakamura O'Brien Patel "
    "Ramirez Santos Takahashi Ueda Varga Wagner Yilmaz Zhou Murphy Silva Kaur"
)
ORG_STEMS = _words(
    "Northwind Bluefield Harbor Alder Kestrel Meridian Summit Crescent Granite Lakeside Brightwater Oakridge "
    "Silverline Redwood Pinecrest Ironbridge Westgate Fairmont Stonebrook Clearview Highland Riverside Juniper "
    "Copperleaf Evergreen Foxhill Goldcrest Hawthorne Larkspur Maplewood Nordic Orion Pacifica Quarry Rockport "
    "Sterling Tidewater Union Valemont Whitfield Ashford Beacon Cobalt Driftwood Emberly Falcon Glenmore Horizon "
    "Keystone Lumen Marlow Newhaven Oakley Pembroke Radiant Solano Trident Vantage Willow Zenith Atlas Boreal"
)
STREETS = _words(
    "Market Station Church Mill Park High Bridge Elm Victoria Harbour Kings Queen Garden Oak Canal Lime Castle "
    "Meadow Orchard Cedar Willow Chapel Baker Cross Forest Dock Museum Tower Union"
)
STREET_TYPES = ("Street", "Road", "Avenue", "Lane", "Way", "Place", "Square", "Strasse", "Allee", "Boulevard")
CITIES = _words(
    "Amsterdam Antwerp Berlin Bergen Bologna Bristol Brno Cork Dresden Dublin Edinburgh Geneva Ghent Gothenburg "
    "Graz Hamburg Helsinki Krakow Leeds Leipzig Lille Lisbon Lyon Malmo Munich Nantes Oslo Porto Prague Riga "
    "Rotterdam Seville Tallinn Turin Utrecht Valencia Vienna Vilnius Zagreb Zurich"
)
COUNTRIES = _words(
    "Netherlands Belgium Germany Norway Italy Ireland Austria Switzerland Sweden Finland Poland France "
    "Portugal Spain Estonia Latvia Lithuania Croatia Czechia Denmark"
)
ITEMS = _words(
    "Office chair, ergonomic|A4 copy paper, 5 reams|Toner cartridge, black|Desk lamp LED|Network cable 5 m|"
    "Consulting services|Software licence, annual|Maintenance visit|Stainless bolts M8 (100)|Hydraulic hose 2 m|"
    "Safety gloves, size L|Laptop stand|USB-C docking station|Monitor 27 in|Wireless keyboard|Installation labour|"
    "Travel expenses|Printed brochures (500)|Logo design|Website hosting, 12 months|Cleaning service, monthly|"
    "Coffee beans 1 kg|Paper towels (24)|Whiteboard markers|Filing cabinet|Shipping and handling|Pallet rental|"
    "Steel bracket 40 mm|Paint, white 10 l|Electrical inspection|Training session, half day|Spare parts kit|"
    "Translation, per page|Cloud storage 1 TB|Conference room hire|Catering, lunch for 12|Air filter F7|"
    "Packaging tape (36)|LED panel 60x60|Cable ties (500)",
    "|",
)
GROCERIES = _words(
    "Milk 1L|Bread wholegrain|Bananas|Apples 1kg|Cheddar 200g|Coffee 500g|Eggs x10|Butter 250g|Tomatoes|Pasta 500g|"
    "Olive oil|Orange juice|Yoghurt|Chicken breast|Rice 1kg|Tea bags x80|Chocolate|Sparkling water|Shampoo|"
    "Toothpaste|Batteries AA|Notebook A5|Pens x3|Croissant|Cappuccino|Flat white|Sandwich|Muffin|Aspirin 20|"
    "Plasters|Light bulb|Screws 4x40|Sandpaper|Glue stick|Paperback novel|Magazine|Flowers|Carrots|Onions 1kg",
    "|",
)
MERCHANTS = _words(
    "CARD PAYMENT TO|DIRECT DEBIT|STANDING ORDER|TRANSFER FROM|TRANSFER TO|CASH WITHDRAWAL|SALARY|INTEREST|"
    "ONLINE PAYMENT|REFUND FROM",
    "|",
)
PAYEES = _words(
    "City Energy|Metro Transit|Green Grocers|Telecom Plus|Water Board|Harbor Insurance|Book Corner|Fuel Stop|"
    "Pharmacy Nord|Cinema Royal|Rent Account|Gym Club|Online Market|Cafe Central|Tax Office",
    "|",
)
EARNINGS = [
    "Basic pay",
    "Overtime",
    "Holiday pay",
    "Bonus",
    "Shift allowance",
    "Commission",
    "Travel allowance",
    "Sick pay",
]
DEDUCTIONS = ["Income tax", "Social security", "Pension", "Health insurance", "Union fee", "Student loan", "Canteen"]
DEPARTMENTS = [
    "Finance",
    "Logistics",
    "Sales",
    "Engineering",
    "Human Resources",
    "Customer Service",
    "Production",
    "IT",
    "Legal",
]
JOBS = _words(
    "Accountant|Warehouse operative|Sales manager|Software engineer|HR advisor|Service agent|Technician|"
    "Project lead|Buyer|Analyst",
    "|",
)
COURSES = _words(
    "Advanced Project Management|Workplace Health and Safety|First Aid at Work|Data Protection Essentials|"
    "Business English, Level C1|Forklift Operation|Financial Accounting I|Lean Six Sigma Green Belt|"
    "Introduction to Python|Food Hygiene Level 2|Customer Service Excellence|Electrical Installation",
    "|",
)
AIRPORTS = _words(
    "AMS Amsterdam|BER Berlin|BRU Brussels|CPH Copenhagen|DUB Dublin|EDI Edinburgh|FRA Frankfurt|GVA Geneva|"
    "HEL Helsinki|LIS Lisbon|LHR London|MAD Madrid|MUC Munich|OSL Oslo|PRG Prague|RIX Riga|ARN Stockholm|"
    "VIE Vienna|WAW Warsaw|ZRH Zurich|OPO Porto|NCE Nice|BCN Barcelona|ATH Athens",
    "|",
)
EVENTS = _words(
    "Summer Jazz Night|City Marathon Expo|Spring Symphony Gala|Indie Film Festival|Harbour Lights Concert|"
    "Tech Forum 2025|Championship Final|Comedy Evening|Opera: La Traviata|Rock in the Park",
    "|",
)
VOCAB = _words(
    "we are pleased to confirm that your request has been received and will be processed within the agreed "
    "period please note that all amounts are payable in full by the date shown above should you have any "
    "questions regarding this document do not hesitate to contact our office the terms and conditions of "
    "your agreement remain unchanged unless otherwise stated in writing we kindly ask you to keep this "
    "document for your records and to quote the reference number in all correspondence thank you for your "
    "continued trust in our services the information provided will be treated confidentially and used only "
    "for the purpose stated this notice replaces any earlier version and takes effect from the date of issue "
    "payment may be made by bank transfer to the account below late payments may incur interest at the "
    "statutory rate goods remain our property until paid in full"
)
FORM_SECTIONS = _words(
    "Personal details|Contact information|Address|Employment|Household|Bank details|Declaration|Previous "
    "applications|Supporting documents|Emergency contact",
    "|",
)

# ---------------------------------------------------------------------------------------------- design


@dataclass(frozen=True)
class Palette:
    name: str
    primary: tuple[int, int, int]
    accent: tuple[int, int, int]


PALETTES = (
    Palette("navy", (22, 45, 94), (230, 160, 30)),
    Palette("teal", (0, 110, 120), (250, 180, 60)),
    Palette("forest", (30, 95, 55), (170, 200, 60)),
    Palette("burgundy", (120, 25, 45), (200, 160, 90)),
    Palette("royal", (35, 80, 180), (90, 180, 230)),
    Palette("orange", (225, 100, 20), (60, 60, 70)),
    Palette("purple", (90, 45, 130), (230, 90, 130)),
    Palette("slate", (60, 75, 90), (0, 150, 200)),
    Palette("red", (200, 30, 40), (40, 40, 40)),
    Palette("ochre", (180, 130, 20), (50, 70, 90)),
    Palette("charcoal", (45, 45, 50), (220, 60, 50)),
    Palette("cyan", (0, 140, 190), (120, 200, 80)),
    Palette("magenta", (170, 20, 110), (250, 200, 0)),
    Palette("olive", (95, 105, 35), (200, 120, 40)),
)
LOGO_SHAPES = ("disc", "square", "rings", "chevron", "bars", "leaf", "diamond", "wordmark", "ring", "triangle")
PAPERS = ((255, 255, 255), (253, 253, 250), (250, 250, 247), (255, 254, 250), (248, 249, 250))

HEADERS = ("band", "rule", "plain", "block", "tint")
LOGO_SIDES = ("left", "right", "center")
FIELD_STYLES = ("label_left", "label_above", "boxed", "underlined", "grid")
FOOTERS = ("rule", "band", "small_print", "page_no", "none")
BANDS = ("none", "side_stripe", "top_stripes", "corner", "bottom_wave", "watermark")
TABLE_STYLES = ("filled", "tint", "rules", "grid", "zebra")
LAYOUT_ELEMENTS = ("header", "logo_side", "field_style", "fields", "columns", "footer", "bands")
REBRAND_CHANGES = ("issuer", "logo", "palette")


@dataclass(frozen=True)
class Logo:
    shape: str
    variant: int  # proportions and angles within the shape


@dataclass(frozen=True)
class Design:
    """Everything that is the same on every instance of a type; content is drawn per instance."""

    kind: str
    skeleton: int  # the kind's arrangement of blocks
    title: str
    issuer: str
    logo: Logo
    palette: Palette
    typeface: str
    heading_typeface: str
    paper: tuple[int, int, int]
    table_style: str
    type_scale: float
    header: str
    logo_side: str
    field_style: str
    fields: tuple[str, ...]
    columns: tuple[str, ...]
    footer: str
    bands: str


@dataclass(frozen=True)
class KindSpec:
    size_mm: tuple[float, float]
    titles: tuple[str, ...]
    suffixes: tuple[str, ...]  # how issuers of this kind are named
    fields: tuple[str, ...]  # the labelled fields a design draws from, in printing order
    n_fields: tuple[int, int]
    columns: tuple[str, ...] = ()  # table columns a design draws from, in printing order
    n_columns: tuple[int, int] = (0, 0)
    keep_columns: tuple[str, ...] = ()  # columns every design of the kind has
    skeletons: int = 2
    bands: tuple[str, ...] = BANDS


KINDS: dict[str, KindSpec] = {
    "invoice": KindSpec(
        (210, 297),
        ("INVOICE", "Invoice", "Tax Invoice", "BILL", "Rechnung / Invoice"),
        ("Supplies Ltd", "Trading GmbH", "Engineering BV", "Office Solutions", "Industrial AG", "Services Ltd"),
        (
            "Invoice no.",
            "Invoice date",
            "Due date",
            "Customer no.",
            "Order ref.",
            "VAT no.",
            "Payment terms",
            "Contact",
        ),
        (3, 6),
        ("Item no.", "Description", "Qty", "Unit", "Unit price", "VAT %", "Discount", "Amount"),
        (4, 6),
        ("Description", "Amount"),
        3,
    ),
    "payslip": KindSpec(
        (210, 297),
        ("PAYSLIP", "Payslip", "Pay Statement", "Salary Statement", "Earnings Statement"),
        ("Holdings Ltd", "Group", "Manufacturing", "Foods GmbH", "Logistics BV", "Retail Ltd"),
        ("Employee", "Employee no.", "Department", "Job title", "Pay date", "Period", "Tax code", "Bank account"),
        (4, 7),
        ("Code", "Description", "Hours", "Rate", "Amount", "Year to date"),
        (3, 5),
        ("Description", "Amount"),
        2,
    ),
    "statement": KindSpec(
        (210, 297),
        ("Account Statement", "STATEMENT OF ACCOUNT", "Current Account", "Bank Statement", "Monthly Statement"),
        ("Bank", "Savings Bank", "Credit Union", "Building Society", "Private Bank", "Sparkasse"),
        ("Account holder", "Account no.", "IBAN", "BIC", "Statement no.", "Period", "Statement date", "Branch"),
        (3, 6),
        ("Date", "Value date", "Type", "Description", "Reference", "Paid out", "Paid in", "Balance"),
        (4, 6),
        ("Date", "Description", "Paid out", "Paid in"),
        2,
    ),
    "shipping_label": KindSpec(
        (102, 152),
        ("PRIORITY", "EXPRESS", "STANDARD", "ECONOMY", "NEXT DAY"),
        ("Express", "Logistics", "Parcel", "Freight", "Couriers", "Post"),
        ("Weight", "Ship date", "Ref.", "Pieces", "Dims", "Account", "Service", "Zone"),
        (2, 5),
        skeletons=2,
    ),
    "boarding_pass": KindSpec(
        (210, 82),
        ("BOARDING PASS", "Boarding Pass", "E-TICKET", "Admission Ticket", "TRAVEL TICKET"),
        ("Airways", "Air", "Rail", "Lines", "Arena", "Events"),
        ("Passenger", "Flight", "Date", "Gate", "Seat", "Boarding", "Class", "Sequence", "Booking ref."),
        (4, 7),
        skeletons=2,
    ),
    "id_card": KindSpec(
        (85.6, 54),
        ("IDENTITY CARD", "RESIDENCE PERMIT", "EMPLOYEE ID", "STUDENT CARD", "MEMBER CARD"),
        ("Authority", "Ministry of Interior", "University", "Municipality", "Health Service", "Club"),
        ("Surname", "Given names", "Date of birth", "Nationality", "Sex", "Card no.", "Expiry", "Place of birth"),
        (4, 7),
        skeletons=2,
    ),
    "receipt": KindSpec(
        (80, 190),
        ("RECEIPT", "Sales Receipt", "TAX RECEIPT", "Your receipt", "CUSTOMER COPY"),
        ("Market", "Cafe", "Pharmacy", "Hardware", "Bakery", "Books"),
        ("Date", "Time", "Till", "Cashier", "Receipt no.", "Store no."),
        (2, 4),
        ("Qty", "Item", "Price", "VAT", "Total"),
        (2, 4),
        ("Item", "Total"),
        2,
        ("none", "side_stripe", "top_stripes", "watermark"),
    ),
    "form": KindSpec(
        (210, 297),
        ("Application Form", "APPLICATION FOR A PERMIT", "Registration Form", "Claim Form", "Request for Benefit"),
        ("Council", "Agency", "Department", "Office", "Authority", "Foundation"),
        (
            "Surname",
            "First name(s)",
            "Date of birth",
            "Nationality",
            "Street and no.",
            "Postcode",
            "City",
            "Telephone",
            "Email",
            "Occupation",
            "Employer",
            "Reference no.",
            "Marital status",
            "Tax ID",
        ),
        (8, 12),
        skeletons=2,
    ),
    "certificate": KindSpec(
        (297, 210),
        ("CERTIFICATE", "Certificate of Completion", "Certificate of Achievement", "DIPLOMA", "Award of Merit"),
        ("Institute", "Academy", "College", "Training Centre", "School", "University"),
        ("Date", "Certificate no.", "Grade", "Hours", "Location", "Valid until"),
        (2, 3),
        skeletons=2,
    ),
    "letter": KindSpec(
        (210, 297),
        ("", "Notice", "Confirmation", "Reminder", "Offer"),
        ("Partners LLP", "& Co.", "Associates", "Consulting", "Insurance", "Housing Association"),
        ("Our ref.", "Your ref.", "Date", "Contact", "Direct line", "Email"),
        (2, 5),
        skeletons=2,
    ),
}


def _pick(rng: np.random.Generator, options):
    return options[int(rng.integers(len(options)))]


def _other(rng: np.random.Generator, options, current):
    """Any of ``options`` but ``current``: a sibling that names an attribute as changed really changes it."""
    return _pick(rng, [o for o in options if o != current])


def _subset(rng: np.random.Generator, pool: tuple[str, ...], n: int, keep: tuple[str, ...] = ()) -> tuple[str, ...]:
    """``n`` labels of ``pool`` in pool order, those in ``keep`` always among them."""
    optional = [p for p in pool if p not in keep]
    chosen = set(keep) | {optional[i] for i in rng.choice(len(optional), n - len(keep), replace=False)}
    return tuple(p for p in pool if p in chosen)


def _edit(rng: np.random.Generator, current: tuple[str, ...], pool: tuple[str, ...], lo: int, hi: int, keep=()):
    """A revised list: one label dropped or one added (pool order kept), so the layout moves; a
    label swapped for another of the same width would leave a difference only reading can find."""
    unused = [p for p in pool if p not in current]
    droppable = [c for c in current if c not in keep]
    ops = (["drop"] if len(current) > lo and droppable else []) + (["add"] if len(current) < hi and unused else [])
    if not ops:  # nothing to add or drop within the limits: swap
        chosen = (set(current) - {_pick(rng, droppable)}) | {_pick(rng, unused)}
    elif _pick(rng, ops) == "drop":
        chosen = set(current) - {_pick(rng, droppable)}
    else:
        chosen = set(current) | {_pick(rng, unused)}
    return tuple(p for p in pool if p in chosen)


def _issuer(rng: np.random.Generator, kind: str, avoid: str = "") -> str:
    while True:
        name = f"{_pick(rng, ORG_STEMS)} {_pick(rng, KINDS[kind].suffixes)}"
        if kind == "form":
            name = f"{_pick(rng, CITIES)} {_pick(rng, KINDS[kind].suffixes)}"
        elif kind == "id_card" and "Authority" in name:
            name = f"Republic of {_pick(rng, ORG_STEMS)}"
        if not avoid or name.removeprefix("Republic of ").split()[0] != avoid.removeprefix("Republic of ").split()[0]:
            return name


def draw_design(kind: str, rng: np.random.Generator, faces: list[str]) -> Design:
    """A fresh design of ``kind``: every attribute drawn anew."""
    spec = KINDS[kind]
    body_faces = list(faces)
    typeface = _pick(rng, [f for f in body_faces if f not in MONO_FACES] or body_faces)
    if kind == "receipt" and rng.random() < 0.6:
        typeface = _pick(rng, [f for f in body_faces if f in MONO_FACES] or body_faces)
    heading = typeface if rng.random() < 0.4 else _pick(rng, [f for f in body_faces if f not in MONO_FACES] or faces)
    n_fields = int(rng.integers(spec.n_fields[0], spec.n_fields[1] + 1))
    columns = ()
    if spec.columns:
        columns = _subset(
            rng, spec.columns, int(rng.integers(spec.n_columns[0], spec.n_columns[1] + 1)), keep=spec.keep_columns
        )
    return Design(
        kind=kind,
        skeleton=int(rng.integers(spec.skeletons)),
        title=_pick(rng, spec.titles),
        issuer=_issuer(rng, kind),
        logo=Logo(_pick(rng, LOGO_SHAPES), int(rng.integers(4))),
        palette=_pick(rng, PALETTES),
        typeface=typeface,
        heading_typeface=heading,
        paper=_pick(rng, PAPERS),
        table_style=_pick(rng, TABLE_STYLES),
        type_scale=float(_pick(rng, (0.92, 1.0, 1.08))),
        header=_pick(rng, HEADERS),
        logo_side=_pick(rng, LOGO_SIDES),
        field_style=_pick(rng, FIELD_STYLES),
        fields=_subset(rng, spec.fields, n_fields),
        columns=columns,
        footer=_pick(rng, FOOTERS),
        bands=_pick(rng, spec.bands),
    )


@dataclass(frozen=True)
class Sibling:
    design: Design
    relation: str  # base, rebrand, variant or fresh
    changed: tuple[str, ...]  # the Design attributes this relation changed against the family's base


RELATION_CYCLE = ("rebrand", "variant", "fresh")


def make_family(seed: int, family: int, siblings: int, faces: list[str]) -> list[Sibling]:
    """One kind of document in ``siblings`` designs: a base, then rebrand, variant, fresh, rebrand, …"""
    kinds = list(KINDS)
    order = np.random.default_rng([seed, 0xF0]).permutation(len(kinds))
    kind = kinds[int(order[family % len(kinds)])]
    rng = np.random.default_rng([seed, 0xFA, family])
    base = draw_design(kind, rng, faces)
    out = [Sibling(base, "base", ())]
    for i in range(1, siblings):
        relation = RELATION_CYCLE[(i - 1) % len(RELATION_CYCLE)]
        taken = [s.design for s in out]
        if relation == "rebrand":
            design = dataclasses.replace(
                base,
                issuer=_issuer(rng, kind, avoid=base.issuer),
                logo=Logo(_other(rng, LOGO_SHAPES, base.logo.shape), int(rng.integers(4))),
                palette=_pick(rng, [p for p in PALETTES if p not in {d.palette for d in taken}]),
            )
            changed = REBRAND_CHANGES
        elif relation == "variant":
            spec = KINDS[kind]
            elements = [e for e in LAYOUT_ELEMENTS if e != "columns" or spec.columns]
            while True:
                changed = tuple(sorted(rng.choice(elements, int(rng.integers(1, 3)), replace=False).tolist()))
                edits = {}
                for e in changed:
                    if e == "fields":
                        edits[e] = _edit(rng, base.fields, spec.fields, *spec.n_fields)
                    elif e == "columns":
                        edits[e] = _edit(rng, base.columns, spec.columns, *spec.n_columns, keep=spec.keep_columns)
                    else:
                        options = {
                            "header": HEADERS,
                            "logo_side": LOGO_SIDES,
                            "field_style": FIELD_STYLES,
                            "footer": FOOTERS,
                            "bands": spec.bands,
                        }[e]
                        edits[e] = _other(rng, options, getattr(base, e))
                design = dataclasses.replace(base, **edits)
                if design not in taken:
                    break
        else:
            while True:  # another arrangement, issuer and palette: unrelated but for the kind
                design = draw_design(kind, rng, faces)
                changed = design_changes(base, design)
                if {"skeleton", "issuer", "palette"} <= set(changed) and design not in taken:
                    break
        out.append(Sibling(design, relation, tuple(sorted(changed))))
    return out


def design_changes(a: Design, b: Design) -> tuple[str, ...]:
    """The attributes in which two designs differ."""
    return tuple(sorted(f.name for f in dataclasses.fields(Design) if getattr(a, f.name) != getattr(b, f.name)))


# ---------------------------------------------------------------------------------------------- drawing

INK = (28, 30, 34)
GREY = (110, 114, 120)
LIGHT = (200, 203, 208)
WHITE = (255, 255, 255)


def mix(a: tuple[int, int, int], b: tuple[int, int, int], t: float) -> tuple[int, int, int]:
    """``a`` moved towards ``b`` by ``t``."""
    return tuple(round(x + (y - x) * t) for x, y in zip(a, b, strict=True))


class Sheet:
    """A page measured in millimetres, drawn on a Pillow canvas of ``long_px`` on its long side."""

    def __init__(self, size_mm: tuple[float, float], long_px: int, design: Design):
        self.w, self.h = size_mm
        self.k = long_px / max(size_mm)
        self.im = Image.new("RGB", (round(self.w * self.k), round(self.h * self.k)), design.paper)
        self.draw = ImageDraw.Draw(self.im)
        self.d = design
        self.faces = typefaces()

    def p(self, v: float) -> int:
        return round(v * self.k)

    def font(
        self, size: float, style: str = "regular", heading: bool = False, face: str = ""
    ) -> ImageFont.FreeTypeFont:
        face = face or (self.d.heading_typeface if heading else self.d.typeface)
        path = self.faces[face][("regular", "bold", "italic").index(style)]
        return _font(path, round(size * self.d.type_scale * self.k))

    def text(self, x, y, s, size, fill=INK, style="regular", anchor="la", heading=False, max_w=None, face="") -> float:
        """Draw ``s`` (cut to ``max_w`` mm if given); returns its width in mm."""
        font = self.font(size, style, heading, face)
        if max_w is not None:
            while s and font.getlength(s) > max_w * self.k:
                s = s[:-2] + "…" if len(s) > 2 else ""
        self.draw.text((self.p(x), self.p(y)), s, font=font, fill=fill, anchor=anchor)
        return font.getlength(s) / self.k

    def width(self, s, size, style="regular", heading=False) -> float:
        return self.font(size, style, heading).getlength(s) / self.k

    def fit_size(self, s, size, max_w, style="regular", heading=False) -> float:
        """``size``, or smaller (down to 60 %) so that ``s`` fits in ``max_w`` mm."""
        width = self.width(s, size, style, heading)
        return size if width <= max_w else max(size * 0.6, 0.97 * size * max_w / width)  # 3 %: pixel rounding

    def box(self, x0, y0, x1, y1, fill=None, outline=None, lw=0.25, radius=0.0):
        xy = (self.p(x0), self.p(y0), self.p(x1), self.p(y1))
        width = max(1, round(lw * self.k)) if outline else 0
        if radius:
            self.draw.rounded_rectangle(xy, self.p(radius), fill=fill, outline=outline, width=width)
        else:
            self.draw.rectangle(xy, fill=fill, outline=outline, width=width)

    def line(self, x0, y0, x1, y1, fill=LIGHT, lw=0.25, dash: float = 0.0):
        width = max(1, round(lw * self.k))
        if not dash:
            self.draw.line((self.p(x0), self.p(y0), self.p(x1), self.p(y1)), fill=fill, width=width)
            return
        length = math.hypot(x1 - x0, y1 - y0)
        for t in np.arange(0, length, 2 * dash):
            a, b = t / length, min(t + dash, length) / length
            self.draw.line(
                (
                    self.p(x0 + a * (x1 - x0)),
                    self.p(y0 + a * (y1 - y0)),
                    self.p(x0 + b * (x1 - x0)),
                    self.p(y0 + b * (y1 - y0)),
                ),
                fill=fill,
                width=width,
            )

    def poly(self, points, fill=None, outline=None, lw=0.25):
        pts = [(self.p(x), self.p(y)) for x, y in points]
        self.draw.polygon(pts, fill=fill, outline=outline, width=max(1, round(lw * self.k)) if outline else 1)

    def ellipse(self, x0, y0, x1, y1, fill=None, outline=None, lw=0.25):
        width = max(1, round(lw * self.k)) if outline else 0
        self.draw.ellipse((self.p(x0), self.p(y0), self.p(x1), self.p(y1)), fill=fill, outline=outline, width=width)

    def paragraph(self, x, y, w, text, size, fill=INK, leading=1.45, style="regular", lines_max=99) -> float:
        """Word-wrapped text from (x, y) within ``w`` mm; returns the y below it."""
        font = self.font(size, style)
        line, n = "", 0
        for word in text.split():
            trial = f"{line} {word}".strip()
            if font.getlength(trial) > w * self.k and line:
                self.draw.text((self.p(x), self.p(y)), line, font=font, fill=fill)
                y, line, n = y + size * leading, word, n + 1
                if n >= lines_max:
                    return y
            else:
                line = trial
        if line:
            self.draw.text((self.p(x), self.p(y)), line, font=font, fill=fill)
            y += size * leading
        return y


# ---------------------------------------------------------------------------------------------- content


@dataclass(frozen=True)
class Profile:
    """What an issuer prints on every document: address, contacts, currency, date format."""

    street: str
    city: str
    country: str
    phone: str
    web: str
    email: str
    reg: str
    currency: str
    date_format: int
    initials: str


def profile(issuer: str) -> Profile:
    rng = np.random.default_rng([LOOKALIKE_SEED, zlib.crc32(issuer.encode())])
    words = [w for w in issuer.replace("&", "").split() if w[0].isupper() and w not in ("Republic", "of")]
    initials = "".join(w[0] for w in words[:2]) or issuer[:2].upper()
    domain = words[0].lower() if words else "example"
    return Profile(
        street=f"{int(rng.integers(1, 180))} {_pick(rng, STREETS)} {_pick(rng, STREET_TYPES)}",
        city=f"{int(rng.integers(1000, 99999)):05d} {_pick(rng, CITIES)}",
        country=_pick(rng, COUNTRIES),
        phone=f"+{int(rng.integers(30, 49))} {int(rng.integers(10, 99))} {int(rng.integers(100, 999))} {int(rng.integers(1000, 9999))}",
        web=f"www.{domain}.{_pick(rng, ('com', 'eu', 'net', 'org', 'de', 'nl'))}",
        email=f"{_pick(rng, ('info', 'billing', 'office', 'service', 'hello'))}@{domain}.com",
        reg=f"Reg. no. {int(rng.integers(10_000_000, 99_999_999))}",
        currency=_pick(rng, ("EUR", "€", "£", "$", "CHF", "SEK")),
        date_format=int(rng.integers(4)),
        initials=initials,
    )


MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]


def date(rng: np.random.Generator, fmt: int) -> str:
    y, m, d = int(rng.integers(2022, 2026)), int(rng.integers(1, 13)), int(rng.integers(1, 29))
    return (f"{d:02d}.{m:02d}.{y}", f"{d} {MONTHS[m - 1]} {y}", f"{y}-{m:02d}-{d:02d}", f"{m:02d}/{d:02d}/{y}")[fmt]


def money(v: float, cur: str) -> str:
    s = f"{v:,.2f}"
    return f"{cur} {s}" if cur in ("€", "£", "$") else f"{s} {cur}"


def person(rng: np.random.Generator) -> str:
    return f"{_pick(rng, FIRST)} {_pick(rng, LAST)}"


def address(rng: np.random.Generator) -> list[str]:
    return [
        f"{int(rng.integers(1, 240))} {_pick(rng, STREETS)} {_pick(rng, STREET_TYPES)}",
        f"{int(rng.integers(1000, 99999)):05d} {_pick(rng, CITIES)}",
        _pick(rng, COUNTRIES),
    ]


def sentence(rng: np.random.Generator, n: int) -> str:
    start = int(rng.integers(0, len(VOCAB) - n))
    words = VOCAB[start : start + n]
    return " ".join(words).capitalize() + "."


def text_of(rng: np.random.Generator, sentences: int) -> str:
    return " ".join(sentence(rng, int(rng.integers(8, 20))) for _ in range(sentences))


def field_value(label: str, rng: np.random.Generator, prof: Profile) -> str:
    """A plausible value for a field of this label, drawn per instance."""
    low = label.lower()
    n = int(rng.integers(10_000, 999_999))
    if "date" in low or low in ("expiry", "valid until", "ship date", "pay date", "statement date", "date"):
        return date(rng, prof.date_format)
    if low in ("employee", "passenger", "account holder", "contact", "cashier"):
        return person(rng)
    if low == "surname":
        return _pick(rng, LAST).upper()
    if low.startswith(("given", "first")):
        return _pick(rng, FIRST).upper() if "given" in low else _pick(rng, FIRST)
    if low in ("nationality", "country", "place of birth", "location"):
        return _pick(rng, COUNTRIES if low == "nationality" else CITIES)
    if low == "city":
        return _pick(rng, CITIES)
    if low == "sex":
        return _pick(rng, ("F", "M", "X"))
    if low == "iban":
        return f"{_pick(rng, ('NL', 'DE', 'BE', 'IE'))}{int(rng.integers(10, 99))} {n:06d} {int(rng.integers(1000, 9999))} {int(rng.integers(1000, 9999))}"
    if low == "bic":
        return f"{_pick(rng, ORG_STEMS)[:4].upper()}{_pick(rng, ('NL', 'DE', 'BE'))}2X"
    if low in ("department",):
        return _pick(rng, DEPARTMENTS)
    if low in ("job title", "occupation"):
        return _pick(rng, JOBS)
    if low == "employer":
        return f"{_pick(rng, ORG_STEMS)} {_pick(rng, ('Ltd', 'GmbH', 'BV', 'AG'))}"
    if low in ("period",):
        return f"{_pick(rng, MONTHS)} {int(rng.integers(2022, 2026))}"
    if low in ("telephone", "direct line"):
        return f"+{int(rng.integers(30, 49))} {int(rng.integers(100, 999))} {n}"
    if low == "email":
        return f"{_pick(rng, FIRST).lower()}.{_pick(rng, LAST).lower()}@mail.com"
    if low in ("street and no.",):
        return address(rng)[0]
    if low == "postcode":
        return f"{int(rng.integers(1000, 99999)):05d}"
    if low == "weight":
        return f"{rng.uniform(0.2, 30):.1f} kg"
    if low == "dims":
        return f"{int(rng.integers(10, 80))}x{int(rng.integers(10, 60))}x{int(rng.integers(5, 40))} cm"
    if low == "pieces":
        return f"{int(rng.integers(1, 4))}/{int(rng.integers(4, 6))}"
    if low in ("gate",):
        return f"{_pick(rng, 'ABCDE')}{int(rng.integers(1, 40))}"
    if low == "seat":
        return f"{int(rng.integers(1, 40))}{_pick(rng, 'ABCDEF')}"
    if low == "boarding" or low == "time":
        return f"{int(rng.integers(5, 23)):02d}:{int(rng.integers(0, 12)) * 5:02d}"
    if low == "flight":
        return f"{_pick(rng, ('KL', 'LH', 'SK', 'EI', 'OS', 'LX'))} {int(rng.integers(100, 9999))}"
    if low == "class":
        return _pick(rng, ("Economy", "Business", "Standard", "First"))
    if low == "grade":
        return _pick(rng, ("Distinction", "Merit", "Pass", "A", "B+", "1.7"))
    if low == "hours":
        return f"{int(rng.integers(4, 120))} h"
    if low == "sex":
        return _pick(rng, "FM")
    if low in ("marital status",):
        return _pick(rng, ("single", "married", "divorced", "widowed"))
    if low in ("service", "zone"):
        return _pick(rng, ("EXP", "STD", "ECO", "Z1", "Z3", "INTL"))
    if low == "payment terms":
        return f"{_pick(rng, (14, 30, 45, 60))} days net"
    if low == "tax code":
        return f"{int(rng.integers(1000, 1400))}L"
    if low == "bank account":
        return f"**** {int(rng.integers(1000, 9999))}"
    if low == "till" or low == "store no.":
        return str(int(rng.integers(1, 40)))
    return f"{prof.initials}{_pick(rng, ('-', '/', ''))}{n}"


def col_value(col: str, rng: np.random.Generator, prof: Profile, row: dict) -> str:
    """A cell of an item table; ``row`` carries the amounts that belong together."""
    if col in ("Amount", "Total"):
        return money(row["amount"], prof.currency) if col == "Amount" else f"{row['amount']:,.2f}"
    if col in ("Unit price", "Price", "Rate"):
        return f"{row['unit']:,.2f}"
    if col in ("Qty", "Units", "Hours"):
        return f"{row['qty']:g}"
    if col in ("VAT %", "VAT"):
        return _pick(rng, ("21%", "19%", "9%", "0%", "A", "B")) if col == "VAT %" else _pick(rng, ("A", "B", "C"))
    if col == "Discount":
        return _pick(rng, ("", "5%", "10%", "", ""))
    if col == "Unit":
        return _pick(rng, ("pcs", "h", "box", "kg", "m", "set"))
    if col == "Code":
        return f"{zlib.crc32(row['text'].encode()) % 900 + 100}"
    if col == "Item no.":
        return f"{int(rng.integers(10000, 99999))}-{int(rng.integers(10, 99))}"
    if col == "Year to date":
        return f"{row['amount'] * rng.uniform(2, 11):,.2f}"
    if col in ("Date", "Value date"):
        return row["date"]
    if col == "Reference":
        return f"{int(rng.integers(100000, 999999))}"
    if col == "Type":
        return _pick(rng, ("DD", "CP", "TR", "SO", "ATM"))
    if col == "Paid out":
        return f"{row['amount']:,.2f}" if row["out"] else ""
    if col == "Paid in":
        return "" if row["out"] else f"{row['amount']:,.2f}"
    if col == "Balance":
        return f"{row['balance']:,.2f}"
    return row["text"]


NUMERIC = {
    "Amount",
    "Total",
    "Unit price",
    "Price",
    "Rate",
    "Qty",
    "Units",
    "Hours",
    "VAT %",
    "VAT",
    "Discount",
    "Year to date",
    "Paid out",
    "Paid in",
    "Balance",
}

# ---------------------------------------------------------------------------------------------- blocks


def draw_logo(s: Sheet, x: float, y: float, size: float, on_dark: bool = False) -> float:
    """The issuer's mark with (x, y) its top-left corner, ``size`` mm high; returns its width."""
    d, pal = s.d, s.d.palette
    prim = WHITE if on_dark else pal.primary
    acc = pal.accent
    ini = profile(d.issuer).initials
    v = d.logo.variant
    shape = d.logo.shape
    if shape == "disc":
        s.ellipse(x, y, x + size, y + size, fill=prim)
        s.text(
            x + size / 2,
            y + size / 2,
            ini,
            size * 0.42,
            fill=pal.primary if on_dark else WHITE,
            style="bold",
            anchor="mm",
            heading=True,
        )
        return size
    if shape == "square":
        s.box(x, y, x + size, y + size, fill=acc, radius=size * (0.12 + 0.08 * v))
        s.text(x + size / 2, y + size / 2, ini, size * 0.45, fill=WHITE, style="bold", anchor="mm", heading=True)
        return size
    if shape == "rings":
        r = size / 2
        lw = size * 0.11
        s.ellipse(x, y, x + size, y + size, outline=prim, lw=lw)
        s.ellipse(x + r * (0.8 + 0.1 * v), y, x + r * (0.8 + 0.1 * v) + size, y + size, outline=acc, lw=lw)
        return size + r * (0.8 + 0.1 * v)
    if shape == "chevron":
        w = size * 0.45
        for i, c in enumerate((prim, acc, prim)[: 2 + v % 2]):
            o = i * w * 0.75
            s.poly(
                [
                    (x + o, y),
                    (x + o + w * 0.45, y),
                    (x + o + w, y + size / 2),
                    (x + o + w * 0.45, y + size),
                    (x + o, y + size),
                    (x + o + w * 0.55, y + size / 2),
                ],
                fill=c,
            )
        return w * (1 + 0.75 * (1 + v % 2))
    if shape == "bars":
        n = 3 + v % 2
        bw = size * 0.2
        for i in range(n):
            hgt = size * (0.45 + 0.55 * (i + 1) / n)
            s.box(x + i * bw * 1.4, y + size - hgt, x + i * bw * 1.4 + bw, y + size, fill=acc if i == n - 1 else prim)
        return n * bw * 1.4
    if shape == "leaf":
        a = math.radians(30 + 15 * v)
        pts = [(x + size / 2 + math.cos(t) * size / 2 * math.cos(a) - math.sin(t) * size / 4 * math.sin(a),
                y + size / 2 + math.cos(t) * size / 2 * math.sin(a) + math.sin(t) * size / 4 * math.cos(a))
               for t in np.linspace(0, 2 * math.pi, 40)]  # fmt: skip
        s.poly(pts, fill=prim)
        s.line(x + size * 0.2, y + size * 0.8, x + size * 0.8, y + size * 0.2, fill=acc, lw=size * 0.05)
        return size
    if shape == "diamond":
        c = size / 2
        s.poly([(x + c, y), (x + size, y + c), (x + c, y + size), (x, y + c)], fill=prim)
        s.poly(
            [(x + c, y + size * 0.25), (x + size * 0.75, y + c), (x + c, y + size * 0.75), (x + size * 0.25, y + c)],
            fill=acc,
        )
        return size
    if shape == "ring":
        s.ellipse(x, y, x + size, y + size, outline=prim, lw=size * 0.08)
        s.ellipse(x + size * 0.3, y + size * 0.3, x + size * 0.7, y + size * 0.7, fill=acc)
        return size
    if shape == "triangle":
        s.poly([(x, y + size), (x + size * 0.55, y), (x + size * 1.1, y + size)], fill=prim)
        s.poly([(x + size * 0.35, y + size), (x + size * 0.8, y + size * 0.25), (x + size * 1.25, y + size)], fill=acc)
        return size * 1.25
    # wordmark: the initials in the heading face with an accent dot
    w = s.text(x, y + size * 0.5, ini, size * 0.9, fill=prim, style="bold", anchor="lm", heading=True)
    s.ellipse(x + w + size * 0.08, y + size * 0.62, x + w + size * 0.3, y + size * 0.84, fill=acc)
    return w + size * 0.3


def draw_bands(s: Sheet, only: str = "") -> None:
    """The design's decoration: stripes, a corner, a wave or a watermark (``only``: just that one)."""
    d, pal = s.d, s.d.palette
    if only and d.bands != only:
        return
    w, h = s.w, s.h
    u = max(w, h) / 100
    if d.bands == "side_stripe":
        s.box(0, 0, 2.2 * u, h, fill=pal.primary)
        s.box(2.2 * u, 0, 2.9 * u, h, fill=pal.accent)
    elif d.bands == "top_stripes":
        s.box(0, 0, w, 0.9 * u, fill=pal.accent)
        s.box(0, 1.3 * u, w, 1.7 * u, fill=mix(pal.accent, WHITE, 0.4))
    elif d.bands == "corner":
        s.poly([(w - 18 * u, h), (w, h - 18 * u), (w, h)], fill=mix(pal.primary, WHITE, 0.15))
        s.poly([(w - 11 * u, h), (w, h - 11 * u), (w, h)], fill=pal.accent)
    elif d.bands == "bottom_wave":
        xs = np.linspace(0, w, 60)
        top = [(x, h - 6 * u - 2.5 * u * math.sin(x / w * 2 * math.pi)) for x in xs]
        s.poly([*top, (w, h), (0, h)], fill=mix(pal.primary, WHITE, 0.85))
        s.poly([(x, y + 2 * u) for x, y in top] + [(w, h), (0, h)], fill=mix(pal.primary, WHITE, 0.55))
    elif d.bands == "watermark":
        c = min(w, h) * 0.5
        col = mix(pal.primary, d.paper, 0.92)
        s.ellipse(w / 2 - c / 2, h / 2 - c / 2, w / 2 + c / 2, h / 2 + c / 2, outline=col, lw=c * 0.06)
        s.text(w / 2, h / 2, profile(d.issuer).initials, c * 0.4, fill=col, style="bold", anchor="mm", heading=True)


def draw_header(s: Sheet, x0: float, y0: float, x1: float, hgt: float, title: str = "") -> float:
    """Logo and issuer in the header style and on the logo side the design names; returns the y below."""
    d, pal = s.d, s.d.palette
    prof = profile(d.issuer)
    style = d.header
    dark = style in ("band", "block")
    logo_h = hgt * 0.55
    name_size = hgt * 0.22
    small = hgt * 0.12
    if style == "band":
        s.box(0, 0 if y0 < hgt else y0, s.w, y0 + hgt, fill=pal.primary)  # from the edge when near it
    elif style == "tint":
        s.box(0, 0, s.w, y0 + hgt, fill=mix(pal.primary, WHITE, 0.88))
    bx0, bx1 = x0, x1
    if style == "block":
        half = (x1 - x0) * 0.48
        if d.logo_side == "right":
            bx0 = x1 - half
            s.box(bx0 - 2, 0, s.w, y0 + hgt, fill=pal.primary)
        elif d.logo_side == "left":
            bx1 = x0 + half
            s.box(0, 0, bx1 + 2, y0 + hgt, fill=pal.primary)
        else:
            s.box(x0 + (x1 - x0) * 0.2, 0, x1 - (x1 - x0) * 0.2, y0 + hgt, fill=pal.primary, radius=0)
            s.box(x0 + (x1 - x0) * 0.2, y0 + hgt - 1.2, x1 - (x1 - x0) * 0.2, y0 + hgt, fill=pal.accent)
    text_col = WHITE if dark else (INK if style == "plain" else pal.primary)
    sub_col = mix(WHITE, pal.primary, 0.25) if dark else GREY
    ly = y0 + (hgt - logo_h) / 2
    name_w = s.width(d.issuer, name_size, "bold", heading=True)
    if d.logo_side == "center":
        lw = draw_logo(s, -1000, -1000, logo_h * 0.8)  # measure only (drawn off the page)
        draw_logo(s, (bx0 + bx1) / 2 - lw / 2, y0 + hgt * 0.06, logo_h * 0.8, on_dark=dark)
        s.text(
            (bx0 + bx1) / 2,
            y0 + hgt * 0.06 + logo_h * 0.8 + hgt * 0.06,
            d.issuer,
            name_size,
            text_col,
            "bold",
            "ma",
            True,
        )
        s.text(
            (bx0 + bx1) / 2,
            y0 + hgt * 0.06 + logo_h * 0.8 + hgt * 0.32,
            f"{prof.street} · {prof.city}",
            small,
            sub_col,
            anchor="ma",
        )
    else:
        lw = draw_logo(s, -1000, -1000, logo_h)
        left = d.logo_side == "left"
        lx = bx0 if left else bx1 - lw
        draw_logo(s, lx, ly, logo_h, on_dark=dark)
        tx = lx + lw + hgt * 0.12 if left else lx - hgt * 0.12
        anchor = "ls" if left else "rs"
        s.text(tx, ly + logo_h * 0.55, d.issuer, name_size, text_col, "bold", anchor, True)
        s.text(tx, ly + logo_h * 0.55 + small * 1.5, f"{prof.street}, {prof.city}", small, sub_col, anchor=anchor)
        # the other side: contacts (or the title on large pages)
        ox = bx1 if left else bx0
        oanchor = "ra" if left else "la"
        if style == "block":
            ox = x1 if left else x0
            sub_col = GREY  # on the paper beside the block
        if title:
            room = (x1 - x0) - name_w - lw - hgt * 0.6
            size = s.fit_size(title, name_size * 1.2, room, "bold", heading=True)
            s.text(
                ox,
                ly,
                title,
                size,
                pal.primary if not dark or style == "block" else WHITE,
                "bold",
                oanchor,
                True,
                max_w=room,
            )
        else:
            s.text(ox, ly + small * 0.2, prof.phone, small, sub_col, anchor=oanchor)
            s.text(ox, ly + small * 1.7, prof.web, small, sub_col, anchor=oanchor)
    if d.bands == "top_stripes":  # over the header's colour
        draw_bands(s, only="top_stripes")
    if style == "rule":
        s.line(x0, y0 + hgt, x1, y0 + hgt, fill=pal.accent, lw=hgt * 0.04)
    elif style == "plain":
        s.line(x0, y0 + hgt, x1, y0 + hgt, fill=LIGHT, lw=0.25 * s.h / 297)
    return y0 + hgt


def draw_fields(s: Sheet, x0, y0, x1, items: list[tuple[str, str]], size: float, cols: int = 1) -> float:
    """Labelled values in the design's field style, ``cols`` to a row; returns the y below."""
    d, pal = s.d, s.d.palette
    style = d.field_style
    col_w = (x1 - x0) / cols
    row_h = size * (2.6 if style in ("label_above", "boxed") else 1.75)
    label_col = mix(pal.primary, GREY, 0.4)
    y = y0
    for i, (label, value) in enumerate(items):
        c, r = i % cols, i // cols
        x = x0 + c * col_w
        y = y0 + r * row_h
        w = col_w - size
        if style == "label_left":
            s.text(x, y, f"{label}:", size * 0.9, GREY)
            s.text(x + w * 0.45, y, value, size, INK, max_w=w * 0.55)
        elif style == "label_above":
            s.text(x, y, label.upper(), size * 0.65, label_col, "bold")
            s.text(x, y + size * 0.95, value, size, INK, max_w=w)
        elif style == "boxed":
            s.box(x, y, x + w, y + row_h - size * 0.35, outline=LIGHT, lw=0.2 * size / 3)
            s.text(x + size * 0.3, y + size * 0.2, label, size * 0.6, label_col)
            s.text(x + size * 0.3, y + size * 1.0, value, size, INK, max_w=w - size * 0.6)
        elif style == "underlined":
            s.text(x, y, label, size * 0.85, GREY)
            s.text(x + w * 0.42, y, value, size, INK, max_w=w * 0.58)
            s.line(x + w * 0.4, y + size * 1.25, x + w, y + size * 1.25, fill=GREY, lw=0.1 * size / 2, dash=size * 0.25)
        else:  # grid: label cells tinted
            s.box(x, y, x + w * 0.42, y + row_h, fill=mix(pal.primary, WHITE, 0.88), outline=LIGHT, lw=0.15 * size / 2)
            s.box(x + w * 0.42, y, x + w, y + row_h, outline=LIGHT, lw=0.15 * size / 2)
            s.text(x + size * 0.3, y + row_h / 2, label, size * 0.85, INK, anchor="lm")
            s.text(x + w * 0.42 + size * 0.3, y + row_h / 2, value, size, INK, anchor="lm", max_w=w * 0.58 - size * 0.6)
    rows = (len(items) + cols - 1) // cols
    return y0 + rows * row_h


def draw_table(
    s: Sheet, x0, y0, x1, columns: tuple[str, ...], rows: list[dict], size: float, prof: Profile, rng
) -> float:
    """A ruled table of ``rows`` under a header row, in the design's table style; returns the y below."""
    d, pal = s.d, s.d.palette
    wide = {"Description", "Item", "Employee"}
    weights = [
        3.2
        if c in wide
        else (1.6 if c in ("Amount", "Paid out", "Paid in", "Balance", "Year to date", "Unit price") else 1.1)
        for c in columns
    ]
    # the text column first, the amount columns last, as tables are printed
    widths = [(x1 - x0) * w / sum(weights) for w in weights]
    xs = np.cumsum([x0, *widths])
    rh = size * 1.8
    style = d.table_style
    head_fill = {"filled": pal.primary, "tint": mix(pal.primary, WHITE, 0.82), "zebra": pal.primary}.get(style)
    head_text = WHITE if style in ("filled", "zebra") else (pal.primary if style == "rules" else INK)
    if head_fill:
        s.box(x0, y0, x1, y0 + rh, fill=head_fill)
    if style == "rules":
        s.line(x0, y0 + rh, x1, y0 + rh, fill=pal.primary, lw=size * 0.08)
    for c, col in enumerate(columns):
        num = col in NUMERIC
        tx = xs[c + 1] - size * 0.4 if num else xs[c] + size * 0.4
        s.text(
            tx, y0 + rh / 2, col, size * 0.85, head_text, "bold", "rm" if num else "lm", max_w=widths[c] - size * 0.5
        )
    y = y0 + rh
    for r, row in enumerate(rows):
        if style == "zebra" and r % 2:
            s.box(x0, y, x1, y + rh, fill=mix(pal.primary, WHITE, 0.92))
        for c, col in enumerate(columns):
            num = col in NUMERIC
            tx = xs[c + 1] - size * 0.4 if num else xs[c] + size * 0.4
            s.text(
                tx,
                y + rh / 2,
                col_value(col, rng, prof, row),
                size,
                INK,
                anchor="rm" if num else "lm",
                max_w=widths[c] - size * 0.5,
            )
        y += rh
        if style in ("rules", "tint", "filled"):
            s.line(x0, y, x1, y, fill=LIGHT, lw=size * 0.04)
    if style == "grid":
        s.box(x0, y0, x1, y, outline=GREY, lw=size * 0.05)
        for xv in xs[1:-1]:
            s.line(xv, y0, xv, y, fill=GREY, lw=size * 0.04)
        for k in range(len(rows) + 1):
            s.line(x0, y0 + k * rh, x1, y0 + k * rh, fill=GREY, lw=size * 0.04)
    return y


def draw_footer(
    s: Sheet, x0, x1, size: float, extra: str = "", bottom: float | None = None, full: bool = True
) -> float:
    """The footer the design names, ending at ``bottom`` (the page's edge); returns the y where it starts.
    ``full``: a band runs the page's width rather than x0…x1."""
    d, pal = s.d, s.d.palette
    prof = profile(d.issuer)
    line = f"{d.issuer} · {prof.street} · {prof.city} · {prof.phone} · {prof.web}"
    h = s.h if bottom is None else bottom
    if d.footer == "rule":
        y = h - size * 4
        s.line(x0, y, x1, y, fill=pal.primary, lw=size * 0.06)
        s.text((x0 + x1) / 2, y + size * 0.9, line, size * 0.8, GREY, anchor="ma", max_w=x1 - x0)
        s.text(
            (x0 + x1) / 2, y + size * 2.1, f"{prof.reg} · {prof.email}", size * 0.8, GREY, anchor="ma", max_w=x1 - x0
        )
        return y
    if d.footer == "band":
        y = h - size * 3.4
        s.box(0 if full else x0, y, s.w if full else x1, h, fill=pal.primary)
        s.text((x0 + x1) / 2, y + size * 1.0, line, size * 0.8, WHITE, anchor="ma", max_w=x1 - x0 - size)
        return y
    if d.footer == "small_print":
        y = h - size * 5.2
        rng = np.random.default_rng(zlib.crc32(d.issuer.encode()))
        s.paragraph(x0, y, x1 - x0, f"{prof.reg}. " + text_of(rng, 4), size * 0.7, GREY, leading=1.3, lines_max=3)
        return y
    if d.footer == "page_no":
        y = h - size * 3.2
        s.text(x0, y + size * 0.3, extra or prof.reg, size * 0.8, GREY, max_w=(x1 - x0) * 0.6)
        s.box(x1 - size * 6, y, x1, y + size * 1.6, fill=mix(pal.primary, WHITE, 0.8), radius=size * 0.3)
        s.text(x1 - size * 3, y + size * 0.8, "1 / 1", size * 0.8, pal.primary, "bold", anchor="mm")
        return y
    return h - size * 2


def barcode(s: Sheet, x0, y0, x1, y1, rng: np.random.Generator, fill=INK) -> None:
    x = x0
    unit = (x1 - x0) / 140
    while x < x1 - 3 * unit:
        w = unit * int(rng.integers(1, 4))
        s.box(x, y0, x + w, y1, fill=fill)
        x += w + unit * int(rng.integers(1, 4))


def matrix_code(s: Sheet, x0, y0, size, rng: np.random.Generator) -> None:
    n = 21
    cell = size / n
    bits = rng.random((n, n)) < 0.5
    for i in range(n):
        for j in range(n):
            if bits[i, j]:
                s.box(x0 + j * cell, y0 + i * cell, x0 + (j + 1) * cell, y0 + (i + 1) * cell, fill=INK)
    for fx, fy in ((0, 0), (n - 7, 0), (0, n - 7)):
        s.box(x0 + fx * cell, y0 + fy * cell, x0 + (fx + 7) * cell, y0 + (fy + 7) * cell, fill=WHITE)
        s.box(x0 + fx * cell, y0 + fy * cell, x0 + (fx + 7) * cell, y0 + (fy + 7) * cell, outline=INK, lw=cell)
        s.box(x0 + (fx + 2) * cell, y0 + (fy + 2) * cell, x0 + (fx + 5) * cell, y0 + (fy + 5) * cell, fill=INK)


def signature(s: Sheet, x0, y0, w, h, rng: np.random.Generator) -> None:
    t = np.linspace(0, 1, 120)
    k = rng.uniform(3, 7)
    xs = x0 + w * t
    ys = y0 + h / 2 + h * 0.35 * np.sin(2 * math.pi * k * t + rng.uniform(0, 6)) * np.sin(math.pi * t) ** 0.5
    xs = xs + w * 0.04 * np.sin(2 * math.pi * 2 * k * t)
    pts = [(s.p(a), s.p(b)) for a, b in zip(xs, ys, strict=True)]
    s.draw.line(pts, fill=(25, 40, 120), width=max(1, s.p(h * 0.05)), joint="curve")


def portrait(s: Sheet, x0, y0, x1, y1, rng: np.random.Generator) -> None:
    """A passport photo: head and shoulders, drawn on its own canvas so nothing spills out of the frame."""
    w, h = s.p(x1) - s.p(x0), s.p(y1) - s.p(y0)
    photo = Image.new("RGB", (w, h), mix((200, 215, 230), WHITE, rng.uniform(0, 0.5)))
    draw = ImageDraw.Draw(photo)
    skin = mix((230, 190, 160), (120, 80, 55), rng.uniform(0, 1))
    hair = mix((40, 30, 25), (200, 170, 110), rng.uniform(0, 0.6))
    cloth = tuple(int(c) for c in rng.integers(30, 160, 3))
    draw.ellipse((w * 0.05, h * 0.74, w * 0.95, h * 1.5), fill=cloth)
    draw.ellipse((w * 0.27, h * 0.12, w * 0.73, h * 0.64), fill=hair)
    draw.ellipse((w * 0.3, h * 0.2, w * 0.7, h * 0.7), fill=skin)
    s.im.paste(photo, (s.p(x0), s.p(y0)))


def items_rows(rng: np.random.Generator, n: int, pool: list[str], fmt: int, lo=5.0, hi=900.0) -> list[dict]:
    rows = []
    balance = float(rng.uniform(200, 9000))
    for _ in range(n):
        qty = float(_pick(rng, (1, 1, 2, 3, 5, 10, 12, 0.5, 4)))
        unit = float(np.round(rng.uniform(lo, hi), 2))
        out = bool(rng.random() < 0.75)
        amount = float(np.round(qty * unit, 2))
        balance += -amount if out else amount
        rows.append(
            dict(
                text=_pick(rng, pool), qty=qty, unit=unit, amount=amount, out=out, balance=balance, date=date(rng, fmt)
            )
        )
    return rows


# ---------------------------------------------------------------------------------------------- kinds


def _margin(s: Sheet) -> float:
    return max(s.w, s.h) * 0.06


def render_invoice(s: Sheet, rng, prof: Profile) -> None:
    d = s.d
    m = _margin(s)
    fs = 3.7
    draw_bands(s)
    y = draw_header(s, m, m * 0.6, s.w - m, 30, title="")
    y += 10
    customer = [
        f"{_pick(rng, ORG_STEMS)} {_pick(rng, ('Ltd', 'GmbH', 'BV', 'SA', 'AG'))}",
        f"Attn. {person(rng)}",
        *address(rng),
    ]
    meta = [(f, field_value(f, rng, prof)) for f in d.fields]
    if d.skeleton == 0:
        s.text(m, y, d.title, 9, d.palette.primary, "bold", heading=True)
        y += 14
        s.text(m, y, "BILL TO", fs * 0.75, GREY, "bold")
        yy = y + fs * 1.4
        for i, line in enumerate(customer):
            yy = yy + fs * 1.45 if i else yy
            s.text(m, yy, line, fs, INK, "bold" if i == 0 else "regular")
        yb = draw_fields(s, s.w / 2 + 5, y, s.w - m, meta, fs)
        y = max(yy + fs * 3, yb + fs)
    elif d.skeleton == 1:
        s.text(s.w - m, y, d.title, 11, d.palette.primary, "bold", anchor="ra", heading=True)
        y += 6
        s.box(m, y + 10, s.w / 2 - 3, y + 40, outline=LIGHT, lw=0.3)
        for i, line in enumerate(customer):
            s.text(m + 3, y + 13 + i * fs * 1.45, line, fs, INK, "bold" if i == 0 else "regular")
        yb = draw_fields(s, s.w / 2 + 3, y + 12, s.w - m, meta, fs)
        y = max(y + 48, yb + 6)
    else:
        side = s.w * 0.3
        s.box(m, y, m + side, y + 70, fill=mix(d.palette.primary, WHITE, 0.9))
        s.text(
            m + 3,
            y + 4,
            d.title,
            s.fit_size(d.title, 7, side - 6, "bold", True),
            d.palette.primary,
            "bold",
            heading=True,
            max_w=side - 6,
        )
        yb = draw_fields(s, m + 3, y + 16, m + side - 2, meta[:4], fs * 0.9)
        for i, line in enumerate(customer):
            s.text(m + side + 10, y + 6 + i * fs * 1.5, line, fs, INK, "bold" if i == 0 else "regular")
        s.paragraph(m + side + 10, y + 40, s.w - 2 * m - side - 10, sentence(rng, 22), fs * 0.9, GREY)
        y = max(y + 78, yb + 6)
    rows = items_rows(rng, int(rng.integers(4, 12)), ITEMS, prof.date_format)
    y = draw_table(s, m, y, s.w - m, d.columns, rows, fs, prof, rng)
    sub = sum(r["amount"] for r in rows)
    vat = sub * 0.2
    tx = s.w - m
    y += 5
    for i, (label, v) in enumerate((("Subtotal", sub), ("VAT 20%", vat), ("Total due", sub + vat))):
        bold = "bold" if i == 2 else "regular"
        if i == 2:
            s.box(s.w * 0.58, y - 1.5, tx, y + fs * 1.8, fill=mix(d.palette.primary, WHITE, 0.85))
        s.text(s.w * 0.6, y, label, fs, INK, bold)
        s.text(tx - 2, y, money(v, prof.currency), fs, INK, bold, anchor="ra")
        y += fs * 2.1
    y += 6
    s.text(m, y, "Payment details", fs, d.palette.primary, "bold")
    s.paragraph(
        m,
        y + fs * 1.6,
        s.w * 0.55,
        f"Please transfer the amount to IBAN {field_value('IBAN', rng, prof)} quoting the invoice number. "
        + sentence(rng, 14),
        fs * 0.85,
        GREY,
    )
    draw_footer(s, m, s.w - m, fs)


def render_payslip(s: Sheet, rng, prof: Profile) -> None:
    d = s.d
    m = _margin(s)
    fs = 3.6
    draw_bands(s)
    y = draw_header(s, m, m * 0.6, s.w - m, 28, title=d.title)
    y += 8
    s.text(m, y, f"{d.title} — {field_value('Period', rng, prof)}", 5, d.palette.primary, "bold", heading=True)
    y += 10
    items = [(f, field_value(f, rng, prof)) for f in d.fields]
    y = draw_fields(s, m, y, s.w - m, items, fs, cols=2) + 6
    earn = items_rows(rng, int(rng.integers(2, 5)), EARNINGS, prof.date_format, 50, 2400)
    ded = items_rows(rng, int(rng.integers(2, 5)), DEDUCTIONS, prof.date_format, 20, 600)
    scale = 0.45 * sum(r["amount"] for r in earn) / max(1.0, sum(r["amount"] for r in ded))
    for r in ded:  # deductions are a share of the earnings
        r["unit"], r["amount"] = round(r["unit"] * min(1.0, scale), 2), round(r["amount"] * min(1.0, scale), 2)
    if d.skeleton == 0:
        mid = s.w / 2
        s.text(m, y, "Earnings", fs * 1.1, d.palette.primary, "bold")
        s.text(mid + 2, y, "Deductions", fs * 1.1, d.palette.primary, "bold")
        y1 = draw_table(s, m, y + 6, mid - 2, d.columns, earn, fs * 0.85, prof, rng)
        y2 = draw_table(s, mid + 2, y + 6, s.w - m, d.columns, ded, fs * 0.85, prof, rng)
        y = max(y1, y2) + 8
    else:
        s.text(m, y, "Earnings", fs * 1.1, d.palette.primary, "bold")
        y = draw_table(s, m, y + 6, s.w - m, d.columns, earn, fs, prof, rng) + 6
        s.text(m, y, "Deductions", fs * 1.1, d.palette.primary, "bold")
        y = draw_table(s, m, y + 6, s.w - m, d.columns, ded, fs, prof, rng) + 8
    gross = sum(r["amount"] for r in earn)
    net = gross - sum(r["amount"] for r in ded)
    s.box(s.w * 0.5, y, s.w - m, y + 14, fill=d.palette.primary, radius=2)
    s.text(s.w * 0.5 + 4, y + 7, "NET PAY", fs * 1.2, WHITE, "bold", anchor="lm")
    s.text(s.w - m - 4, y + 7, money(net, prof.currency), fs * 1.5, WHITE, "bold", anchor="rm")
    s.text(m, y + 2, f"Gross pay {money(gross, prof.currency)}", fs, INK)
    s.text(m, y + 8, f"Paid to account {field_value('Bank account', rng, prof)}", fs * 0.9, GREY)
    y += 24
    s.text(m, y, "Year to date", fs * 1.1, d.palette.primary, "bold")
    y += 6
    cells = ("Gross pay", "Taxable pay", "Income tax", "Social security", "Pension")
    cw = (s.w - 2 * m) / len(cells)
    for i, label in enumerate(cells):
        s.box(m + i * cw, y, m + (i + 1) * cw - 1.5, y + 14, outline=mix(d.palette.primary, WHITE, 0.5), lw=0.25)
        s.text(m + i * cw + 2, y + 2, label, fs * 0.75, GREY)
        s.text(m + i * cw + 2, y + 7.5, f"{gross * rng.uniform(0.1, 11):,.2f}", fs * 0.95, INK, "bold")
    y += 22
    s.text(m, y, "Messages", fs * 1.1, d.palette.primary, "bold")
    s.paragraph(m, y + 6, s.w - 2 * m, text_of(rng, 2), fs * 0.85, GREY)
    draw_footer(s, m, s.w - m, fs, extra="Private & confidential")


def render_statement(s: Sheet, rng, prof: Profile) -> None:
    d = s.d
    m = _margin(s)
    fs = 3.4
    draw_bands(s)
    y = draw_header(s, m, m * 0.6, s.w - m, 28, title=d.title if d.skeleton == 1 else "")
    y += 10
    holder = [person(rng), *address(rng)]
    items = [(f, field_value(f, rng, prof)) for f in d.fields]
    opening = float(rng.uniform(100, 8000))
    if d.skeleton == 0:
        s.text(m, y, d.title, 6, d.palette.primary, "bold", heading=True)
        for i, line in enumerate(holder):
            s.text(m, y + 12 + i * fs * 1.45, line, fs, INK, "bold" if i == 0 else "regular")
        yb = draw_fields(s, s.w / 2 + 5, y, s.w - m, items, fs)
        y = max(y + 34, yb) + 6
        s.box(m, y, s.w - m, y + 16, fill=mix(d.palette.primary, WHITE, 0.9))
        summary = (
            ("Opening balance", opening),
            ("Money in", rng.uniform(500, 5000)),
            ("Money out", rng.uniform(500, 5000)),
        )
        for i, (label, v) in enumerate(summary):
            x = m + 4 + i * (s.w - 2 * m) / 3
            s.text(x, y + 3, label, fs * 0.85, GREY)
            s.text(x, y + 8, money(v, prof.currency), fs * 1.2, INK, "bold")
        y += 24
    else:
        y = draw_fields(s, m, y, s.w - m, items, fs, cols=2) + 4
        for i, line in enumerate(holder[:2]):
            s.text(m, y + i * fs * 1.45, line, fs, INK, "bold" if i == 0 else "regular")
        y += 14
    rows = items_rows(
        rng,
        int(rng.integers(8, 15)),
        [f"{_pick(rng, MERCHANTS)} {_pick(rng, PAYEES)}" for _ in range(20)],
        prof.date_format,
        3,
        400,
    )
    y = draw_table(s, m, y, s.w - m, d.columns, rows, fs * 0.9, prof, rng) + 5
    s.text(
        s.w - m, y, f"Closing balance  {money(rows[-1]['balance'], prof.currency)}", fs * 1.1, INK, "bold", anchor="ra"
    )
    draw_footer(s, m, s.w - m, fs)


def render_shipping_label(s: Sheet, rng, prof: Profile) -> None:
    d, pal = s.d, s.d.palette
    m = 4.0
    fs = 3.2
    draw_bands(s)
    s.box(m * 0.5, m * 0.5, s.w - m * 0.5, s.h - m * 0.5, outline=INK, lw=0.5)
    y = draw_header(s, m, m, s.w - m, 20)
    s.line(m * 0.5, y + 2, s.w - m * 0.5, y + 2, fill=INK, lw=0.5)
    y += 4
    sender = [person(rng), *address(rng)[:2]]
    recip = [person(rng), f"{_pick(rng, ORG_STEMS)} {_pick(rng, ('Ltd', 'GmbH', 'BV'))}", *address(rng)]
    if d.skeleton == 0:
        s.box(s.w - m - 24, y, s.w - m, y + 22, fill=INK)
        s.text(s.w - m - 12, y + 11, d.title[:3], 9, WHITE, "bold", anchor="mm", heading=True)
        s.text(m, y, "FROM:", fs * 0.7, GREY, "bold")
        for i, line in enumerate(sender):
            s.text(m, y + 4 + i * fs * 1.2, line, fs * 0.85, INK)
        y += 26
    else:
        s.text(
            m,
            y,
            f"{int(rng.integers(100, 999))} {_pick(rng, 'ABCDEFGH')}{int(rng.integers(1, 9))}",
            12,
            INK,
            "bold",
            heading=True,
        )
        matrix_code(s, s.w - m - 24, y, 24, rng)
        s.text(m, y + 16, "Sender: " + ", ".join(sender), fs * 0.7, GREY, max_w=s.w - 2 * m - 28)
        y += 28
    s.line(m * 0.5, y, s.w - m * 0.5, y, fill=INK, lw=0.5)
    y += 3
    s.text(m, y, "SHIP TO:", fs * 0.8, pal.primary, "bold")
    for i, line in enumerate(recip):
        s.text(
            m + 4,
            y + 5 + i * fs * 1.6,
            line,
            fs * (1.35 if i < 2 else 1.2),
            INK,
            "bold" if i < 2 else "regular",
            max_w=s.w - 2 * m - 4,
        )
    y += 5 + len(recip) * fs * 1.6 + 3
    s.line(m * 0.5, y, s.w - m * 0.5, y, fill=INK, lw=0.5)
    items = [(f, field_value(f, rng, prof)) for f in d.fields]
    y = draw_fields(s, m, y + 3, s.w - m, items, fs * 0.8, cols=2) + 2
    s.line(m * 0.5, y, s.w - m * 0.5, y, fill=INK, lw=0.5)
    track = f"{_pick(rng, ('1Z', 'JD', 'CX', 'RR'))} {int(rng.integers(1000, 9999))} {int(rng.integers(1000, 9999))} {int(rng.integers(1000, 9999))}"
    bottom = s.h - m - 8 if d.footer == "none" else s.h - m - 16
    barcode(s, m + 4, y + 4, s.w - m - 4, min(bottom - 6, y + 30), rng)
    s.text(s.w / 2, min(bottom - 5, y + 31), f"TRACKING #  {track}", fs * 0.9, INK, "bold", anchor="ma")
    if d.footer != "none":
        draw_footer(s, m, s.w - m, fs * 0.7)


def render_boarding_pass(s: Sheet, rng, prof: Profile) -> None:
    d, pal = s.d, s.d.palette
    m = 5.0
    fs = 3.0
    stub = s.w * 0.72
    draw_bands(s)
    y = draw_header(s, m, 3, stub - m, 16, title=d.title)
    s.line(stub, 0, stub, s.h, fill=GREY, lw=0.3, dash=1.5)
    y += 4
    items = [(f, field_value(f, rng, prof)) for f in d.fields]
    if d.skeleton == 0:
        a, b = rng.choice(len(AIRPORTS), 2, replace=False)
        (ca, na), (cb, nb) = AIRPORTS[a].split(" ", 1), AIRPORTS[b].split(" ", 1)
        s.text(m, y, ca, 13, pal.primary, "bold", heading=True)
        s.text(m, y + 15, na, fs, GREY)
        s.line(m + 40, y + 7, m + 55, y + 7, fill=GREY, lw=0.8)
        s.poly([(m + 55, y + 4.5), (m + 59, y + 7), (m + 55, y + 9.5)], fill=GREY)
        s.text(m + 62, y, cb, 13, pal.primary, "bold", heading=True)
        s.text(m + 62, y + 15, nb, fs, GREY)
        draw_fields(s, m + 100, y, stub - m, items[:4], fs * 0.85, cols=2)
        draw_fields(s, m, y + 24, stub - m, items[4:], fs * 0.85, cols=3)
    else:
        s.text(m, y, _pick(rng, EVENTS), 8, pal.primary, "bold", heading=True, max_w=stub - 2 * m)
        s.text(
            m,
            y + 11,
            f"{_pick(rng, CITIES)} {_pick(rng, ('Arena', 'Hall', 'Stadium', 'Theatre'))} · doors {field_value('Time', rng, prof)}",
            fs,
            GREY,
        )
        draw_fields(s, m, y + 20, stub - m, items, fs * 0.85, cols=4)
    sx = stub + 5
    s.text(sx, 6, d.title, fs, pal.primary, "bold", heading=True, max_w=s.w - sx - 4)
    s.text(sx, 12, items[0][1], fs * 0.9, INK, "bold", max_w=s.w - sx - 4)
    s.text(sx, 17, f"{items[1][0]}: {items[1][1]}", fs * 0.8, INK, max_w=s.w - sx - 4)
    if d.field_style in ("boxed", "grid"):
        matrix_code(s, sx + 6, 26, 30, rng)
    else:
        barcode(s, sx, 30, s.w - 5, 52, rng)
    draw_footer(s, m, stub - m, fs * 0.75, extra="Gate closes 20 minutes before departure", full=False)


def render_id_card(s: Sheet, rng, prof: Profile) -> None:
    d, pal = s.d, s.d.palette
    m = 3.0
    fs = 2.0
    # a pale security background
    for i in range(0, 60, 2):
        xs = np.linspace(0, s.w, 50)
        pts = [(s.p(x), s.p(s.h * 0.3 + i * 0.9 + 2.5 * math.sin(x / 6 + i * 0.3))) for x in xs]
        s.draw.line(pts, fill=mix(pal.primary, d.paper, 0.93), width=1)
    draw_bands(s)
    y = draw_header(s, m, 1.5, s.w - m, 10, title="")
    s.text(
        s.w / 2 if d.logo_side != "center" else s.w - m,
        y + 1,
        d.title,
        fs * 1.05,
        pal.primary,
        "bold",
        "ma" if d.logo_side != "center" else "ra",
        True,
    )
    y += 5
    pw, ph = 20, 25
    items = [(f, field_value(f, rng, prof)) for f in d.fields]
    px = m if d.skeleton == 0 else s.w - m - pw
    portrait(s, px, y, px + pw, y + ph, rng)
    if d.skeleton == 0:
        draw_fields(s, m + pw + 3, y, s.w - m, items, fs * 0.8, cols=2)
        signature(s, m, y + ph + 1, pw, 6, rng)
    else:
        draw_fields(s, m, y, s.w - m - pw - 3, items, fs * 0.8, cols=2)
        mono = _pick(rng, [f for f in MONO_FACES if f in s.faces] or [d.typeface])
        mrz = f"ID{prof.initials}<<{_pick(rng, LAST).upper()}<<{_pick(rng, FIRST).upper()}<<<<<<<<<<<<<<<<<<"
        s.text(m, s.h - 7, mrz[:32], fs * 1.05, INK, face=mono)
        s.text(
            m,
            s.h - 3.8,
            f"{int(rng.integers(10**8, 10**9))}<{int(rng.integers(10**5, 10**6))}<<<<<<<<<<<<<<<<"[:32],
            fs * 1.05,
            INK,
            face=mono,
        )
    if d.footer in ("band", "rule"):
        s.box(0, s.h - 1.6, s.w, s.h, fill=pal.primary if d.footer == "band" else pal.accent)
    elif d.footer == "small_print":
        s.text(
            s.w - m,
            s.h - 9 if d.skeleton else s.h - 2,
            f"Property of {d.issuer}. If found, return it.",
            fs * 0.7,
            GREY,
            anchor="rs",
        )
    elif d.footer == "page_no":  # a hologram over the photo's corner
        hx = px + pw - 6 if d.skeleton == 0 else px - 3
        s.ellipse(
            hx,
            y + ph - 9,
            hx + 9,
            y + ph,
            fill=mix(pal.accent, WHITE, 0.45),
            outline=mix(pal.primary, WHITE, 0.3),
            lw=0.3,
        )


def render_receipt(s: Sheet, rng, prof: Profile) -> None:
    d = s.d
    m = 5.0
    fs = 3.1
    draw_bands(s)
    y = draw_header(s, m, 4, s.w - m, 18, title="")
    y += 3
    s.text(s.w / 2, y, d.title, fs * 1.2, INK, "bold", "ma", True)
    y += 7
    items = [(f, field_value(f, rng, prof)) for f in d.fields]
    y = draw_fields(s, m, y, s.w - m, items, fs * 0.85, cols=2 if d.skeleton else 1) + 2
    s.line(m, y, s.w - m, y, fill=GREY, lw=0.3, dash=1.0)
    rows = items_rows(rng, int(rng.integers(4, 11)), GROCERIES, prof.date_format, 0.5, 25)
    for r in rows:
        r["qty"] = float(_pick(rng, (1, 1, 1, 2, 3)))
        r["amount"] = round(r["qty"] * r["unit"], 2)
    if d.skeleton == 0:
        y += 3
        for r in rows:
            left = r["text"] if "Qty" not in d.columns else f"{r['qty']:g} x {r['text']}"
            s.text(m, y, left, fs, INK, max_w=s.w * 0.62)
            right = f"{r['amount']:.2f}" + (f" {_pick(rng, 'AB')}" if "VAT" in d.columns else "")
            s.text(s.w - m, y, right, fs, INK, anchor="ra")
            if "Price" in d.columns and r["qty"] > 1:
                y += fs * 1.3
                s.text(m + 4, y, f"@ {r['unit']:.2f}", fs * 0.85, GREY)
            y += fs * 1.45
    else:
        y = draw_table(s, m, y + 2, s.w - m, d.columns, rows, fs * 0.9, prof, rng)
    y += 2
    s.line(m, y, s.w - m, y, fill=GREY, lw=0.3, dash=1.0)
    total = sum(r["amount"] for r in rows)
    s.text(m, y + 3, "TOTAL", fs * 1.4, INK, "bold")
    s.text(s.w - m, y + 3, money(total, prof.currency), fs * 1.4, INK, "bold", anchor="ra")
    y += 11
    s.text(
        m,
        y,
        _pick(rng, ("CARD  **** ", "CONTACTLESS **** ", "DEBIT **** ")) + str(int(rng.integers(1000, 9999))),
        fs * 0.9,
        INK,
    )
    s.text(m, y + 5, f"VAT included {money(total * 0.16, prof.currency)}", fs * 0.9, GREY)
    y += 14
    barcode(s, m + 8, y, s.w - m - 8, y + 12, rng)
    s.text(s.w / 2, y + 14, "Thank you for shopping with us!", fs * 0.9, INK, anchor="ma")
    draw_footer(s, m, s.w - m, fs * 0.8, extra="Keep your receipt")


def render_form(s: Sheet, rng, prof: Profile) -> None:
    d, pal = s.d, s.d.palette
    m = _margin(s)
    fs = 3.5
    draw_bands(s)
    y = draw_header(s, m, m * 0.6, s.w - m, 28, title="")
    y += 7
    code = f"Form {prof.initials}-{zlib.crc32(d.title.encode()) % 90 + 10}"
    s.text(m, y, d.title, 7, pal.primary, "bold", heading=True)
    s.text(s.w - m, y + 1, code, fs, GREY, anchor="ra")
    y += 11
    y = s.paragraph(m, y, s.w - 2 * m, "Please complete in BLOCK CAPITALS. " + sentence(rng, 24), fs * 0.9, GREY) + 4
    sections = [
        FORM_SECTIONS[i]
        for i in sorted(
            np.random.default_rng(zlib.crc32(d.title.encode())).choice(len(FORM_SECTIONS), 3, replace=False)
        )
    ]
    per = max(1, len(d.fields) // 2)
    groups = [d.fields[:per], d.fields[per:], ()]

    def section(n: int, title: str, y: float) -> float:
        if d.skeleton == 0:
            s.box(m, y, s.w - m, y + 8, fill=mix(pal.primary, WHITE, 0.85))
            s.text(m + 2, y + 4, f"{n + 1}. {title}", fs * 1.1, pal.primary, "bold", anchor="lm")
            return y + 11
        s.text(m, y, f"Section {'ABC'[n]} — {title}", fs * 1.2, INK, "bold", heading=True)
        s.line(m, y + 6, s.w - m, y + 6, fill=pal.primary, lw=0.5)
        return y + 9

    for n, (title, group) in enumerate(zip(sections[:2], groups[:2], strict=True)):
        y = section(n, title, y)
        y = draw_fields(s, m, y, s.w - m, [(f, field_value(f, rng, prof)) for f in group], fs * 1.1, cols=2) + 5
    y = section(2, sections[2], y)
    for i, opt in enumerate(
        ("Yes, I agree to be contacted", "I have attached proof of identity", "I request a paper copy")
    ):
        s.box(m, y + i * 6, m + 3.5, y + i * 6 + 3.5, outline=INK, lw=0.25)
        if rng.random() < 0.5:
            s.text(m + 1.75, y + i * 6 + 1.75, "X", fs, (25, 40, 120), "bold", anchor="mm")
        s.text(m + 6, y + i * 6 + 0.2, opt, fs, INK)
    y += 22
    s.paragraph(
        m,
        y,
        s.w - 2 * m,
        "I declare that the information given is true and complete. " + sentence(rng, 16),
        fs * 0.9,
        INK,
    )
    y += 16
    s.line(m, y + 8, m + 60, y + 8, fill=INK, lw=0.2)
    s.line(s.w - m - 50, y + 8, s.w - m, y + 8, fill=INK, lw=0.2)
    signature(s, m + 5, y, 40, 8, rng)
    s.text(s.w - m - 48, y + 3, date(rng, prof.date_format), fs, (25, 40, 120))
    s.text(m, y + 10, "Signature", fs * 0.8, GREY)
    s.text(s.w - m - 50, y + 10, "Date", fs * 0.8, GREY)
    foot = draw_footer(s, m, s.w - m, fs, extra=f"{code} (rev. {2020 + zlib.crc32(d.issuer.encode()) % 5})")
    y += 18
    if foot - y > 22:  # the office's box, as far down as the footer lets it go
        top = max(y, foot - 40)
        s.box(m, top, s.w - m, foot - 4, outline=GREY, lw=0.25)
        s.box(m, top, s.w - m, top + 6, fill=mix(GREY, WHITE, 0.8))
        s.text(m + 2, top + 3, "For official use only", fs * 0.85, INK, "bold", anchor="lm")
        for i, label in enumerate(("Received", "Case no.", "Checked by")):
            x = m + 3 + i * (s.w - 2 * m) / 3
            s.text(x, top + 9, label, fs * 0.8, GREY)
            s.line(x, top + 17, x + (s.w - 2 * m) / 3 - 8, top + 17, fill=GREY, lw=0.2)


def render_certificate(s: Sheet, rng, prof: Profile) -> None:
    d, pal = s.d, s.d.palette
    m = 10.0
    draw_bands(s)
    s.box(m, m, s.w - m, s.h - m, outline=pal.primary, lw=2.2)
    s.box(m + 3.5, m + 3.5, s.w - m - 3.5, s.h - m - 3.5, outline=pal.accent, lw=0.6)
    inner0, inner1 = m + 3.5, s.w - m - 3.5
    items = [(f, field_value(f, rng, prof)) for f in d.fields]
    if d.skeleton == 0:
        cx = s.w / 2
        y = draw_header(s, m + 12, m + 8, s.w - m - 12, 26, title="")
        x, anchor = cx, "ma"
        s.text(
            cx,
            y + 12,
            d.title,
            s.fit_size(d.title, 15, s.w - 2 * m - 30, "bold", True),
            pal.primary,
            "bold",
            "ma",
            True,
        )
    else:
        # a panel on the logo side carries the issuer, in the header's colours
        panel = s.w * 0.27
        left = d.logo_side != "right"
        px0, px1 = (inner0, panel) if left else (s.w - panel, inner1)
        fill = {"band": pal.primary, "block": pal.primary, "tint": mix(pal.primary, WHITE, 0.85)}.get(d.header)
        on_dark = d.header in ("band", "block")
        if fill:
            s.box(px0, inner0, px1, s.h - inner0, fill=fill)
        if d.header == "block":
            s.box(px0, s.h - inner0 - 14, px1, s.h - inner0, fill=pal.accent)
        if d.header in ("rule", "plain"):
            edge = px1 if left else px0
            s.line(
                edge,
                inner0 + 8,
                edge,
                s.h - inner0 - 8,
                fill=pal.accent if d.header == "rule" else LIGHT,
                lw=1.2 if d.header == "rule" else 0.4,
            )
        lw = draw_logo(s, -1000, -1000, 26)
        lx = (px0 + px1) / 2 - lw / 2 if d.logo_side == "center" else px0 + 10
        draw_logo(s, lx, m + 20, 26, on_dark=on_dark)
        name_col = WHITE if on_dark else pal.primary
        s.paragraph(px0 + 8, m + 54, px1 - px0 - 14, d.issuer, 6, name_col, leading=1.2, style="bold")
        s.text(px0 + 8, m + 72, prof.city, 3.5, WHITE if on_dark else GREY)
        x0 = (px1 + 14) if left else (inner0 + 14)
        x1 = (inner1 - 14) if left else (px0 - 14)
        x, anchor = x0, "la"
        y = m + 20
        s.text(
            x,
            y,
            d.title,
            s.fit_size(d.title, 14, x1 - x0, "bold", True),
            pal.primary,
            "bold",
            heading=True,
            max_w=x1 - x0,
        )
        y -= 8
    s.text(x, y + 34, "This is to certify that" if d.skeleton == 0 else "awarded to", 5, GREY, "italic", anchor)
    s.text(x, y + 44, person(rng), 12, INK, "italic" if d.skeleton == 0 else "bold", anchor, True)
    if d.skeleton == 0:
        s.line(x - 70, y + 60, x + 70, y + 60, fill=pal.accent, lw=0.5)
        s.text(x, y + 65, f"has successfully completed the course {_pick(rng, COURSES)}", 5, INK, anchor="ma")
        draw_fields(s, x - 70, y + 76, x + 70, items, 4, cols=len(items))
        sigs = (s.w / 2 - 95, s.w / 2 + 5)
    else:
        s.text(x, y + 62, f"for the completion of {_pick(rng, COURSES)}", 5, INK, max_w=x1 - x0)
        draw_fields(s, x, y + 74, x1, items, 4, cols=len(items))
        sigs = (x,)
    # the seal, away from the logo, and the signatures
    seal_left = d.logo_side == "right" if d.skeleton == 0 else not left
    sx, sy = (m + 18, s.h - m - 48) if seal_left else (s.w - m - 52, s.h - m - 48)
    pts = [
        (
            sx + 17 + (17 if i % 2 else 14.5) * math.cos(i * math.pi / 18),
            sy + 17 + (17 if i % 2 else 14.5) * math.sin(i * math.pi / 18),
        )
        for i in range(36)
    ]
    s.poly(pts, fill=pal.accent)
    s.ellipse(sx + 5, sy + 5, sx + 29, sy + 29, outline=WHITE, lw=0.8)
    s.text(sx + 17, sy + 17, profile(d.issuer).initials, 7, WHITE, "bold", "mm", True)
    bottom = s.h - m - 3.5
    if d.footer != "none":
        bottom = (
            draw_footer(
                s,
                inner0 + 6,
                inner1 - 6,
                3.6,
                extra=f"Certificate issued by {d.issuer}",
                bottom=s.h - m - 5,
                full=False,
            )
            - 2
        )
    for i, lx in enumerate(sigs):
        base = min(s.h - m - 26, bottom - 10)
        signature(s, lx + 10, base - 14, 50, 12, rng)
        s.line(lx, base, lx + 70, base, fill=INK, lw=0.3)
        s.text(lx, base + 2, f"{person(rng)}, {('Director', 'Course leader')[i]}", 3.8, INK)


def render_letter(s: Sheet, rng, prof: Profile) -> None:
    d, pal = s.d, s.d.palette
    m = _margin(s)
    fs = 3.6
    draw_bands(s)
    items = [(f, field_value(f, rng, prof)) for f in d.fields]
    if d.skeleton == 0:
        y = draw_header(s, m, m * 0.6, s.w - m, 28, title="")
        x0, x1 = m, s.w - m
        y += 22
        s.text(m, y - 7, f"{d.issuer} · {prof.street} · {prof.city}", fs * 0.6, GREY, max_w=85)
        recipient = [person(rng), *address(rng)]
        for i, line in enumerate(recipient):
            s.text(m, y + i * fs * 1.45, line, fs)
        draw_fields(s, s.w * 0.58, y, s.w - m, items, fs * 0.85)
        y += 42
    else:
        # the letterhead as a sidebar on the logo side, in the header's colours
        side = 56
        left = d.logo_side != "right"
        sx0, sx1 = (0, side) if left else (s.w - side, s.w)
        fill = {"band": pal.primary, "block": mix(pal.primary, WHITE, 0.9), "tint": mix(pal.primary, WHITE, 0.9)}.get(
            d.header
        )
        on_dark = d.header == "band"
        if fill:
            s.box(sx0, 0, sx1, s.h, fill=fill)
        if d.header == "block":
            s.box(sx0, 0, sx1, 52, fill=pal.primary)
            on_dark = True
        if d.header in ("rule", "plain"):
            edge = sx1 - 3 if left else sx0 + 3
            s.line(
                edge,
                12,
                edge,
                s.h - 12,
                fill=pal.accent if d.header == "rule" else LIGHT,
                lw=1.0 if d.header == "rule" else 0.3,
            )
        lw = draw_logo(s, -1000, -1000, 16)
        lx = (sx0 + sx1) / 2 - lw / 2 if d.logo_side == "center" else sx0 + 10
        draw_logo(s, lx, 14, 16, on_dark=on_dark)
        s.paragraph(
            sx0 + 10, 35, side - 16, d.issuer, 4.2, WHITE if on_dark else pal.primary, leading=1.2, style="bold"
        )
        sub = GREY if d.header != "band" else mix(WHITE, pal.primary, 0.2)
        for i, line in enumerate(
            (prof.street, prof.city, prof.country, "", prof.phone, prof.email, prof.web, "", prof.reg)
        ):
            s.text(sx0 + 10, 60 + i * 4.6, line, 2.8, sub, max_w=side - 14)
        draw_fields(s, sx0 + 10, 108, sx1 - 5, items, 2.7)
        x0 = side + 12 if left else m
        x1 = s.w - m if left else s.w - side - 12
        y = 34
        for i, line in enumerate([person(rng), *address(rng)]):
            s.text(x0, y + i * fs * 1.45, line, fs)
        y += 40
    width = x1 - x0
    subject = f"{d.title + ': ' if d.title else ''}{_pick(rng, ('Your contract', 'Your account', 'Policy', 'Tenancy', 'Order'))} {field_value('Ref.', rng, prof)}"
    s.text(x0, y, subject, fs * 1.1, INK, "bold", max_w=width)
    y += 10
    s.text(x0, y, f"Dear {_pick(rng, ('Ms', 'Mr', 'Dr'))} {_pick(rng, LAST)},", fs)
    y += 8
    for _ in range(int(rng.integers(3, 6))):
        y = s.paragraph(x0, y, width, text_of(rng, int(rng.integers(2, 4))), fs) + 3
    y += 3
    s.text(x0, y, _pick(rng, ("Yours sincerely,", "Kind regards,", "With best regards,")), fs)
    signature(s, x0, y + 4, 38, 11, rng)
    s.text(x0, y + 18, person(rng), fs, INK, "bold")
    s.text(x0, y + 18 + fs * 1.4, _pick(rng, JOBS), fs * 0.9, GREY)
    draw_footer(s, x0, x1, fs * 0.85, full=d.skeleton == 0)


RENDERERS = {
    "invoice": render_invoice,
    "payslip": render_payslip,
    "statement": render_statement,
    "shipping_label": render_shipping_label,
    "boarding_pass": render_boarding_pass,
    "id_card": render_id_card,
    "receipt": render_receipt,
    "form": render_form,
    "certificate": render_certificate,
    "letter": render_letter,
}


def render(design: Design, content_seed: list[int], long_px: int = 1024) -> Image.Image:
    """One instance of ``design``: its layout, the content drawn from ``content_seed``."""
    sheet = Sheet(KINDS[design.kind].size_mm, long_px, design)
    RENDERERS[design.kind](sheet, np.random.default_rng(content_seed), profile(design.issuer))
    return sheet.im


# ---------------------------------------------------------------------------------------------- photos


def photograph(doc: Image.Image, rng: np.random.Generator, long_side: int) -> Image.Image:
    """A phone photo of ``doc`` cropped to the document: keystone, tilt, an imperfect crop showing a
    sliver of table, uneven light and sometimes a shadow, white balance, blur, sensor noise."""
    import cv2

    src = np.asarray(doc.convert("RGB"))
    h, w = src.shape[:2]
    scale = long_side / max(w, h)
    W, H = max(8, round(w * scale)), max(8, round(h * scale))
    src = cv2.resize(src, (W, H), interpolation=cv2.INTER_AREA)
    # where the page's corners land in the frame: keystone, tilt, crop error
    corners = np.float32([[0, 0], [W, 0], [W, H], [0, H]])
    c = np.float32([W / 2, H / 2])
    dst = corners - c
    k = rng.uniform(-0.07, 0.07)  # one side nearer the camera
    if rng.random() < 0.5:
        dst[:, 0] *= 1 + k * np.sign(dst[:, 1])
    else:
        dst[:, 1] *= 1 + k * np.sign(dst[:, 0])
    a = math.radians(rng.uniform(-3.5, 3.5))
    dst = dst @ np.float32([[math.cos(a), math.sin(a)], [-math.sin(a), math.cos(a)]])
    dst = dst + c + rng.uniform(-0.035, 0.035, (4, 2)).astype(np.float32) * np.float32([W, H])
    matrix = cv2.getPerspectiveTransform(corners, dst.astype(np.float32))
    table = np.array(  # what the page lies on
        _pick(rng, ((92, 70, 52), (60, 62, 66), (180, 175, 165), (30, 32, 36), (140, 110, 80))), np.float32
    )
    bg = np.clip(table[None, None] + rng.normal(0, 6, (H, W, 1)), 0, 255).astype(np.float32)  # grain
    warped = cv2.warpPerspective(src, matrix, (W, H), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
    mask = cv2.warpPerspective(np.ones((H, W), np.float32), matrix, (W, H), flags=cv2.INTER_LINEAR)[..., None]
    img = warped.astype(np.float32) * mask + bg * (1 - mask)
    # light: a gradient across the page and a vignette
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
    xn, yn = xx / W - 0.5, yy / H - 0.5
    g = rng.uniform(-0.18, 0.18, 2)
    light = 1 + g[0] * xn + g[1] * yn - rng.uniform(0.05, 0.2) * (xn**2 + yn**2) * 2
    light *= rng.uniform(0.82, 1.02)
    if rng.random() < 0.45:  # the shadow of the phone or a hand: a soft-edged half plane
        ang = rng.uniform(0, 2 * math.pi)
        off = rng.uniform(0.15, 0.45)
        side = (xn * math.cos(ang) + yn * math.sin(ang)) > off
        soft = cv2.GaussianBlur(side.astype(np.float32), (0, 0), sigmaX=rng.uniform(0.02, 0.06) * max(W, H))
        light *= 1 - rng.uniform(0.2, 0.4) * soft
    img = img * light[..., None]
    # white balance and the camera's black level
    temp = rng.uniform(-1, 1)
    gains = np.array([1 + 0.07 * temp, 1 + rng.uniform(-0.025, 0.025), 1 - 0.09 * temp], np.float32)
    img = img * gains
    black = rng.uniform(8, 28)
    img = black + img * (1 - black / 255)
    # focus and motion blur
    if rng.random() < 0.3:
        n = int(rng.integers(3, 6))
        kernel = np.zeros((n, n), np.float32)
        kernel[n // 2] = 1
        rot = cv2.getRotationMatrix2D((n / 2 - 0.5, n / 2 - 0.5), rng.uniform(0, 180), 1)
        kernel = cv2.warpAffine(kernel, rot, (n, n))
        img = cv2.filter2D(img, -1, kernel / max(kernel.sum(), 1e-6))
    else:
        img = cv2.GaussianBlur(img, (0, 0), sigmaX=rng.uniform(0.35, 1.0))
    if rng.random() < 0.5:  # phones sharpen what they blurred
        soft = cv2.GaussianBlur(img, (0, 0), sigmaX=1.2)
        img = img + rng.uniform(0.2, 0.6) * (img - soft)
    img = img + rng.normal(0, rng.uniform(1.5, 4.5), img.shape).astype(np.float32)
    return Image.fromarray(np.clip(img, 0, 255).astype(np.uint8))


def save_photo(image: Image.Image, path: Path, rng: np.random.Generator) -> None:
    image.save(path, format="JPEG", quality=int(rng.integers(60, 91)))


# ---------------------------------------------------------------------------------------------- pages


def choose_pages(pdf_root: Path, count: int, seed: int, long_side: int) -> list[tuple[object, int, str]]:
    """``count`` pages of the PDFs under ``pdf_root``, favouring natural look-alikes: first pages of
    different publishers' classes (40 %) and title pages of manuals (30 %), both in portrait paper
    format, then pairs of neighbouring pages of one file. Blank pages and near-copies of a page
    already chosen are skipped (two files can hold the same page).
    Returns (source, page index in the source, group)."""
    from data.pdf import DistinctPages, PdfPagesSource

    source = PdfPagesSource(pdf_root, long_side, cache_dir=None)
    rng = np.random.default_rng([seed, 0xD0C])
    first = [i for i, (p, page, _) in enumerate(source.pages) if page == 0]
    publishers = [i for i in first if "publishers" in source.pages[i][0].parent.name]
    manuals = [i for i in first if i not in set(publishers)]
    by_file: dict[Path, list[int]] = {}
    for i, (p, _page, _) in enumerate(source.pages):
        by_file.setdefault(p, []).append(i)
    wants = {"publisher_first_page": round(count * 0.4), "manual_title_page": round(count * 0.3)}
    wants["other_page"] = count - sum(wants.values())
    candidates = {
        "publisher_first_page": list(rng.permutation(publishers)),
        "manual_title_page": list(rng.permutation(manuals)),
    }
    others: list[int] = []
    long_files = [p for p, idx in by_file.items() if len(idx) >= 4]
    for p in rng.permutation(len(long_files)):  # pairs of neighbouring pages of one file, then single pages
        idx = by_file[long_files[int(p)]]
        start = int(rng.integers(1, len(idx) - 2))
        others.extend(idx[start : start + 2])
    candidates["other_page"] = others
    chosen: list[tuple[object, int, str]] = []
    distinct = DistinctPages(ink_level=200, max_difference=1.5)  # fuller pages than the default asks
    for group, n in wants.items():
        taken = 0
        for index in candidates[group]:
            if taken >= n:
                break
            try:
                image = source.render(int(index), 160)
            except Exception:  # noqa: BLE001 - a page pdfium cannot draw is skipped
                continue
            if group != "other_page" and not 1.25 <= image.height / image.width <= 1.5:
                continue  # a figure or a slide, not a first page of a paper or manual
            if not distinct.admit(image):
                continue
            chosen.append((source, int(index), group))
            taken += 1
    return chosen


# ---------------------------------------------------------------------------------------------- the set


@dataclass
class TypeEntry:
    name: str
    part: str  # templates or pages
    registered: bool
    group: str  # the family (templates) or the kind of page (pages)
    relation: str = ""
    changed: tuple[str, ...] = ()
    design: dict | None = None
    source: str = ""
    queries: int = 0


def _unregistered(rng: np.random.Generator, families: int, siblings: int, share: float) -> set[tuple[int, int]]:
    """(family, sibling) of the types with queries but no register entry: about a quarter of them
    whole families, the rest single siblings of families that stay registered."""
    total = families * siblings
    n = round(share * total)
    whole = min(max(0, families - 1), round(n * 0.25 / siblings))
    order = [int(f) for f in rng.permutation(families)]
    out = {(f, s) for f in order[:whole] for s in range(siblings)}
    for f in order[whole:]:
        if len(out) >= n:
            break
        out.add((f, int(rng.integers(siblings))))
    return out


def write_lookalike_set(
    out: Path,
    pdf_root: Path | None = None,
    families: int = 40,
    siblings: int = 4,
    pages: int = 100,
    template_queries: int = 3,
    page_queries: int = 2,
    unknown_share: float = 0.2,
    long_side: int = 512,
    seed: int = LOOKALIKE_SEED,
    overview: bool = True,
    progress: bool = True,
) -> list[TypeEntry]:
    """Write the set (see the module docstring); returns its types."""
    from tqdm import tqdm

    faces = sorted(require_typefaces())
    if siblings < 1 or families < 1:
        raise ValueError("need at least one family of one sibling")
    parts = {"templates": out / f"{out.name}_templates", "pages": out / f"{out.name}_pages"}
    for folder in (out / "register", out / "queries", *parts.values()):
        if folder.exists():
            shutil.rmtree(folder)
    page_list = choose_pages(pdf_root, pages, seed, long_side) if pdf_root and pages else []
    fams = [make_family(seed, f, siblings, faces) for f in range(families)]
    unknown = _unregistered(np.random.default_rng([seed, 0x0FF]), families, siblings, unknown_share)
    page_rng = np.random.default_rng([seed, 0xBA6E])
    page_unknown = (
        set(page_rng.choice(len(page_list), round(unknown_share * len(page_list)), replace=False).tolist())
        if page_list
        else set()
    )
    entries: list[TypeEntry] = []
    sheet_rows: list[list[tuple[Image.Image, str]]] = []
    bar = tqdm(total=families * siblings + len(page_list), desc="look-alike set", unit="type", disable=not progress)
    for f, family in enumerate(fams):
        row = []
        for s_i, sib in enumerate(family):
            d = sib.design
            name = f"{d.kind}_f{f:02d}{'abcdefghijklmnopqrstuvwxyz'[s_i % 26]}{'' if s_i < 26 else s_i}"
            registered = (f, s_i) not in unknown
            entry = TypeEntry(
                name,
                "templates",
                registered,
                f"f{f:02d}",
                sib.relation,
                sib.changed,
                dataclasses.asdict(d),
                queries=template_queries,
            )
            folder = parts["templates"]
            clean = render(d, [seed, 1, f, s_i, 0], long_px=2 * long_side)
            register_image = clean.resize(_fit(clean.size, long_side), Image.LANCZOS)
            if registered:
                (folder / "register").mkdir(parents=True, exist_ok=True)
                register_image.save(folder / "register" / f"{name}.png")
            qdir = folder / "queries" / name
            qdir.mkdir(parents=True, exist_ok=True)
            photo = None
            for k in range(1, template_queries + 1):
                prng = np.random.default_rng([seed, 2, f, s_i, k])
                doc = render(d, [seed, 1, f, s_i, k], long_px=2 * long_side)
                photo = photograph(doc, prng, int(prng.integers(long_side - 96, long_side + 1)))
                save_photo(photo, qdir / f"{k}.jpg", prng)
            if overview and f < 8:
                label = f"{name}  {sib.relation}" + (
                    f": {', '.join(sib.changed)}" if sib.relation in ("rebrand", "variant") else ""
                )
                row.append((register_image, label + ("" if registered else "  [unregistered]")))
                if s_i == len(family) - 1 and photo is not None:
                    row.append((photo, f"a query photo of {name}"))
            entries.append(entry)
            bar.update()
        if row:
            sheet_rows.append(row)
    page_row = []
    names = {e.name for e in entries}
    for t, (source, index, group) in enumerate(page_list):
        name = f"page_{source.name(index)}"
        while name in names:  # two files of one stem in two packages
            name += "_"
        names.add(name)
        registered = t not in page_unknown
        path, page_index, _ = source.pages[index]
        entry = TypeEntry(
            name,
            "pages",
            registered,
            group,
            source=f"{path.relative_to(source.root)}#page={page_index + 1}",
            queries=page_queries,
        )
        folder = parts["pages"]
        big = source.render(index, 2 * long_side)
        clean = big.resize(_fit(big.size, long_side), Image.LANCZOS)
        if registered:
            (folder / "register").mkdir(parents=True, exist_ok=True)
            clean.save(folder / "register" / f"{name}.png")
        qdir = folder / "queries" / name
        qdir.mkdir(parents=True, exist_ok=True)
        for k in range(1, page_queries + 1):
            prng = np.random.default_rng([seed, 3, t, k])
            photo = photograph(big, prng, int(prng.integers(long_side - 96, long_side + 1)))
            save_photo(photo, qdir / f"{k}.jpg", prng)
        if overview and len(page_row) < 6 and group != "other_page":
            page_row.append((clean, f"{name[:40]} ({group})"))
        entries.append(entry)
        bar.update()
    bar.close()
    if page_list:
        page_list[0][0].close()
    if page_row:
        sheet_rows.append(page_row)
    # the combined set: the parts' files hard-linked (copied where links are not possible)
    for part in parts.values():
        for sub in ("register", "queries"):
            if (part / sub).is_dir():
                for src in sorted((part / sub).rglob("*")):
                    if src.is_file():
                        dst = out / sub / src.relative_to(part / sub)
                        dst.parent.mkdir(parents=True, exist_ok=True)
                        try:
                            os.link(src, dst)
                        except OSError:
                            shutil.copy2(src, dst)
    (out / "queries").mkdir(parents=True, exist_ok=True)
    manifest = {
        "seed": seed,
        "families": families,
        "siblings": siblings,
        "pages": len(page_list),
        "fonts": sorted(str(p) for p in FONTS_USED),
        "types": [dataclasses.asdict(e) for e in entries],
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1))
    if overview and sheet_rows:
        contact_sheet(sheet_rows).save(out / "overview.png")
    return entries


def _fit(size: tuple[int, int], long_side: int) -> tuple[int, int]:
    scale = long_side / max(size)
    return max(1, round(size[0] * scale)), max(1, round(size[1] * scale))


def contact_sheet(rows: list[list[tuple[Image.Image, str]]], cell: int = 260) -> Image.Image:
    """Rows of thumbnails with captions, so a person can look at the families."""
    label_h = 28
    cols = max(len(r) for r in rows)
    sheet = Image.new("RGB", (cols * (cell + 10) + 10, len(rows) * (cell + label_h + 10) + 10), (228, 228, 228))
    draw = ImageDraw.Draw(sheet)
    faces = typefaces()
    font = _font(faces.get("dejavu_sans", next(iter(faces.values())))[0], 11)
    for r, row in enumerate(rows):
        for c, (image, label) in enumerate(row):
            thumb = image.copy()
            thumb.thumbnail((cell, cell), Image.LANCZOS)
            x = 10 + c * (cell + 10)
            y = 10 + r * (cell + label_h + 10)
            sheet.paste(thumb, (x + (cell - thumb.width) // 2, y + (cell - thumb.height) // 2))
            words, line, lines = label.split(" "), "", []
            for word in words:
                if font.getlength(f"{line} {word}") > cell and line:
                    lines.append(line)
                    line = word
                else:
                    line = f"{line} {word}".strip()
            lines.append(line)
            for i, text in enumerate(lines[:2]):
                draw.text((x, y + cell + 2 + 12 * i), text, fill=(20, 20, 20), font=font)
    return sheet


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="output folder (its register/, queries/ and parts are rewritten)")
    parser.add_argument(
        "--pdf-root", default=None, help="PDFs for the real-page part (the test split); none: templates only"
    )
    parser.add_argument("--families", type=int, default=40)
    parser.add_argument("--siblings", type=int, default=4, help="designs per family: base, rebrand, variant, fresh, …")
    parser.add_argument("--pages", type=int, default=100, help="real PDF pages (with --pdf-root)")
    parser.add_argument("--template-queries", type=int, default=3, help="photos of other instances per template type")
    parser.add_argument("--page-queries", type=int, default=2, help="photos per page type")
    parser.add_argument("--unknown-share", type=float, default=0.2, help="share of types left unregistered")
    parser.add_argument("--long-side", type=int, default=512, help="pixels; photos are 96 px smaller at most")
    parser.add_argument("--seed", type=int, default=LOOKALIKE_SEED)
    args = parser.parse_args(argv)
    try:
        entries = write_lookalike_set(
            Path(args.out),
            Path(args.pdf_root) if args.pdf_root else None,
            args.families,
            args.siblings,
            args.pages,
            args.template_queries,
            args.page_queries,
            args.unknown_share,
            args.long_side,
            args.seed,
        )
    except FontsMissing as e:
        print(f"lookalike_set: error: {e}", file=sys.stderr)
        return 2
    for part in ("templates", "pages"):
        mine = [e for e in entries if e.part == part]
        if mine:
            reg = sum(e.registered for e in mine)
            print(
                f"{part}: {reg} registered + {len(mine) - reg} unregistered types, "
                f"{sum(e.queries for e in mine)} queries → {args.out}/{Path(args.out).name}_{part}"
            )
    print(f"combined set in {args.out} (register/, queries/), manifest.json, overview.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
