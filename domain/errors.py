"""Every error the product shows its users, each with the API's error code.

Messages speak of the product (photos, trainings, styles), never of the API that carries
them: an error names what the user can do next as a `NextStep`, and the API layer says how.
"""

from enum import StrEnum


class ErrorCode(StrEnum):
    UNAUTHENTICATED = "UNAUTHENTICATED"
    NOT_FOUND = "NOT_FOUND"
    BAD_USER_INPUT = "BAD_USER_INPUT"
    MODEL_NOT_READY = "MODEL_NOT_READY"
    TRAINING_IN_PROGRESS = "TRAINING_IN_PROGRESS"
    RATE_LIMITED = "RATE_LIMITED"
    QUOTA_EXCEEDED = "QUOTA_EXCEEDED"
    UPSTREAM_UNAVAILABLE = "UPSTREAM_UNAVAILABLE"
    NOT_CONFIGURED = "NOT_CONFIGURED"
    CAPACITY_REACHED = "CAPACITY_REACHED"
    INTERNAL_SERVER_ERROR = "INTERNAL_SERVER_ERROR"
    GRAPHQL_PARSE_FAILED = "GRAPHQL_PARSE_FAILED"
    GRAPHQL_VALIDATION_FAILED = "GRAPHQL_VALIDATION_FAILED"
    PERSISTED_QUERY_NOT_FOUND = "PERSISTED_QUERY_NOT_FOUND"


class NextStep(StrEnum):
    """What the user can do about an error, for the API layer to say how."""

    TRAIN = "train"
    FOLLOW_TRAINING = "follow_training"
    PICK_STYLE = "pick_style"


class DomainError(Exception):
    """An expected failure whose message is safe and useful to show the user."""

    code: ErrorCode = ErrorCode.INTERNAL_SERVER_ERROR

    def __init__(self, message: str, *, next_step: NextStep | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.next_step = next_step

    def details(self) -> dict[str, object]:
        """Extra machine-readable facts for the client (e.g. retryAfter)."""
        return {}


class Unauthenticated(DomainError):
    code = ErrorCode.UNAUTHENTICATED


class AccountDeleted(Unauthenticated):
    """The signed-in user's account was deleted while the request ran."""

    code = ErrorCode.UNAUTHENTICATED

    code = ErrorCode.UNAUTHENTICATED

    def __init__(self) -> None:
        super().__init__(
            "This account has been deleted. Sign in again to start afresh with a new, "
            "empty account."
        )


class NotFound(DomainError):
    code = ErrorCode.NOT_FOUND


class BadUserInput(DomainError):
    code = ErrorCode.BAD_USER_INPUT


class ModelNotReady(DomainError):
    """The user has no usable trained model to generate with."""

    code = ErrorCode.MODEL_NOT_READY


class TrainingInProgress(DomainError):
    """A user trains one model at a time."""

    code = ErrorCode.TRAINING_IN_PROGRESS

    @classmethod
    def running(cls) -> "TrainingInProgress":
        return cls(
            "A training of yours is already running. Follow its progress, or cancel it "
            "before starting another.",
            next_step=NextStep.FOLLOW_TRAINING,
        )

    @classmethod
    def being_started(cls) -> "TrainingInProgress":
        return cls(
            "A training of yours is already being started. Follow its progress.",
            next_step=NextStep.FOLLOW_TRAINING,
        )


class CapacityReached(DomainError):
    code = ErrorCode.CAPACITY_REACHED


class RateLimited(DomainError):
    code = ErrorCode.RATE_LIMITED

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after

    def details(self) -> dict[str, object]:
        return {"retryAfter": self.retry_after}


class QuotaExceeded(RateLimited):
    code = ErrorCode.QUOTA_EXCEEDED


class UpstreamUnavailable(DomainError):
    """The image provider (Replicate) failed or could not be reached.

    `may_have_arrived` is true when a POST might have been processed (a timeout or a
    5xx after sending): then the caller must find out what happened, not retry.
    """

    code = ErrorCode.UPSTREAM_UNAVAILABLE

    def __init__(self, message: str, *, may_have_arrived: bool = False) -> None:
        super().__init__(message)
        self.may_have_arrived = may_have_arrived


class UpstreamRejected(DomainError):
    """The image provider answered with a 4xx problem (other than 404 where None is returned)."""

    code = ErrorCode.UPSTREAM_UNAVAILABLE

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(f"The image provider refused the request ({status}): {detail}")
        self.status = status
        self.detail = detail


class NotConfigured(DomainError):
    """No image provider token is set: nothing that needs the provider can run."""

    code = ErrorCode.NOT_CONFIGURED


class ImageWorkersLost(DomainError):
    """The processes decoding selfies died mid-upload; a new pool serves the next one."""

    code = ErrorCode.INTERNAL_SERVER_ERROR

    def __init__(self) -> None:
        super().__init__(
            "Your photos could not be processed just now. Nothing was charged; "
            "upload them again in a moment."
        )
