"""Training progress, read from the trainer's logs.

Only the training loop's tqdm bar counts (`flux_train_replicate: 83%|… | 2482/3000 […]`);
bars for loading or caching appear too and must not. The last match wins.
"""

import re

_TRAINING_BAR = re.compile(r"flux_train_replicate:\s*(\d+)%\|[^|]*\|\s*(\d+)/(\d+)")


def progress_from_logs(logs: str) -> float | None:
    """The fraction of the trainer's steps done, or None when the loop has not started."""
    last = None
    for last in _TRAINING_BAR.finditer(logs):  # noqa: B007 (only the last match matters)
        pass
    if last is None:
        return None
    step, total = int(last.group(2)), int(last.group(3))
    if total <= 0:
        return None
    return min(step / total, 1.0)
