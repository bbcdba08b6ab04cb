"""Ids a client sends become row keys only when they are UUIDs: any other id names no row."""

import uuid

from persistence.repositories.rows import parse_uuid, uuid_keys

KEY = uuid.UUID("6a1f7a3e-8a0b-4c41-9d2f-51f0b7a1c2d3")


def test_a_uuid_is_a_key_and_anything_else_names_no_row() -> None:
    assert parse_uuid(str(KEY)) == KEY
    assert parse_uuid("not-a-uuid") is None
    assert parse_uuid("") is None


def test_only_the_uuids_of_a_list_become_keys_in_their_order() -> None:
    other = uuid.UUID(int=7)
    assert uuid_keys(["x", str(KEY), "", str(other), "1"]) == [KEY, other]
    assert uuid_keys([]) == []
