import pytest

from resolvers.global_ids import decode_global_id, encode_global_id


def test_a_global_id_round_trips() -> None:
    global_id = encode_global_id("UserModel", "0b6c9b5e-6e0e-4b43-9d0e-3b8f2f0b6a11")

    assert decode_global_id(global_id) == ("UserModel", "0b6c9b5e-6e0e-4b43-9d0e-3b8f2f0b6a11")
    assert "UserModel" not in global_id


@pytest.mark.parametrize("value", ["", "%%%", "bm9jb2xvbg", "OnVzZXI", "VXNlcjo", "x" * 300])
def test_anything_else_decodes_to_none(value: str) -> None:
    assert decode_global_id(value) is None
