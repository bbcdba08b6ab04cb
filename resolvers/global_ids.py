from schema.node import decode_global_id


def local_id(global_id: str, type_name: str) -> str:
    """The local id inside a global ID of `type_name`; "" for anything else (found by no one)."""
    decoded = decode_global_id(global_id)
    if decoded is None or decoded[0] != type_name:
        return ""
    return decoded[1]
