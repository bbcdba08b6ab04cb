"""One selfie upload per user at a time, within this process; what uploads are named."""

from collections.abc import Callable, Iterator
from contextlib import contextmanager

# Selfie archives on the provider's file store are named "selfies-<training job id>.zip".
SELFIE_ARCHIVE_PREFIX = "selfies-"


def selfie_archive_name(job_id: str) -> str:
    return f"{SELFIE_ARCHIVE_PREFIX}{job_id}.zip"


class UploadsInFlight:
    """The users whose selfies are being prepared here now.

    A second upload of the same user is refused at once instead of decoding in
    parallel. Across replicas the row lock and checks that record the job stay the
    authority; this only saves the decoding of uploads that would lose to them.
    """

    def __init__(self) -> None:
        self._users: set[str] = set()

    @contextmanager
    def only_one(self, user_id: str, refusal: Callable[[], Exception]) -> Iterator[None]:
        if user_id in self._users:
            raise refusal()
        self._users.add(user_id)
        try:
            yield
        finally:
            self._users.discard(user_id)
