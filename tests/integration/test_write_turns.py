"""Small write transactions run at once on SQLite, and writers of several processes take turns
(store/db.py `write(quick=True)`, store/writer_turn.py):

- a quick write commits, runs its after-commit callbacks and flushes its scoped objects like any
  write, and rolls back whole on an error (both databases: on PostgreSQL it is an ordinary write);
- on SQLite, when another program holds the write lock, a quick write does not freeze the event
  loop until the busy timeout: it gives up its quick try and waits without blocking, then commits;
- a writer of another process waits for the turn and gets it the moment the holder lets go; a
  holder killed with SIGKILL lets go with its process; a wait that is cancelled or runs out of
  time leaves the turn free for the next writer.
"""

from __future__ import annotations

import asyncio
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from sendhouse.domain.times import utcnow
from sendhouse.store import kv
from sendhouse.store.db import after_commit
from sendhouse.store.writer_turn import WriterTurn

HOLDER = """
import asyncio, sys
from pathlib import Path
from sendhouse.store.writer_turn import WriterTurn
async def main():
    async with WriterTurn(Path(sys.argv[1]), 30).taken():
        print("taken", flush=True)
        sys.stdin.readline()
        print("letting go", flush=True)
asyncio.run(main())
"""


async def _text(db, key: str) -> str | None:
    async with db.read() as conn:
        return await kv.get_text(conn, key)


async def test_a_quick_write_commits_then_calls_back(container):
    db, seen = container.db, []
    async with db.write(quick=True) as conn:
        await kv.put_text(conn, "quick", "kept", utcnow())
        after_commit(lambda: seen.append("called back"))
        assert seen == []  # not before the commit
    assert seen == ["called back"]
    assert await _text(db, "quick") == "kept"


async def test_a_failed_quick_write_changes_nothing_and_calls_nobody(container):
    db, seen = container.db, []
    with pytest.raises(RuntimeError):
        async with db.write(quick=True) as conn:
            await kv.put_text(conn, "quick", "lost", utcnow())
            after_commit(lambda: seen.append("called back"))
            raise RuntimeError("the caller failed")
    assert seen == [] and await _text(db, "quick") is None


async def test_a_quick_write_waits_without_freezing_the_loop_while_another_program_holds_the_lock(
    db_kind, container
):
    if db_kind != "sqlite":
        pytest.skip("SQLite's one write lock")
    db, ticks = container.db, []
    outsider = sqlite3.connect(make_url(db.url).database, isolation_level=None)
    outsider.execute("BEGIN IMMEDIATE")

    async def write() -> None:
        async with db.write(quick=True) as conn:
            await kv.put_text(conn, "quick", "after the outsider", utcnow())

    async def tick() -> None:
        while True:
            ticks.append(time.monotonic())
            await asyncio.sleep(0.01)

    writing, ticking = asyncio.create_task(write()), asyncio.create_task(tick())
    await asyncio.sleep(1.0)
    assert not writing.done()  # still waiting for the lock
    outsider.rollback()
    outsider.close()
    await asyncio.wait_for(writing, 10)
    ticking.cancel()
    assert len(ticks) > 40  # the loop kept running while the write waited (a frozen loop: ~1 tick)
    assert await _text(db, "quick") == "after the outsider"
    async with db.write(quick=True) as conn:  # the quick connection that gave up still works
        await kv.put_text(conn, "quick", "again", utcnow())
    assert await _text(db, "quick") == "again"


def _holder(path: Path) -> subprocess.Popen:
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(path)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout.readline().strip() == "taken"
    return proc


async def _taken_within(turn: WriterTurn, seconds: float) -> bool:
    async def take() -> None:
        async with turn.taken():
            pass

    try:
        await asyncio.wait_for(take(), seconds)
        return True
    except TimeoutError:
        return False


async def test_a_writer_of_another_process_waits_for_the_turn_then_gets_it(tmp_path):
    path = tmp_path / "locks" / "writer.lock"
    holder = _holder(path)
    try:
        assert not await _taken_within(WriterTurn(path, 30), 0.5)  # held by the other process
        waiting = asyncio.create_task(_taken_within(WriterTurn(path, 30), 10))
        await asyncio.sleep(0.2)
        holder.stdin.write("go\n")
        holder.stdin.flush()
        assert holder.stdout.readline().strip() == "letting go"
        assert await waiting
    finally:
        holder.kill()
        holder.wait()


async def test_a_holder_killed_with_sigkill_lets_go_of_the_turn(tmp_path):
    path = tmp_path / "locks" / "writer.lock"
    holder = _holder(path)
    turn = WriterTurn(path, 30)
    assert not await _taken_within(turn, 0.3)
    holder.kill()
    holder.wait()
    assert await _taken_within(turn, 10)


async def test_a_cancelled_or_timed_out_wait_leaves_the_turn_free(tmp_path):
    path = tmp_path / "locks" / "writer.lock"
    holder = _holder(path)
    turn = WriterTurn(path, 0.3)
    try:
        assert not await _taken_within(turn, 0.2)  # cancelled while waiting on the file
        ran = []
        async with turn.taken():  # waited 0.3 s, then goes on without the turn (SQLite decides)
            ran.append(holder.poll() is None)
        assert ran == [True]
    finally:
        holder.kill()
        holder.wait()
    assert await _taken_within(WriterTurn(path, 30), 5)  # from another handle: nothing still holds it
    assert await _taken_within(turn, 5)
