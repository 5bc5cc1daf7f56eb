"""The record writer's bounded queue: order, the bound, waiting producers and the waiting consumer."""

from __future__ import annotations

import asyncio

import pytest

from api_connector.storage.record_queue import RecordQueue


async def test_items_leave_in_order_and_the_bound_refuses_without_queueing() -> None:
    queue: RecordQueue[int] = RecordQueue(3)
    assert [queue.put_nowait(i) for i in range(4)] == [True, True, True, False]
    assert queue.qsize() == 3
    assert queue.take(2) == [0, 1]
    queue.put_back([0, 1])
    assert queue.take(10) == [0, 1, 2]
    assert queue.take(10) == [] and queue.qsize() == 0


async def test_waiting_producers_all_get_in_as_room_is_made() -> None:
    queue: RecordQueue[int] = RecordQueue(2)
    queue.put_nowait(0)
    queue.put_nowait(1)
    producers = [asyncio.create_task(queue.put(i)) for i in range(2, 6)]
    await asyncio.sleep(0.01)
    assert not any(p.done() for p in producers) and queue.qsize() == 2
    taken: list[int] = []
    while len(taken) < 6:
        taken += queue.take(1)  # room for one at a time: every producer must still get in
        await asyncio.sleep(0)
    await asyncio.gather(*producers)
    assert sorted(taken) == list(range(6)) and taken[:2] == [0, 1]


async def test_a_cancelled_producer_leaves_the_others_waiting_for_room() -> None:
    queue: RecordQueue[str] = RecordQueue(1)
    queue.put_nowait("first")
    gone = asyncio.create_task(queue.put("gone"))
    kept = asyncio.create_task(queue.put("kept"))
    await asyncio.sleep(0.01)
    gone.cancel()
    with pytest.raises(asyncio.CancelledError):
        await gone
    assert queue.take(1) == ["first"]
    await asyncio.wait_for(kept, 1)
    assert queue.take(5) == ["kept"]


async def test_the_consumer_waits_for_an_item_and_can_be_cancelled() -> None:
    queue: RecordQueue[int] = RecordQueue(5)
    waiting = asyncio.create_task(queue.get())
    await asyncio.sleep(0.01)
    assert not waiting.done()
    queue.put_nowait(7)
    assert await asyncio.wait_for(waiting, 1) == 7
    cancelled = asyncio.create_task(queue.get())
    await asyncio.sleep(0.01)
    cancelled.cancel()
    with pytest.raises(asyncio.CancelledError):
        await cancelled
    assert queue.put_nowait(8)  # nobody waits now: the item simply stays
    assert await asyncio.wait_for(queue.get(), 1) == 8


async def test_a_get_makes_room_for_a_waiting_producer() -> None:
    queue: RecordQueue[int] = RecordQueue(1)
    queue.put_nowait(1)
    producer = asyncio.create_task(queue.put(2))
    await asyncio.sleep(0.01)
    assert await queue.get() == 1
    await asyncio.wait_for(producer, 1)
    assert queue.take(1) == [2]
