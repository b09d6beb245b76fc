"""Properties of the dataset checker and importer, on generated documents.

Whatever the document, the checker answers with a dataset or a DatasetError whose every
message starts with a path; and an import either writes all of it or nothing.
"""

from __future__ import annotations

import copy
import re
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from bot.importer import SECTIONS, Dataset, DatasetError, check, import_document, parse_text
from bot.store import Store
from bot.store.tables import metadata

EA = "411023871"
# A path ("dataset", "licenses[3].ea", "sla_targets[0]['odd key']"), then ": ", then words.
PATH = re.compile(r"^(dataset|\w+)(\[\d+\]|\.\w+|\[.+?\])*: \S")

FIELDS = sorted(
    {
        "id",
        "name",
        "kind",
        "partner_type",
        "locale",
        "timezone",
        "business_hours",
        "queue_channel",
        "business_queue_channel",
        "severity_labels",
        "email",
        "org",
        "roles",
        "ea",
        "vendor",
        "customer",
        "superuser",
        "merged_into",
        "partner",
        "permissions",
        "until",
        "key",
        "product",
        "quantity",
        "unit",
        "type",
        "folder",
        "order",
        "sold_by",
        "expires",
        "number",
        "level",
        "starts",
        "ends",
        "products",
        "service",
        "seller",
        "contract_code",
        "authorization",
        "customer_email",
        "benefits",
        "benefit_admins",
        "sev1",
        "sev2",
        "sev3",
        "sev4",
    }
)

# Values that are nearly right: valid in one place, wrong in another, or at an edge.
PLAUSIBLE = st.sampled_from(
    [
        "vmw",
        "acme",
        "pixel",
        "customer",
        "partner",
        "vendor",
        "msp",
        "fr",
        "EN",
        "Europe/Paris",
        "UTC",
        "localtime",
        "a/" * 400 + "b",
        "mon-fri 09:00-18:00",
        "Mon-Sun 0:00 - 24:00",
        "24x7",
        "mon-fri 18:00-09:00",
        "C0PIXELQ",
        "#general",
        "alice@acme.example",
        "ALICE@ACME.EXAMPLE",
        "ines@pixel.example",
        "superuser",
        "atc",
        EA,
        "411023872",
        "41102387",
        "all",
        "view_license_keys",
        "standard",
        "production",
        "basic",
        "2026-01-01",
        "2027-02-30",
        "2027-12-31T10:00:00",
        "K" * 70,
        "x" * 201,
        "\x00",
        "",
        "   ",
        0,
        1,
        -5,
        2**31,
        2**70,
        1.5,
        float("inf"),
        True,
        None,
    ]
)

SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=20)
    | st.dates().map(str)
    | st.dates()
    | PLAUSIBLE
)
JSON_LIKE = st.recursive(
    SCALARS,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.text(max_size=8) | st.sampled_from(FIELDS), children, max_size=4)
    ),
    max_leaves=20,
)
ITEM = st.dictionaries(st.sampled_from(FIELDS) | st.text(max_size=6), JSON_LIKE, max_size=8)
SECTION_SHAPED = st.dictionaries(
    st.sampled_from(SECTIONS) | st.text(max_size=10),
    st.lists(ITEM | JSON_LIKE, max_size=4) | JSON_LIKE,
    max_size=6,
)
DOCUMENTS = JSON_LIKE | SECTION_SHAPED


def small_doc() -> dict[str, Any]:
    return {
        "vendors": [
            {
                "id": "vmw",
                "name": "VMware",
                "queue_channel": "C0VMWQ",
                "severity_labels": {1: "Sev 1", "2": "Sev 2"},
                "timezone": "Europe/Dublin",
                "business_hours": "mon-fri 08:00-20:00",
            }
        ],
        "organizations": [
            {"id": "acme", "kind": "customer", "name": "ACME SA", "locale": "fr"},
            {
                "id": "pixel",
                "kind": "partner",
                "name": "Pixel",
                "partner_type": "msp",
                "queue_channel": "C0PIXELQ",
            },
        ],
        "contacts": [
            {"email": "alice@acme.example", "org": "acme", "name": "Alice", "roles": ["superuser"]},
            {"email": "ines@pixel.example", "org": "pixel", "name": "Ines", "roles": ["atc"]},
        ],
        "accounts": [
            {
                "ea": EA,
                "vendor": "vmw",
                "customer": "acme",
                "name": "ACME",
                "superuser": "alice@acme.example",
            },
            {
                "ea": "411023870",
                "vendor": "vmw",
                "customer": "acme",
                "name": "ACME old",
                "merged_into": EA,
            },
        ],
        "grants": [{"ea": EA, "partner": "pixel", "permissions": ["view_license_keys"]}],
        "licenses": [
            {"key": "K-1", "ea": EA, "product": "vSphere", "quantity": 4, "type": "standard"},
            {"key": "K-2", "ea": EA, "product": "vSAN", "quantity": 2, "type": "nfr"},
        ],
        "contracts": [
            {
                "number": "SNS-1",
                "ea": EA,
                "level": "production",
                "starts": "2026-01-01",
                "ends": "2027-01-01",
                "products": ["vSphere"],
            }
        ],
        "subscriptions": [
            {"id": "S-1", "ea": EA, "service": "VMC", "seller": "pixel", "quantity": 1}
        ],
        "agreements": [
            {
                "number": "V1",
                "authorization": "AUTH-1",
                "vendor": "vmw",
                "customer": "acme",
                "customer_email": "buy@acme.example",
                "benefits": ["e_learning"],
                "benefit_admins": ["alice@acme.example"],
            }
        ],
        "sla_targets": [{"vendor": "vmw", "level": "premier", "sev1": 15}],
    }


Path = tuple[Any, ...]


def paths(value: Any, prefix: Path = ()) -> list[Path]:
    """Every place in the document: mapping keys and list positions, nested."""
    found: list[Path] = []
    if isinstance(value, dict):
        for key, child in value.items():
            found.append((*prefix, key))
            found.extend(paths(child, (*prefix, key)))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            found.append((*prefix, index))
            found.extend(paths(child, (*prefix, index)))
    return found


def parent(doc: Any, path: Path) -> Any:
    for step in path[:-1]:
        doc = doc[step]
    return doc


@st.composite
def mutated_docs(draw: st.DrawFn) -> dict[str, Any]:
    """The small valid document with one to three places dropped, retyped or doubled."""
    doc = small_doc()
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        places = paths(doc)
        if not places:
            break
        path = draw(st.sampled_from(places))
        holder, key = parent(doc, path), path[-1]
        action = draw(st.sampled_from(["drop", "retype", "edge", "stretch", "duplicate"]))
        value = holder[key]
        if action == "drop":
            del holder[key]
        elif action == "duplicate" and isinstance(holder, list):
            holder.append(copy.deepcopy(value))
        elif action == "stretch" and isinstance(value, str):
            # Longer than a column, or with a character a database cannot store.
            holder[key] = value + draw(st.sampled_from(["x" * 250, "\x00", "é" * 60]))
        elif action == "stretch" and isinstance(value, int):
            holder[key] = value * 2**40
        elif action == "edge":
            holder[key] = draw(PLAUSIBLE)
        else:
            holder[key] = draw(JSON_LIKE)
    return doc


def assert_answer(doc: Any) -> Dataset | None:
    """check() gives a dataset or a DatasetError whose messages start with a path."""
    try:
        return check(doc)
    except DatasetError as exc:
        assert exc.errors, "a refusal says why"
        roots = {"dataset", *SECTIONS, *(str(k) for k in doc)} if isinstance(doc, dict) else set()
        for message in exc.errors:
            match = PATH.match(message)
            assert match is not None, message
            assert match.group(1) in roots | {"dataset"}, message
        return None


PROPERTY = settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def test_the_small_document_is_valid() -> None:
    data = check(small_doc())
    assert data.counts()["accounts"] == 2
    assert data.accounts[1].merged_into == EA


@PROPERTY
@given(DOCUMENTS)
def test_arbitrary_documents_get_an_answer_with_paths(doc: Any) -> None:
    assert_answer(doc)


YAML_TOKENS = st.sampled_from(
    [
        "!!int ",
        "!!float ",
        "!!bool ",
        "!!timestamp ",
        "!!binary ",
        "!!set ",
        "!!map ",
        "!!seq ",
        "!!str ",
        "!!null ",
        "!!python/object:os.system ",
        "&a ",
        "*a",
        "*b",
        "[",
        "]",
        "{",
        "}",
        ": ",
        "- ",
        "? ",
        ", ",
        "\n",
        "  ",
        "\t",
        "abc",
        "1",
        "0x1F",
        "2027-02-30",
        "2027-01-01 25:00:00",
        "'",
        '"',
        "# note",
        "|",
        ">",
        "vendors",
        "---",
        "...",
        "%YAML 1.1",
    ]
)


@PROPERTY
@given(st.lists(YAML_TOKENS, max_size=30).map("".join) | st.text(max_size=60))
def test_any_text_parses_or_is_refused_with_the_file_name(text: str) -> None:
    for json_only in (False, True):
        try:
            parse_text(text, "upload.yml", json_only=json_only)
        except DatasetError as exc:
            (message,) = exc.errors
            assert message.startswith("upload.yml: "), message


@PROPERTY
@given(mutated_docs())
def test_mutated_documents_get_an_answer_with_paths(doc: dict[str, Any]) -> None:
    data = assert_answer(doc)
    if data is not None:
        # An accepted document holds only what it listed.
        for section, n in data.counts().items():
            items = doc.get(section) or []
            if section != "sla_targets":
                assert n <= len(items)


@PROPERTY
@given(mutated_docs())
async def test_an_import_writes_everything_or_nothing(store: Store, doc: dict[str, Any]) -> None:
    """What the checker accepts, the database stores (lengths, characters, numbers)."""
    before = await counts(store)
    try:
        data = await import_document(store, doc, replace=True)
    except DatasetError:
        assert await counts(store) == before
        return
    after = await counts(store)
    expected = data.counts()
    assert after["organizations"] == expected["organizations"] + expected["vendors"]
    for section in SECTIONS:
        if section != "organizations":
            assert after[section] == expected[section], section


async def counts(store: Store) -> dict[str, int]:
    async with store.read() as conn:
        return {
            table.name: int(
                (await conn.execute(select(func.count()).select_from(table))).scalar_one()
            )
            for table in metadata.sorted_tables
        }
