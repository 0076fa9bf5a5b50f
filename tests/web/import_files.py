"""Delivery files for the browser tests and ``make screenshots``: a Vodafone despatch file
against the demo fleet's order with rows a stores clerk has to deal with."""

from __future__ import annotations

import csv
import io

from importers.fields import luhn_check_digit

HEADER = [
    "Despatch Date",
    "Vodafone Order No",
    "Customer PO",
    "Delivery Note",
    "Product Code",
    "Product Description",
    "IMEI",
    "Serial Number",
    "SIM ICCID",
    "MSISDN",
    "Quantity",
]
PO_2022 = "4500071322"  # the demo's 2022 handset order
PART = "SM-A325FZKGEUB"


def _luhn(body: str) -> str:
    return body + luhn_check_digit(body)


def demo_imei(n: int) -> str:
    """The IMEI of the demo fleet's n-th handset (``fleetsvc.demo``)."""
    return _luhn(f"35209912{n:06d}")


def despatch_with_problems(
    series: int, *, good: int = 8, conflict_with: str | None = None
) -> bytes:
    """``good`` new handsets, two rows with a wrong IMEI, one with a date that is not one, and
    (given a registered IMEI) one that is already in the register with another serial.
    ``series`` keeps each file's identifiers apart from every other's."""
    rows = []
    for n in range(good + 3):
        imei = _luhn(f"352099{series:02d}{n:06d}")
        rows.append(
            [
                "14/11/2022",
                "VF-ORD-890000",
                PO_2022,
                f"DN79{series:02d}00",
                PART,
                "Samsung Galaxy A32 4G 128GB Awesome Black",
                imei,
                f"R58S{series:02d}{n:05d}",
                _luhn(f"894410{series:02d}{n:010d}"),
                f"07957 {series:02d}{n:04d}",
                "1",
            ]
        )
    rows[good][6] = rows[good][6][:-1] + str((int(rows[good][6][-1]) + 1) % 10)  # check digit
    rows[good + 1][6] = "3520991"  # too short
    rows[good + 2][0] = "31/02/2023"  # no such day
    if conflict_with:
        rows.append([*rows[0][:6], conflict_with, f"R58S{series:02d}99999", "", "", "1"])
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(HEADER)
    writer.writerows(rows)
    return out.getvalue().encode()
