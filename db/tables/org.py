"""Business units, people and vehicles: who and what holds devices."""

from piccolo.columns import Boolean, Date, ForeignKey, Timestamptz, Varchar
from piccolo.columns.base import OnDelete
from piccolo.table import Table

from db.tables.common import Versioned


class BusinessUnit(Versioned, Table, tablename="business_unit", help_text="A BCU or OCU."):
    code = Varchar(length=16, unique=True)
    name = Varchar(length=200)


class Person(
    Versioned, Table, tablename="person", help_text="An officer, staff member or special."
):
    employee_number = Varchar(length=32, unique=True)
    upn = Varchar(length=254, unique=True, null=True, default=None)
    display_name = Varchar(length=200)
    business_unit_id = ForeignKey(
        BusinessUnit, null=True, default=None, on_delete=OnDelete.restrict
    )
    kind = Varchar(length=32, default="officer")
    active = Boolean(default=True)
    left_on = Date(null=True, default=None)
    pseudonymised_at = Timestamptz(
        null=True, default=None, help_text="when retention replaced their name with a pseudonym"
    )


class Vehicle(
    Versioned, Table, tablename="vehicle", help_text="A fleet vehicle that can hold IVMA kit."
):
    fleet_number = Varchar(length=32, unique=True)
    vrm = Varchar(length=8, unique=True)
    description = Varchar(length=200, default="")
    business_unit_id = ForeignKey(
        BusinessUnit, null=True, default=None, on_delete=OnDelete.restrict
    )
    status = Varchar(length=16, default="active")
