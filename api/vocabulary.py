"""The register's vocabularies in the OpenAPI document.

A request field or query parameter from a vocabulary stays ``str`` in its Struct or
signature, so a value outside it gets the domain's message naming the accepted values
(not msgspec's generic one); these helpers make the document list the values as an
``enum``, so a client generated from it sends only values we accept.
"""

from __future__ import annotations

from typing import Any

import msgspec

from fleetsvc.vocabulary import Vocabulary


def enum_of(vocab: type[Vocabulary], *, nullable: bool = False) -> dict[str, Any]:
    """``schema_extra`` for a ``Parameter`` whose values are ``vocab``."""
    values: list[str | None] = [str(m) for m in vocab]
    return {"enum": [*values, None] if nullable else values}


def one_of(vocab: type[Vocabulary], *, nullable: bool = False) -> msgspec.Meta:
    """Metadata for a Struct field whose values are ``vocab``:
    ``status: Annotated[str, one_of(AssetStatus)]``. Litestar puts a field's extra
    schema beside an optional field's ``oneOf``, so ``Annotated[str, ...] | None`` needs
    ``nullable=True`` for ``null`` to stay valid in the document."""
    return msgspec.Meta(extra_json_schema={"extra": enum_of(vocab, nullable=nullable)})
