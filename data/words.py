"""Words and field values for the synthetic documents: what real documents print.

Names, organisations, addresses, item descriptions, amounts, dates and the labels of the twelve kinds,
in English with some German, French and Spanish, so that the text a model sees has the shapes of
real words (ascenders, short and long words, numbers with separators) rather than random letters.
Each helper takes a numpy Generator and returns a string; nothing here draws.
"""

from __future__ import annotations

import numpy as np


def _split(text: str, sep: str | None = None) -> tuple[str, ...]:
    return tuple(text.split(sep))


FIRST = _split(
    "Anna Ben Clara David Elena Felix Greta Hugo Ines Jonas Karin Lukas Marta Nils Olga Paul Rosa Simon Tara Uwe "
    "Vera Walter Yara Zoe Adam Bianca Carlos Dora Emil Fatima Georg Hanna Ivan Julia Kai Lea Mateo Nora Oscar Pia "
    "Rafael Sofia Theo Ursula Victor Wanda Xavier Yusuf Amelie Bruno Chloe Daniel Eva Frank Gloria Henrik Irene"
)
LAST = _split(
    "Adler Bauer Castro Dubois Eriksen Fischer Garcia Hoffmann Ivanova Jansen Keller Lopez Martin Novak Olsen "
    "Petit Quinn Richter Schmidt Torres Ulrich Vogel Weber Young Zimmermann Andersen Becker Moreau Nguyen Rossi "
    "Silva Kowalski Horvat Lindqvist Okafor Tanaka Murphy Brennan Delgado Fontaine Gruber Haas Klein Lambert "
    "Meyer Navarro Ortega Price Roux Sommer Walsh Baker Carter Evans Foster Hughes Morgan Parker Reed"
)
ORG_STEM = _split(
    "Alpine Northwind Bluebird Cedar Delta Evergreen Falcon Granite Harbor Ironwood Juniper Keystone Lakeside "
    "Meridian Nova Oakridge Pinnacle Quantum Riverside Summit Trident Unity Vertex Westbrook Zenith Atlas Beacon "
    "Crescent Dynamo Everest Frontier Horizon Lumen Mosaic Nordic Orion Polaris Redwood Sterling Titan Vanguard "
    "Aurora Brightline Copper Eastgate Fairview Goldcrest Highland Kingsway Larkspur Maple Northstar Silverline"
)
ORG_KIND = _split(
    "Logistics Trading Consulting Systems Energy Foods Medical Insurance Bank Motors Supplies Electric Media "
    "Pharma Textiles Construction Software Travel Freight Dental Partners Holdings Labs Retail Services"
)
ORG_FORM = ("Ltd", "GmbH", "S.A.", "Inc.", "AG", "LLC", "& Co.", "SARL", "B.V.", "plc", "Group", "")
AUTHORITY = _split(
    "Republic of Veloria|Kingdom of Astoria|Federal State of Norland|Commonwealth of Eastmere|Principality of Sarno|"
    "Department of Motor Vehicles|Ministry of the Interior|Civil Registry Office|Transport Authority|"
    "National Identity Service|State of Calder|Free Canton of Bellmont|Regional Council of Vesta",
    "|",
)
STREET = _split(
    "Main Street|Station Road|Mill Lane|Church Street|Park Avenue|Kingsway|Bahnhofstrasse|Hauptstrasse|"
    "Rue de la Paix|Avenue Victor Hugo|Calle Mayor|Gran Via|Harbour Road|Market Square|Elm Grove|Oak Drive|"
    "Lindenallee|Rosenweg|Chemin des Vignes|Plaza de Espana|High Street|Queen's Road|Bridge Street",
    "|",
)
CITY = _split(
    "Springfield Rivertown Lindau Bergen Arles Toledo Brampton Westfield Hallstadt Marburg Nantes Segovia "
    "Fairhaven Kingsport Ashford Dunmore Eastwick Oldcastle Newbury Greenville Lakewood Milford Northam Rochdale"
)
ITEM_NOUN = _split(
    "cable adapter toner cartridge paper ream desk lamp chair monitor keyboard mouse router license subscription "
    "consulting hours maintenance service delivery freight insurance packaging pallet valve bearing sensor filter "
    "coffee beans notebook binder envelope label roll battery charger headset switch module installation support "
    "training workshop design review audit repair spare part"
)
ITEM_ADJ = _split(
    "standard premium black white A4 USB-C wireless 24-port annual monthly express stainless large small ergonomic "
    "recycled spare on-site remote extended heavy-duty"
)
SENTENCE_WORDS = _split(
    "the of and to in for with on by as at from this that we you your our is are be will please thank regarding "
    "invoice order payment account contract service delivery period date amount request attached enclosed "
    "information further questions contact office department customer reference number agreement terms "
    "conditions according received following above below kindly confirm receipt balance due review within days "
    "meeting schedule update project report annual notice change address policy coverage claim renewal"
)
HEADINGS = {
    "invoice": ("INVOICE", "Invoice", "TAX INVOICE", "Rechnung", "Facture", "Factura", "Bill", "Proforma Invoice"),
    "letter": ("Dear Sir or Madam,", "Dear Customer,", "Sehr geehrte Damen und Herren,", "Madame, Monsieur,"),
    "form": (
        "APPLICATION FORM",
        "Registration Form",
        "Change of Address",
        "Claim Form",
        "Antrag auf Erstattung",
        "Formulaire de demande",
        "Enrolment Form",
        "Membership Application",
    ),
    "statement": ("Account Statement", "STATEMENT", "Kontoauszug", "Releve de compte", "Monthly Statement"),
    "receipt": ("RECEIPT", "Sales Receipt", "Kassenbon", "Ticket de caisse", "Cash Receipt"),
    "certificate": (
        "CERTIFICATE",
        "Certificate of Completion",
        "Certificate of Achievement",
        "Diploma",
        "Certificate of Attendance",
        "Urkunde",
    ),
    "id_card": ("IDENTITY CARD", "National ID Card", "Personalausweis", "Carte d'identite", "Resident Permit"),
    "licence": ("DRIVING LICENCE", "Driver License", "Fuhrerschein", "Permis de conduire", "Operator Permit"),
    "passport": ("PASSPORT", "Passport / Passeport", "Reisepass", "PASAPORTE"),
    "bank_card": ("DEBIT", "CREDIT", "PLATINUM", "GOLD", "BUSINESS"),
}
LABELS = {
    "invoice": "Invoice No.|Date|Due date|Customer ID|Order No.|VAT ID|Reference|Delivery date|Payment terms|PO Number",
    "letter": "Our ref.|Your ref.|Date|Phone|Email|File No.",
    "form": (
        "Surname|Given names|Date of birth|Place of birth|Nationality|Street|Postcode|City|Phone|Email|"
        "Occupation|Employer|Signature|Date|Membership No.|Previous address|Account holder|IBAN"
    ),
    "statement": "Account No.|Period|Statement date|IBAN|BIC|Opening balance|Closing balance|Customer No.|Page",
    "receipt": "Cashier|Till|Receipt No.|Date|Time|Card|Change|VAT",
    "certificate": "Date|Place|Registration No.|Awarded to|Course|Grade",
    "id_card": "Surname|Given names|Date of birth|Nationality|Sex|Document No.|Date of expiry|Place of birth|Height",
    "licence": "Surname|Given names|Date of birth|Issued|Expires|Licence No.|Categories|Address|Restrictions",
    "passport": (
        "Type|Code|Passport No.|Surname|Given names|Nationality|Date of birth|Sex|Place of birth|"
        "Date of issue|Date of expiry|Authority"
    ),
    "bank_card": "VALID THRU|MEMBER SINCE|CARDHOLDER",
    "ticket": "Passenger|Date|Time|Seat|Gate|Row|Class|Booking ref.|Flight|Train|Carriage|Platform|Entrance|Section",
    "shipping_label": "Weight|Ref.|Date|Pieces|Tracking No.|Account|Zone|Dimensions",
}
COLUMNS = {
    "invoice": "Pos.|Description|Qty|Unit|Unit price|VAT|Amount|Item No.|Discount",
    "statement": "Date|Value date|Description|Reference|Debit|Credit|Balance|Type",
    "receipt": "Qty|Item|Price|Total|Code",
}
CLOSING = ("Yours faithfully,", "Kind regards,", "Sincerely,", "Mit freundlichen Gruessen,", "Cordialement,")


def pick(rng: np.random.Generator, items) -> str:
    return items[int(rng.integers(len(items)))]


def person(rng: np.random.Generator) -> str:
    return f"{pick(rng, FIRST)} {pick(rng, LAST)}"


def organisation(rng: np.random.Generator) -> str:
    name = pick(rng, ORG_STEM)
    if rng.random() < 0.4:
        name += " " + pick(rng, ORG_STEM)
    return " ".join(part for part in (name, pick(rng, ORG_KIND), pick(rng, ORG_FORM)) if part)


def authority(rng: np.random.Generator) -> str:
    return pick(rng, AUTHORITY)


def address(rng: np.random.Generator) -> list[str]:
    return [f"{pick(rng, STREET)} {int(rng.integers(1, 240))}", f"{int(rng.integers(10000, 99999))} {pick(rng, CITY)}"]


def date(rng: np.random.Generator, style: int = -1) -> str:
    d, m, y = int(rng.integers(1, 29)), int(rng.integers(1, 13)), int(rng.integers(1960, 2031))
    style = int(rng.integers(4)) if style < 0 else style % 4
    months = _split("Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec")
    return (f"{d:02d}.{m:02d}.{y}", f"{y}-{m:02d}-{d:02d}", f"{d} {months[m - 1]} {y}", f"{m:02d}/{d:02d}/{y}")[style]


def amount(rng: np.random.Generator, hi: float = 2000.0) -> str:
    value = float(rng.uniform(0.5, hi))
    return f"{value:,.2f}"


def digits(rng: np.random.Generator, n: int) -> str:
    return "".join(str(int(d)) for d in rng.integers(0, 10, n))


def code(rng: np.random.Generator, n: int = 8) -> str:
    letters = "ABCDEFGHJKLMNPRSTUVWXYZ"
    return "".join(letters[int(i)] if i < len(letters) else str(int(i) - len(letters)) for i in rng.integers(0, 33, n))


def item(rng: np.random.Generator) -> str:
    words = [pick(rng, ITEM_ADJ)] if rng.random() < 0.6 else []
    words += [pick(rng, ITEM_NOUN) for _ in range(int(rng.integers(1, 3)))]
    return " ".join(words).capitalize()


def sentence(rng: np.random.Generator, words: int) -> str:
    return " ".join(pick(rng, SENTENCE_WORDS) for _ in range(words)).capitalize() + "."


def value_for(rng: np.random.Generator, label: str) -> str:
    """A plausible value for a field labelled ``label``."""
    low = label.lower()
    if "date" in low or low in ("issued", "expires", "period", "valid thru", "member since"):
        return date(rng)
    if any(k in low for k in ("surname", "holder", "awarded", "cardholder", "cashier")):
        return pick(rng, LAST).upper() if "surname" in low else person(rng)
    if "given" in low:
        return pick(rng, FIRST)
    if any(k in low for k in ("city", "place")):
        return pick(rng, CITY)
    if "street" in low or "address" in low:
        return address(rng)[0]
    if "balance" in low or "amount" in low:
        return amount(rng, 20000)
    if "iban" in low:
        return f"{code(rng, 2)}{digits(rng, 2)} {digits(rng, 4)} {digits(rng, 4)} {digits(rng, 4)}"
    if "email" in low:
        return f"{pick(rng, FIRST).lower()}.{pick(rng, LAST).lower()}@{pick(rng, ORG_STEM).lower()}.com"
    if "phone" in low:
        return f"+{int(rng.integers(1, 99))} {digits(rng, 3)} {digits(rng, 7)}"
    if "sex" in low:
        return pick(rng, ("F", "M", "X"))
    if "nationality" in low or low == "code":
        return code(rng, 3)
    if any(k in low for k in ("course", "occupation", "employer", "authority")):
        return organisation(rng) if "employer" in low or "authority" in low else item(rng)
    return code(rng, 2) + digits(rng, int(rng.integers(4, 9)))
