"""Opaque keyset cursors: base64url of "<created_at ISO, UTC>|<uuid>"."""

import base64
import binascii
import uuid
from datetime import UTC, datetime

from domain.errors import BadUserInput

MAX_PAGE_SIZE = 100
# A cursor this server gives out is about 84 characters; anything much longer is not one.
MAX_CURSOR_LENGTH = 200
_NOT_A_CURSOR = "`after` is not a cursor this server gave out."


def encode_cursor(created_at: datetime, row_id: str) -> str:
    raw = f"{created_at.isoformat()}|{row_id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> tuple[datetime, str] | None:
    """The position in `cursor`; BadUserInput for anything this server did not give out."""
    if cursor is None:
        return None
    if len(cursor) > MAX_CURSOR_LENGTH:
        raise BadUserInput(_NOT_A_CURSOR)
    try:
        moment, separator, row_id = _unwrap(cursor).partition("|")
        created_at = datetime.fromisoformat(moment)
        if not separator or created_at.tzinfo is None:
            raise ValueError("not a cursor")
        # Only the UTC moment is compared in SQL; converting here keeps an offset that
        # leaves datetime's range an input error rather than a crash in the driver.
        return created_at.astimezone(UTC), str(uuid.UUID(row_id))
    except (binascii.Error, UnicodeDecodeError, ValueError, OverflowError) as error:
        raise BadUserInput(_NOT_A_CURSOR) from error


def _unwrap(cursor: str) -> str:
    padded = cursor + "=" * (-len(cursor) % 4)
    return base64.b64decode(padded, altchars=b"-_", validate=True).decode()


def page_size(first: int | None, *, default: int) -> int:
    if first is None:
        return default
    if not 0 <= first <= MAX_PAGE_SIZE:
        raise BadUserInput(f"`first` must be between 0 and {MAX_PAGE_SIZE}.")
    return first
