from request_context.context import Info
from resolvers.global_ids import decode_global_id


async def delete_account(info: Info, confirm: str) -> str:
    """Deletes the signed-in user's account; the id it had."""
    user = info.context.user
    decoded = decode_global_id(confirm)
    confirmed = decoded[1] if decoded is not None and decoded[0] == "User" else None
    await info.context.services.account_deletion.delete_account(user, confirmed)
    return user.id
