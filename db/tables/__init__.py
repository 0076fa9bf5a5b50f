"""Every table of the register, one module per concept."""

from db.tables.audit import Event
from db.tables.auth import ApiToken
from db.tables.deliveries import DeliveryImport, ImportIssue, ImportRejectedRow, InstallJob
from db.tables.demo import DemoRecord, DemoStep
from db.tables.inventory import (
    Asset,
    Assignment,
    DeviceModel,
    Install,
    ModelAlias,
    ModelPartNumber,
    Sim,
    SimFitting,
)
from db.tables.jobs import Job
from db.tables.mdm import MdmDevice, MdmRun, MdmRunIssue
from db.tables.org import BusinessUnit, Person, Vehicle
from db.tables.procurement import (
    Contract,
    ContractCharge,
    LicencePool,
    LicenceSeat,
    PurchaseOrder,
    PurchaseOrderLine,
    Supplier,
)
from db.tables.recoveries import RecoveryCase, RecoveryLine
from db.tables.stock import Location, Stocktake, StocktakeItem, StocktakeScan
from db.tables.users import AppUser, SavedSearch, UserSession

ALL_TABLES = [
    AppUser,
    UserSession,
    SavedSearch,
    ApiToken,
    Event,
    BusinessUnit,
    Person,
    Vehicle,
    Location,
    Supplier,
    Contract,
    ContractCharge,
    DeviceModel,
    ModelPartNumber,
    ModelAlias,
    PurchaseOrder,
    PurchaseOrderLine,
    DeliveryImport,
    ImportIssue,
    ImportRejectedRow,
    Asset,
    Sim,
    SimFitting,
    Assignment,
    Install,
    InstallJob,
    LicencePool,
    LicenceSeat,
    MdmRun,
    MdmDevice,
    MdmRunIssue,
    Job,
    Stocktake,
    StocktakeScan,
    StocktakeItem,
    DemoStep,
    DemoRecord,
    RecoveryCase,
    RecoveryLine,
]

__all__ = [t.__name__ for t in ALL_TABLES] + ["ALL_TABLES"]
