import strawberry


@strawberry.input
class DeleteAccountInput:
    confirm: strawberry.ID = strawberry.field(
        description="The signed-in user's own global ID (`me.id`), as a deliberate confirmation."
    )


@strawberry.type
class DeletePayload:
    deleted_id: strawberry.ID = strawberry.field(
        description="The global ID of what was deleted, for the client to evict from its cache."
    )
