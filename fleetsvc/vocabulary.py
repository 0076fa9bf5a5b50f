"""Every fixed vocabulary of the register, defined once (NetBox's ``choices.py``).

Each set is a ``StrEnum``: its members are the strings stored in the database and
sent over the API, so they compare equal to plain text and go to asyncpg and
msgspec as they are. The domain checks values against these, the API documents
them as OpenAPI enums (``one_of`` / ``enum_of`` below, which the domain's own request
Structs use too), and the database's CHECK constraints
hold the same lists (``tests/fleetsvc/test_vocabulary.py`` keeps them in step).
Iteration order is the order written here, which is the order messages list them.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum
from typing import Any

import msgspec


class Vocabulary(StrEnum):
    """A fixed set of values. ``has`` because ``value in Enum`` raises on Python 3.11."""

    @classmethod
    def has(cls, value: object) -> bool:
        return isinstance(value, str) and value in cls._value2member_map_

    @classmethod
    def listed(cls) -> str:
        """The values as a message lists them: ``in_stock, staging, ...``."""
        return ", ".join(cls)


class Role(Vocabulary):
    """What a token or a user may do (README "Tokens and roles")."""

    ADMIN = "admin"
    ENGINEER = "engineer"
    STORES = "stores"
    FINANCE = "finance"
    MDM = "mdm"
    AUDITOR = "auditor"


class AssetStatus(Vocabulary):
    """Where an asset is in its lifecycle (``fleetsvc.assets.lifecycle`` has the moves)."""

    IN_STOCK = "in_stock"
    STAGING = "staging"
    DEPLOYED = "deployed"
    IN_REPAIR = "in_repair"
    REBUILD = "rebuild"
    LOST = "lost"
    STOLEN = "stolen"
    RETIRED = "retired"
    DISPOSED = "disposed"


class Category(Vocabulary):
    """A device model's kind of device."""

    SMARTPHONE = "smartphone"
    IVMA_TABLET = "ivma_tablet"
    VEHICLE_DOCK = "vehicle_dock"
    TABLET = "tablet"
    ACCESSORY = "accessory"


# Kit that is deployed by fitting it in a vehicle (an install), not by issue to a person.
VEHICLE_KIT: tuple[Category, ...] = (Category.IVMA_TABLET, Category.VEHICLE_DOCK)
# Devices that take a SIM; they are also the devices the MDM manages (docks and
# accessories are never enrolled).
TAKES_SIM: tuple[Category, ...] = (Category.SMARTPHONE, Category.IVMA_TABLET, Category.TABLET)
MDM_MANAGED: tuple[Category, ...] = TAKES_SIM

# A new asset arrives in stores or straight into enrolment.
CREATABLE: tuple[AssetStatus, ...] = (AssetStatus.IN_STOCK, AssetStatus.STAGING)
# An install takes a tablet (and dock) from these.
INSTALLABLE: tuple[AssetStatus, ...] = (AssetStatus.IN_STOCK, AssetStatus.STAGING)
# A device in one of these is kept at a location (a store or station); in any other
# status it has none (the database's asset_location_chk says the same).
KEPT_AT_LOCATION: tuple[AssetStatus, ...] = (
    AssetStatus.IN_STOCK,
    AssetStatus.IN_REPAIR,
    AssetStatus.REBUILD,
)
# Statuses of devices that have left the estate: no refresh is forecast for them,
# and they should no longer be talking to the MDM.
LEFT_ESTATE: tuple[AssetStatus, ...] = (
    AssetStatus.DISPOSED,
    AssetStatus.RETIRED,
    AssetStatus.LOST,
    AssetStatus.STOLEN,
)


class PersonKind(Vocabulary):
    OFFICER = "officer"
    STAFF = "staff"
    SPECIAL_CONSTABLE = "special_constable"


class VehicleStatus(Vocabulary):
    ACTIVE = "active"
    OFF_ROAD = "off_road"
    DECOMMISSIONED = "decommissioned"


class SimStatus(Vocabulary):
    ACTIVE = "active"
    SUSPENDED = "suspended"
    CANCELLED = "cancelled"


class RemovalReason(Vocabulary):
    """Why an install ended."""

    RECOVERED = "recovered"
    VEHICLE_DECOMMISSIONED = "vehicle_decommissioned"
    FAULTY = "faulty"


class ContractKind(Vocabulary):
    HANDSET_SUPPLY = "handset_supply"
    AIRTIME = "airtime"
    RESELLER_FRAMEWORK = "reseller_framework"
    INSTALLATION = "installation"
    REBUILD = "rebuild"
    LICENCE = "licence"


class ChargeAppliesTo(Vocabulary):
    """What a contract's recurring charge is counted on."""

    SIM = "sim"
    DEVICE = "device"
    LICENCE_SEAT = "licence_seat"


class ChargePeriod(Vocabulary):
    MONTH = "month"
    YEAR = "year"


class PurchaseOrderStatus(Vocabulary):
    OPEN = "open"
    CLOSED = "closed"
    CANCELLED = "cancelled"


class ImportStatus(Vocabulary):
    """A delivery import's state; ``running`` while it is staged or applied."""

    RUNNING = "running"
    PREVIEWED = "previewed"
    COMMITTED = "committed"
    REJECTED = "rejected"
    FAILED = "failed"


class ImportMode(Vocabulary):
    """What an upload does: preview the file (the default) or commit it at once."""

    PREVIEW = "preview"
    COMMIT = "commit"


class IssueSeverity(Vocabulary):
    """A row issue of an import: an error rejects the row, a warning does not."""

    ERROR = "error"
    WARNING = "warning"


class HeldBackOutcome(Vocabulary):
    """Why an import's row error holds its row back: the row is wrong, or it clashes with
    what the register holds (a conflict, which names the fields that differ)."""

    REJECTED = "rejected"
    CONFLICT = "conflict"


class ImportRowStatus(Vocabulary):
    """The ``status`` filter of an import's rows, in the users' words."""

    REJECTED = "rejected"
    WARNING = "warning"


class InstallJobStatus(Vocabulary):
    """An installer's job outcome (only completed jobs fit kit)."""

    COMPLETED = "completed"
    ABORTED = "aborted"
    DEFERRED = "deferred"


class MdmRunSource(Vocabulary):
    PUSH = "push"
    FILE = "file"
    PULL = "pull"


class MdmRunStatus(Vocabulary):
    OPEN = "open"
    CLOSED = "closed"
    FAILED = "failed"


class Compliance(Vocabulary):
    """The MDM's compliance states, spelled as the Graph API spells them."""

    COMPLIANT = "compliant"
    NONCOMPLIANT = "noncompliant"
    CONFLICT = "conflict"
    ERROR = "error"
    IN_GRACE_PERIOD = "inGracePeriod"
    CONFIG_MANAGER = "configManager"
    UNKNOWN = "unknown"


class StocktakeStatus(Vocabulary):
    OPEN = "open"
    CLOSED = "closed"


class ScanOutcome(Vocabulary):
    """What a stocktake tells the person scanning about one code, at once."""

    FOUND = "found"  # expected here
    ELSEWHERE = "elsewhere"  # in the register, at another location or with a holder
    UNKNOWN = "unknown"  # in no record
    ALREADY_SCANNED = "already_scanned"  # this device (or code) was scanned before


class StocktakeSection(Vocabulary):
    """The parts of a stocktake's result."""

    FOUND = "found"
    MISSING = "missing"
    ELSEWHERE = "elsewhere"
    UNKNOWN = "unknown"
    DUPLICATES = "duplicates"


class StocktakeAction(Vocabulary):
    """What closing a stocktake did to one line of its result."""

    MOVED_HERE = "moved_here"
    MARKED_LOST = "marked_lost"
    NOT_MOVED = "not_moved"


class RecoveryStatus(Vocabulary):
    """A leaver's recovery case: open while any device is still to recover; cancelled when
    the leaver came back (``RecoveryCancelReason``)."""

    OPEN = "open"
    CLOSED = "closed"
    CANCELLED = "cancelled"


class RecoveryCancelReason(Vocabulary):
    """Why a recovery case was cancelled: the leaver is back in post."""

    RETURNED = "returned"


class RecoveryLineStatus(Vocabulary):
    """One device of a recovery case: still with the leaver, back, written off, or
    cancelled with its case (the leaver returned, keeping it)."""

    OPEN = "open"
    RECOVERED = "recovered"
    WRITTEN_OFF = "written_off"
    CANCELLED = "cancelled"


class ForecastGroup(Vocabulary):
    """What a refresh forecast is grouped by."""

    MODEL = "model"
    CATEGORY = "category"
    CONTRACT = "contract"
    BUSINESS_UNIT = "business_unit"


class OutputFormat(Vocabulary):
    """How a forecast is answered."""

    JSON = "json"
    CSV = "csv"
    XLSX = "xlsx"


# --- in the OpenAPI document -------------------------------------------------------------------
# A request field or query parameter from a vocabulary stays ``str`` in its Struct or
# signature, so a value outside it gets the domain's message naming the accepted values
# (not msgspec's generic one); these make the document list the values as an ``enum``, so
# a client generated from it sends only values we accept. They live here, not in ``api``,
# because the domain's Structs are the API's request and response bodies.


def enum_of(vocab: Iterable[Vocabulary], *, nullable: bool = False) -> dict[str, Any]:
    """``schema_extra`` for a ``Parameter`` whose values are ``vocab`` (a vocabulary, or
    the part of one a field accepts, such as ``CREATABLE``)."""
    values: list[str | None] = [str(m) for m in vocab]
    return {"enum": [*values, None] if nullable else values}


def one_of(vocab: Iterable[Vocabulary], *, nullable: bool = False) -> msgspec.Meta:
    """Metadata for a Struct field whose values are ``vocab``:
    ``status: Annotated[str, one_of(AssetStatus)]``. Litestar puts a field's extra
    schema beside an optional field's ``oneOf``, so ``Annotated[str, ...] | None`` needs
    ``nullable=True`` for ``null`` to stay valid in the document."""
    return msgspec.Meta(extra_json_schema={"extra": enum_of(vocab, nullable=nullable)})


def documented(**schema: Any) -> msgspec.Meta:
    """A Struct field's rule as JSON Schema keywords, in the document only (the domain checks
    it, with its own message): ``name: Annotated[str, documented(maxLength=200)]``."""
    return msgspec.Meta(extra_json_schema={"extra": schema})
