from typing import Self

import strawberry

from domain.generation.styles import PhotoshootStyle as DomainStyle


@strawberry.type(name="PhotoshootStyle")
class PhotoshootStyle:
    id: strawberry.ID
    name: str
    category: str
    description: str

    @classmethod
    def from_domain(cls, style: DomainStyle) -> Self:
        return cls(
            id=strawberry.ID(style.id),
            name=style.name,
            category=style.category,
            description=style.description,
        )
