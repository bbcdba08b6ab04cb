"""Opaque keyset cursors: base64url of "<created_at ISO>|<uuid>"."""

import base64
import binascii
import uuid
from datetime import datetime

from domain.errors import BadUserInput

MAX_PAGE_SIZE = 100


def encode_cursor(created_at: datetime, row_id: str) -> str:
    raw = f"{created_at.isoformat()}|{row_id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> tuple[datetime, str] | None:
    if cursor is None:
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        moment, _, row_id = raw.partition("|")
        return datetime.fromisoformat(moment), str(uuid.UUID(row_id))
    except (binascii.Error, UnicodeDecodeError, ValueError) as error:
        raise BadUserInput("`after` is not a cursor this server gave out.") from error


def page_size(first: int | None, *, default: int) -> int:
    if first is None:
        return default
    if not 0 <= first <= MAX_PAGE_SIZE:
        raise BadUserInput(f"`first` must be between 0 and {MAX_PAGE_SIZE}.")
    return first
