"""Pseudo-random typed field values, drawn into fixed-size pools per field.

Records never store values: `data.py` picks pool entries by index arithmetic. A pool is drawn
once per (seed, module, field) from a seeded `random.Random`, so the same seed always gives
the same data. The vocabulary deliberately carries what breaks naive CSV handling: commas, double
quotes, apostrophes, line breaks inside values, emoji and CJK text.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal

from .catalog import USERS, Field

TWO_YEARS = 730 * 86400
"""Base records are created within this many seconds before the dataset's `now`."""

NULL_RATE = 0.1
"""Chance that an optional field of an ordinary record is empty."""
NULL_RATES: Mapping[str, float] = {
    "Secondary_Email": 0.7,
    "Skype_ID": 0.7,
    "Qualification_Notes": 0.6,
    "Delivery_Notes": 0.6,
    "Description": 0.4,
    "Last_Activity_Time": 0.3,
    "Closed_Time": 0.5,
}
"""Fields that real orgs mostly leave empty."""

FIRST_NAMES = (
    "James",
    "Mary",
    "Kris",
    "Sage",
    "Leota",
    "Minna",
    "Abel",
    "Kiley",
    "Graciela",
    "Cammy",
    "Mattie",
    "Meaghan",
    "Gladys",
    "Yuki",
    "Aarav",
    "Chloé",
    "Zoë",
    "Björn",
    "Łukasz",
    "Ana María",
    "Thảo",
    "美咲",
    "健太",
    "Олег",
    "Fatima",
    "Seán",
    "D'Arcy",
)
LAST_NAMES = (
    "Smith",
    "Butt",
    "Darakjy",
    "Venere",
    "Paprocki",
    "Foller",
    "Morasca",
    "Tollner",
    "Dilliard",
    "Wieser",
    "Marrier",
    "Amigon",
    "Maclead",
    "Caldarera",
    "Ruta",
    "Albares",
    "Poquette",
    "O'Brien",
    "Müller",
    "García-López",
    "山田",
    "李",
    "Nguyễn",
    "Ivanova",
    "van der Berg",
    'Smith "Smitty"',
    "Boyle",
)
_ASCII_NAMES = (
    "james",
    "mary",
    "kris",
    "sage",
    "leota",
    "minna",
    "abel",
    "kiley",
    "graciela",
    "yuki",
    "aarav",
    "chloe",
    "bjorn",
    "lukasz",
    "thao",
    "misaki",
    "kenta",
    "oleg",
    "fatima",
    "sean",
)
COMPANIES = (
    "Benton, John B Jr",
    "Chanay, Jeffrey A Esq",
    "Feltz Printing Service",
    "Printing Dimensions",
    "Morlong Associates",
    "Commercial Press",
    "Truhlar And Truhlar Attys",
    "Rangoni Of Florence",
    "Feiner Bros",
    "Buckley Miller & Wright",
    "Century Communications",
    'Acme "Rocket" Supplies',
    "株式会社ゾーホー",
    "Zylker 🚀 Labs",
    "Café Olé, S.A.",
    "Ørsted & Søn",
    "Müller GmbH",
    "Sunrise Trading Co.",
    "Northwind Traders",
    "Contoso, Ltd.",
    "上海数据科技有限公司",
)
_DOMAINS = ("zylker.com", "example.com", "mail.example.org", "acme.io", "test.co.jp")
TITLES = (
    "Sales Manager",
    "CEO",
    "CTO",
    "VP, Marketing",
    "Purchasing Agent",
    "Head of IT",
    "Office Manager",
    "営業部長",
    "Consultant",
    "Director of Operations",
)
DEPARTMENTS = ("Sales", "Marketing", "R&D", "Finance", "Support", "Legal", "IT")
CITIES = (
    "Chennai",
    "Pleasanton",
    "New York",
    "São Paulo",
    "Zürich",
    "東京",
    "Москва",
    "London",
    "Austin",
    "Cape Town",
    "Sydney",
    "Berlin",
    "Kraków",
    "Québec",
)
STATES = ("CA", "NY", "TX", "Tamil Nadu", "Bavaria", "Ontario", "NSW", "東京都")
COUNTRIES = (
    "United States",
    "India",
    "Germany",
    "Japan",
    "Brazil",
    "United Kingdom",
    "France",
    "Canada",
    "Australia",
    "South Africa",
    "Poland",
    "Switzerland",
)
STREETS = (
    "1 Infinite Loop",
    "4141 Hacienda Drive",
    "10 Downing St., Apt 2",
    "Estancia IT Park",
    "Hauptstraße 5",
    "1-2-3 Shibuya",
    "221B Baker Street",
    "742 Evergreen Terrace",
)
_SENTENCES = (
    "Met at the trade show, interested in a demo.",
    'Asked for a quote: "the sooner, the better".',
    "Budget approved for Q3, waiting on legal.",
    "Prefers email; do not call before 10am.",
    "Follow-up call scheduled 📞 — bring pricing sheet.",
    "顧客は価格に関心があります。",
    "Needs integration with their ERP, SAP & Oracle.",
    "Decision maker is out until next week 🏖️",
    "Comma, separated, notes, here",
    "Renewal risk: low ✅",
    "Line with a tab\tinside.",
)
_SUBJECTS = (
    "Call back",
    "Send proposal",
    "Product demo",
    "Follow up, second attempt",
    "Contract review",
    "Prepare 'Q4' forecast",
    "お礼のメール",
    "Onboarding kickoff 🚀",
)
_REGIONS = ("AMER", "EMEA", "APAC", "LATAM", "ANZ")
_PRODUCTS = ("CRM Plus", "One", "Desk", "Analytics", "Books", "Campaigns")

OTHER_OFFSETS = ("-08:00", "+00:00", "-05:00", "+09:00", "+01:00", "-03:30", "+05:30")
"""Offsets that about one record in seven carries instead of the dataset's own."""


def offset_seconds(offset: str) -> int:
    """`+05:30` → 19800; accepts `Z` as UTC."""
    if offset == "Z":
        return 0
    if len(offset) != 6 or offset[0] not in "+-" or offset[3] != ":":
        raise ValueError(f"UTC offset must look like +05:30, got {offset!r}")
    sign = -1 if offset[0] == "-" else 1
    hours, minutes = int(offset[1:3]), int(offset[4:6])
    if hours > 14 or minutes > 59:
        raise ValueError(f"UTC offset out of range: {offset!r}")
    return sign * (hours * 3600 + minutes * 60)


@dataclass(frozen=True)
class PoolContext:
    """What value drawing needs to know beyond the field itself."""

    now: int
    """Epoch seconds of the dataset's construction time."""
    offsets: tuple[int, ...]
    """UTC offsets in seconds: the dataset's own first, then the others."""
    lookup_ids: Mapping[str, Callable[[random.Random], str | None]]
    """Per target module: draws the id of one of its base records (None if it has none)."""


def aware(epoch: int, offset: int) -> datetime:
    """The instant `epoch` as seen at UTC offset `offset` (seconds)."""
    return datetime.fromtimestamp(epoch, timezone(timedelta(seconds=offset)))


def pick_offset(rng: random.Random, offsets: Sequence[int]) -> int:
    """The dataset's own offset six times in seven, another one otherwise."""
    if len(offsets) > 1 and rng.randrange(7) == 0:
        return offsets[1 + rng.randrange(len(offsets) - 1)]
    return offsets[0]


def draw_pool(field: Field, rng: random.Random, size: int, ctx: PoolContext) -> list[object]:
    """`size` typed values for `field`; entry 0 is what a sparse record holds (mostly None)."""
    draw = _drawer(field, ctx)
    always_set = field.mandatory or field.value_type in {"boolean", "ownerlookup"}
    null_rate = NULL_RATES.get(field.api_name, NULL_RATE)
    pool: list[object] = [draw(rng) if always_set else None]
    for _ in range(size - 1):
        if not always_set and rng.random() < null_rate:
            pool.append(None)
        else:
            pool.append(draw(rng))
    return pool


_Draw = Callable[[random.Random], object]


def _drawer(field: Field, ctx: PoolContext) -> _Draw:
    """How to draw one value of `field`: by name for well-known text fields, else by type."""
    named = _NAMED.get(field.api_name)
    if named is not None and field.value_type in {"text", "textarea"}:
        return named
    factory = _BY_TYPE.get(field.value_type)
    return _words if factory is None else factory(field, ctx)


def _integer_drawer(field: Field, _ctx: PoolContext) -> _Draw:
    default = (0, 10_000) if field.value_type == "integer" else (10**15, 9 * 10**18)
    low, high = _INT_RANGES.get(field.api_name, default)
    return lambda r: r.randint(low, high)


def _picklist_drawer(field: Field, _ctx: PoolContext) -> _Draw:
    values = field.pick_list_values or ("Option A", "Option B")
    if field.value_type == "multiselectpicklist":
        return lambda r: _multi(r, values)
    return lambda r: r.choice(values)


def _datetime_drawer(_field: Field, ctx: PoolContext) -> _Draw:
    return lambda r: aware(ctx.now - 1 - r.randrange(TWO_YEARS), pick_offset(r, ctx.offsets))


def _lookup_drawer(field: Field, ctx: PoolContext) -> _Draw:
    if field.value_type == "lookup":
        return ctx.lookup_ids.get(field.lookup_module or "", lambda _r: None)
    return lambda r: r.choice(USERS).id


def _fixed(draw: _Draw) -> Callable[[Field, PoolContext], _Draw]:
    return lambda _field, _ctx: draw


def _multi(rng: random.Random, choices: Sequence[str]) -> list[str]:
    picked = set(rng.sample(range(len(choices)), rng.randint(1, min(3, len(choices)))))
    return [choices[n] for n in sorted(picked)]


def _decimal_drawer(field: Field, _ctx: PoolContext) -> Callable[[random.Random], Decimal]:
    places = field.decimal_place if field.decimal_place is not None else 2
    scale = 10**places
    low, high = {
        "currency": (0, 10_000_000),
        "percent": (0, 100),
        "decimal": (-1000, 1000),
        "double": (-100, 100),
    }.get(field.value_type, (0, 1000))

    def draw(rng: random.Random) -> Decimal:
        return Decimal(rng.randint(low * scale, high * scale)).scaleb(-places)

    return draw


def _date_drawer(field: Field, ctx: PoolContext) -> Callable[[random.Random], date]:
    today = datetime.fromtimestamp(ctx.now, UTC).date()
    if field.api_name == "Date_of_Birth":
        return lambda r: date(1950, 1, 1) + timedelta(days=r.randrange(20_000))
    # Due and closing dates fall on both sides of today.
    return lambda r: today + timedelta(days=r.randint(-365, 365))


def _words(rng: random.Random) -> str:
    return f"{rng.choice(_PRODUCTS)} {rng.choice(COMPANIES)}"


def _paragraph(rng: random.Random) -> str:
    lines = rng.sample(_SENTENCES, rng.choice((1, 1, 2, 3)))
    return rng.choice(("\n", "\r\n", " ")).join(lines)


def _email(rng: random.Random) -> str:
    return (
        f"{rng.choice(_ASCII_NAMES)}.{rng.choice(_ASCII_NAMES)}{rng.randrange(100)}"
        f"@{rng.choice(_DOMAINS)}"
    )


def _phone(rng: random.Random) -> str:
    n = rng.randrange(10**7)
    return rng.choice(
        (
            f"555-{n % 10000:04d}",
            f"+1 (415) {n // 10000 % 1000:03d}-{n % 10000:04d}",
            f"+81 3-{n // 10000 % 10000:04d}-{n % 10000:04d}",
            f"+91 98{n:08d}",
        )
    )


def _website(rng: random.Random) -> str:
    slug = rng.choice(_ASCII_NAMES)
    return rng.choice(
        (
            f"https://www.{slug}.com",
            f"http://{slug}.example.org/home?ref=crm&x=1",
            f"www.{slug}-{rng.randrange(100)}.net",
        )
    )


_NAMED: Mapping[str, Callable[[random.Random], str]] = {
    "First_Name": lambda r: r.choice(FIRST_NAMES),
    "Last_Name": lambda r: r.choice(LAST_NAMES),
    "Company": lambda r: r.choice(COMPANIES),
    "Account_Name": lambda r: r.choice(COMPANIES),
    "Designation": lambda r: r.choice(TITLES),
    "Title": lambda r: r.choice(TITLES),
    "Department": lambda r: r.choice(DEPARTMENTS),
    "City": lambda r: r.choice(CITIES),
    "Mailing_City": lambda r: r.choice(CITIES),
    "Billing_City": lambda r: r.choice(CITIES),
    "State": lambda r: r.choice(STATES),
    "Country": lambda r: r.choice(COUNTRIES),
    "Mailing_Country": lambda r: r.choice(COUNTRIES),
    "Billing_Country": lambda r: r.choice(COUNTRIES),
    "Street": lambda r: r.choice(STREETS),
    "Zip_Code": lambda r: f"{r.randrange(100000):05d}",
    "Skype_ID": lambda r: f"live:{r.choice(_ASCII_NAMES)}_{r.randrange(1000)}",
    "Deal_Name": lambda r: f"{r.choice(COMPANIES)} - {r.choice(_PRODUCTS)}",
    "Subject": lambda r: r.choice(_SUBJECTS),
    "Tracking_Number": lambda r: f"1Z{r.randrange(10**12):012d}",
    "Name": lambda r: f"{r.choice(_PRODUCTS)} #{r.randrange(100000)}",
    "Region_Label": lambda r: r.choice(_REGIONS),
    "Note_Title": lambda r: r.choice(_SUBJECTS),
}

_INT_RANGES: Mapping[str, tuple[int, int]] = {
    "No_of_Employees": (1, 250_000),
    "Employees": (1, 250_000),
    "Package_Count": (1, 40),
    "Duration_Seconds": (1, 7200),
}

_BY_TYPE: Mapping[str, Callable[[Field, PoolContext], _Draw]] = {
    "integer": _integer_drawer,
    "bigint": _integer_drawer,
    **dict.fromkeys(("double", "currency", "percent", "decimal"), _decimal_drawer),
    "picklist": _picklist_drawer,
    "multiselectpicklist": _picklist_drawer,
    "date": _date_drawer,
    "datetime": _datetime_drawer,
    "boolean": _fixed(lambda r: r.random() < 0.3),
    "lookup": _lookup_drawer,
    "ownerlookup": _lookup_drawer,
    "userlookup": _lookup_drawer,
    "email": _fixed(_email),
    "phone": _fixed(_phone),
    "website": _fixed(_website),
    "textarea": _fixed(_paragraph),
}
