from dataclasses import dataclass

from domain.generation.service import GenerationService
from domain.images import ImageUrlSigner
from domain.privacy.account_deletion import AccountDeletionService
from domain.training.service import TrainingService
from domain.users.service import UserService


@dataclass(frozen=True)
class Services:
    """The domain services a request may call, built once per process."""

    users: UserService
    training: TrainingService
    generation: GenerationService
    account_deletion: AccountDeletionService
    image_urls: ImageUrlSigner
