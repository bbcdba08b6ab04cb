"""Lists bound as one PostgreSQL array (`= ANY(:ids)`): one parameter, one cached plan,
whatever the list's length, where `IN (…)` would expand into a parameter per item."""

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import BindParameter, String, Uuid, bindparam
from sqlalchemy.dialects.postgresql import ARRAY


def text_array(values: Sequence[str]) -> BindParameter[Any]:
    return bindparam(None, list(values), type_=ARRAY(String()))


def uuid_array(values: Sequence[uuid.UUID]) -> BindParameter[Any]:
    return bindparam(None, list(values), type_=ARRAY(Uuid()))


def uuid_keys(ids: Sequence[str]) -> list[uuid.UUID]:
    """The ids that are UUIDs, as UUIDs (any other id names no row)."""
    keys = []
    for value in ids:
        try:
            keys.append(uuid.UUID(value))
        except ValueError:
            continue
    return keys
