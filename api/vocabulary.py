"""The register's vocabularies in the OpenAPI document: ``one_of`` for a Struct field,
``enum_of`` for a query parameter.

They are defined with the vocabularies (``fleetsvc.vocabulary``), because the domain's
Structs are request and response bodies too and the domain cannot import ``api``;
controllers may import them from here or from there.
"""

from __future__ import annotations

from fleetsvc.vocabulary import enum_of, one_of

__all__ = ["enum_of", "one_of"]
