from domain.events import FOLLOWER_BACKLOG, EventHub


async def test_notices_reach_only_the_followers_of_their_topic() -> None:
    hub = EventHub()
    async with hub.follow("training:a") as a, hub.follow("training:b") as b:
        hub.dispatch("training:a", {"progress": 0.5})

        assert a.get_nowait() == {"progress": 0.5}
        assert b.empty()


async def test_a_follower_too_far_behind_is_asked_to_re_read() -> None:
    hub = EventHub()
    async with hub.follow("training:a") as notices:
        for step in range(FOLLOWER_BACKLOG + 5):
            hub.dispatch("training:a", {"step": step})

        drained = [notices.get_nowait() for _ in range(notices.qsize())]

    # The backlog was dropped for one re-read marker; what came after follows it.
    assert drained[0] is None
    assert drained[1:] == [
        {"step": step} for step in range(FOLLOWER_BACKLOG + 1, FOLLOWER_BACKLOG + 5)
    ]


async def test_resync_asks_every_follower_to_re_read() -> None:
    hub = EventHub()
    async with hub.follow("training:a") as a, hub.follow("generation:b") as b:
        hub.resync_all()

        assert a.get_nowait() is None
        assert b.get_nowait() is None


async def test_a_follower_that_left_gets_nothing() -> None:
    hub = EventHub()
    async with hub.follow("training:a") as notices:
        pass

    hub.dispatch("training:a", {"progress": 1.0})

    assert notices.empty()
