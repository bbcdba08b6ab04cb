"""Lists bound as one PostgreSQL array (`= ANY(:ids)`): one parameter, one cached plan,
whatever the list's length, where `IN (…)` would expand into a parameter per item."""

from collections.abc import Sequence
from typing import Any

from sqlalchemy import BindParameter, String, Uuid, bindparam
from sqlalchemy.dialects.postgresql import ARRAY

from persistence.repositories.rows import uuid_keys


def text_array(values: Sequence[str]) -> BindParameter[Any]:
    return bindparam(None, list(values), type_=ARRAY(String()))


def uuid_array(ids: Sequence[str]) -> BindParameter[Any]:
    """The ids that are UUIDs (any other id names no row)."""
    return bindparam(None, uuid_keys(ids), type_=ARRAY(Uuid()))
