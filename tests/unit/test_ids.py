"""Object ids: time-ordered, and unique across the processes a supervisor forks."""

from __future__ import annotations

import multiprocessing

from sendhouse.domain.ids import is_object_id, new_id


def _ids_of_a_forked_child(queue) -> None:
    queue.put([new_id() for _ in range(1000)])


def test_ids_are_unique_and_ordered_within_a_process():
    ids = [new_id() for _ in range(10_000)]
    assert len(set(ids)) == len(ids) and all(is_object_id(i) for i in ids)
    assert [i[:8] for i in ids] == sorted(i[:8] for i in ids)


def test_forked_children_never_make_the_ids_their_parent_or_siblings_make():
    """`serve` imports everything, then forks its api and worker processes: every child must draw
    its own random part, or two children inserting at the same second collide."""
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    children = [context.Process(target=_ids_of_a_forked_child, args=(queue,)) for _ in range(3)]
    for child in children:
        child.start()
    made = [queue.get(timeout=30) for _ in children]
    for child in children:
        child.join(30)
    mine = [new_id() for _ in range(1000)]
    everyone = [*mine, *(i for ids in made for i in ids)]
    assert len(set(everyone)) == len(everyone)
    assert len({i[8:18] for i in everyone}) == 4  # one random part per process
