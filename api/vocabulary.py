"""The register's vocabularies in the OpenAPI document.

A request field or query parameter from a vocabulary stays ``str`` in its Struct or
signature, so a value outside it gets the domain's message naming the accepted values
(not msgspec's generic one); these helpers make the document list the values as an
``enum``, so a client generated from it sends only values we accept.
"""

from __future__ import annotations

from typing import Any

# one_of is the domain's (a domain Struct the API answers with needs it); it is imported
# from here too, beside enum_of.
from fleetsvc.vocabulary import Vocabulary, one_of

__all__ = ["enum_of", "one_of"]


def enum_of(vocab: type[Vocabulary], *, nullable: bool = False) -> dict[str, Any]:
    """``schema_extra`` for a ``Parameter`` whose values are ``vocab``."""
    values: list[str | None] = [str(m) for m in vocab]
    return {"enum": [*values, None] if nullable else values}
