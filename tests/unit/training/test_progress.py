import pytest

from domain.training.progress import progress_from_logs

SETUP = """\
Loading checkpoint shards: 100%|██████████| 3/3 [00:02<00:00,  1.20it/s]
Caching latents to memory: 100%|██████████| 25/25 [00:10<00:00,  2.41it/s]
"""


def bar(step: int, total: int) -> str:
    percent = step * 100 // total
    return (
        f"flux_train_replicate:  {percent}%|████████▎ | {step}/{total} "
        "[43:27<09:04,  1.05s/it, lr: 4.0e-04 loss: 2.472e-01]\n"
    )


def test_other_bars_do_not_count() -> None:
    assert progress_from_logs(SETUP) is None
    assert progress_from_logs("") is None


def test_the_last_training_bar_wins() -> None:
    logs = SETUP + bar(10, 1000) + bar(250, 1000) + "Saving checkpoint\n" + bar(500, 1000)

    assert progress_from_logs(logs) == 0.5


def test_the_documented_example_line() -> None:
    line = (
        "flux_train_replicate:  83%|████████▎ | 2482/3000 "
        "[43:27<09:04,  1.05s/it, lr: 4.0e-04 loss: 2.472e-01]"
    )

    assert progress_from_logs(line) == pytest.approx(2482 / 3000)


def test_bars_split_by_carriage_returns_count_too() -> None:
    logs = bar(100, 400).rstrip("\n") + "\r" + bar(200, 400)

    assert progress_from_logs(logs) == 0.5


@pytest.mark.parametrize("garbage", ["flux_train_replicate: 0%|| 0/0 [", "flux_train_replicate: x"])
def test_degenerate_bars_give_nothing(garbage: str) -> None:
    assert progress_from_logs(garbage) is None
