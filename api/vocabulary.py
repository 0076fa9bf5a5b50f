"""The register's vocabularies in the OpenAPI document.

A request field or query parameter from a vocabulary stays ``str`` in its Struct or
signature, so a value outside it gets the domain's message naming the accepted values
(not msgspec's generic one); ``one_of`` (a Struct field's metadata) and ``enum_of`` (a
query parameter's ``schema_extra``) make the document list the values as an ``enum``.
They are defined in ``fleetsvc.vocabulary``, beside the vocabularies, because the
domain's Structs are request and response bodies too; this module names them for
controllers.
"""

from __future__ import annotations

from fleetsvc.vocabulary import enum_of, one_of

__all__ = ["enum_of", "one_of"]
