"""The demo fleet's shape: how big it is, the names and numbers of what it holds, and the
identifiers it makes up (IMEIs and ICCIDs with their check digits, registrations).

Every identifier is the same on every run, so the files the demo imports are the same
files, and what the demo created can be found again.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Final

from importers.fields import luhn_check_digit

SEED: Final = 20211  # the people's and vehicles' units are drawn from it, repeatably

BUSINESS_UNITS: Final = (
    ("CE", "Central East BCU"),
    ("CN", "Central North BCU"),
    ("CS", "Central South BCU"),
    ("CW", "Central West BCU"),
    ("EA", "East Area BCU"),
    ("NA", "North Area BCU"),
    ("NE", "North East BCU"),
    ("NW", "North West BCU"),
    ("SE", "South East BCU"),
    ("SN", "South BCU"),
    ("SW", "South West BCU"),
    ("WA", "West Area BCU"),
    ("AW", "Central West Aviation OCU"),
    ("MO7", "Taskforce OCU"),
    ("RTPC", "Roads and Transport OCU"),
    ("SC", "Special Constabulary"),
    ("DP", "Digital Policing"),
    ("FP", "Frontline Policing HQ"),
)
FRONTLINE: Final = tuple(code for code, _ in BUSINESS_UNITS[:12])
HQ_UNITS: Final = ("DP", "FP", "RTPC", "MO7")
SPECIALS_UNIT: Final = "SC"


@dataclass(frozen=True)
class DemoSize:
    """How big the demo is; the tests load a scaled-down copy of the same shape."""

    people: int = 45_000
    specials: int = 1_500
    staff: int = 11_000
    vehicles: int = 2_500
    handsets_2021: int = 10_000
    handsets_2022: int = 29_737
    tablets: int = 2_700  # 2,500 fitted, 200 spare and rebuilt for specials
    netmotion_seats: int = 2_750

    def scaled(self, factor: float) -> DemoSize:
        return DemoSize(**{k: max(1, round(v * factor)) for k, v in self.__dict__.items()})


FULL: Final = DemoSize()


@dataclass(frozen=True)
class ModelShape:
    manufacturer: str
    model_name: str
    category: str
    lifecycle_months: int
    replacement_cost: str
    part_number: str


HANDSET: Final = ModelShape(
    "Samsung", "Galaxy A32 4G 128GB", "smartphone", 36, "300.00", "SM-A325FZKGEUB"
)
TABLET: Final = ModelShape(
    "Panasonic", "Toughpad FZ-L1", "ivma_tablet", 60, "689.00", "FZ-L1AHAABVB"
)
DOCK: Final = ModelShape("Havis", "DS-PAN-1111 dock", "vehicle_dock", 84, "312.50", "DS-PAN-1111")
MODELS: Final = (HANDSET, TABLET, DOCK)

SUPPLIERS: Final = ("Vodafone", "CDW", "Babcock")


@dataclass(frozen=True)
class ContractShape:
    reference: str
    supplier: str
    kind: str
    title: str
    starts_on: dt.date
    ends_on: dt.date
    value_cap: str | None
    # The recurring charge finance forecasts: applies to, category, amount, period, what.
    charge: tuple[str, str | None, str, str, str] | None


HANDSET_CONTRACT: Final = "VF-HANDSET-2021"
AIRTIME_CONTRACT: Final = "VF-AIRTIME-2021"
FRAMEWORK_CONTRACT: Final = "CDW-RF-2020"
INSTALL_CONTRACT: Final = "BAB-IVMA-2021"
LICENCE_CONTRACT: Final = "CDW-NETMOTION-2021"
_d = dt.date
CONTRACTS: Final = (
    ContractShape(
        HANDSET_CONTRACT, "Vodafone", "handset_supply", "Smartphone handsets and support",
        _d(2021, 4, 1), _d(2026, 3, 31), "15000000.00",
        ("device", "smartphone", "1.25", "month", "handset support per device"),
    ),
    ContractShape(
        AIRTIME_CONTRACT, "Vodafone", "airtime", "Mobile airtime (re-procuring)",
        _d(2021, 4, 1), _d(2027, 3, 31), None,
        ("sim", None, "5.50", "month", "airtime per active SIM"),
    ),
    ContractShape(
        FRAMEWORK_CONTRACT, "CDW", "reseller_framework", "IT reseller framework",
        _d(2020, 9, 1), _d(2027, 8, 31), "5000000.00", None,
    ),
    ContractShape(
        INSTALL_CONTRACT, "Babcock", "installation", "IVMA vehicle installation",
        _d(2021, 6, 1), _d(2026, 5, 31), None,
        ("device", "ivma_tablet", "45.00", "year", "IVMA maintenance per vehicle"),
    ),
    ContractShape(
        LICENCE_CONTRACT, "CDW", "licence", "NetMotion Mobility licences",
        _d(2021, 10, 1), _d(2026, 9, 30), None,
        ("licence_seat", None, "18.00", "year", "NetMotion support per seat"),
    ),
)  # fmt: skip

HANDSET_PO_2021: Final = "4500051001"
HANDSET_PO_2022: Final = "4500071322"
CDW_PO: Final = "4500061069"
# What the force paid (replacing a handset costs £300, its model's replacement cost).
HANDSET_COST: Final = "289.00"
TABLET_COST: Final = "689.00"
DOCK_COST: Final = "312.50"
NETMOTION_SEAT_COST: Final = "41.00"
NETMOTION_KEY: Final = "NMX-7Q2P-44KD-9ZZA"


def imei(n: int) -> str:
    body = f"35209912{n:06d}"
    return body + luhn_check_digit(body)


def iccid(n: int) -> str:
    body = f"894411{n:012d}"
    return body + luhn_check_digit(body)


def vrm(n: int) -> str:
    letters = "ABCDEFGHJKLMNOPRSTUVWXY"
    area = "B" + letters[n % len(letters)]
    year = ("21", "71", "20", "70", "19")[n % 5]
    tail = "".join(letters[(n // len(letters) ** i) % len(letters)] for i in range(3))
    return f"{area}{year}{tail}"


def fleet_number(n: int) -> str:
    return f"DV{n:05d}"


def tablet_serial(n: int) -> str:
    return f"PFD{n:06d}X"


def dock_serial(n: int) -> str:
    return f"DKD{n:06d}"


def spread(start: dt.date, end: dt.date, n: int) -> Iterator[dt.date]:
    """``n`` dates from ``start`` to ``end``, evenly spaced."""
    days = (end - start).days
    for i in range(n):
        yield start + dt.timedelta(days=(i * days) // max(n - 1, 1))
