"""Text fields of request bodies: stored without surrounding whitespace, limited as the API documents them.

A model-wide `str_strip_whitespace` checks a field's `max_length` after stripping, so a value longer than
the OpenAPI spec's `maxLength` (e.g. 64 characters plus a leading U+0085) was accepted. With `TrimmedText`
the field's limits hold for the value as sent, and stripping comes after them.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator


def _stripped_and_not_blank(value: str) -> str:
    stripped = value.strip()
    if not stripped:
        raise ValueError("must not be blank")
    return stripped


# Use with the field's limits, e.g. `sku: TrimmedText = Field(min_length=1, max_length=64)`.
TrimmedText = Annotated[str, AfterValidator(_stripped_and_not_blank)]
