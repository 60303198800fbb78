"""The one runner of Redis Lua scripts. A script's text sits in a `.lua` file beside the code that
uses it (`apps/<app>/lua/<name>.lua`, read once by `load`), and runs by its SHA (EVALSHA): redis-py
loads it on NOSCRIPT (a Redis that restarted, flushed its scripts or never saw this one) and sends it
again, on a Redis Cluster to every primary.

Every key of one call is passed in KEYS and shares one hash tag (`{<date_id>}`), so that on a Redis
Cluster the call goes to the node of that one slot (redis-py refuses keys of several slots).

After commit, a booking request owes Redis a few scripts (the seat map's bump, the seat counts'
delta, the admission controller's record) that need no reply. `run_soon` runs such a `Call` at once,
or, inside `one_round_trip()` (a gated view opens it for its request), queues it; the block's end
sends every queued script in one pipeline, before the response leaves. Each keeps its own failure
handling (`failed`), and nothing raises into the response.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from redis.client import Pipeline
from redis.cluster import RedisCluster
from redis.commands.core import AsyncScript, Script
from redis.exceptions import NoScriptError

from apps.common.redis import get_redis

logger = logging.getLogger(__name__)


def load(beside: str, name: str) -> str:
    """The text of `lua/<name>.lua` in the folder of the module file `beside` (its `__file__`)."""
    return (Path(beside).parent / "lua" / f"{name}.lua").read_text()


@cache
def registered(source: str) -> Script | AsyncScript:
    """The script object of `source` (its SHA computed once per process)."""
    return get_redis().register_script(source)


def run(source: str, keys: list[str], args: list[object]) -> Any:
    """Run a script by SHA (EVALSHA; loaded once on NOSCRIPT) on the current client."""
    return registered(source)(keys=keys, args=args, client=get_redis())


def run_in_round_trip(
    source: str,
    keys: list[str],
    args: list[object],
    *,
    before: Callable[[Pipeline], None] | None = None,
    after: Callable[[Pipeline], object] | None = None,
) -> tuple[list, Any]:
    """Run a script by SHA with the commands `before` queues ahead of it and `after` behind it, in one
    round trip: for keys outside the script's hash-tag slot, which the script itself may not touch
    in a Cluster. Returns (the replies of the `before` commands, the script's reply).

    A plain pipeline, not redis-py's script-in-pipeline, which asks SCRIPT EXISTS first on every
    execute (one more round trip). On NOSCRIPT (a Redis that restarted, flushed its scripts or never
    saw this one) the commands around the script have run all the same, so only the script is sent
    again, alone (redis-py loads it): a rate limit in `before` is never counted twice."""
    script = registered(source)
    redis = get_redis()
    if isinstance(redis, RedisCluster):
        # redis-py refuses EVALSHA inside a cluster pipeline: the commands before, the script, the
        # commands after, each its own request (a cluster pipeline goes to each key's node anyway).
        replies = _execute(redis, before) if before else []
        result = script(keys=keys, args=args, client=redis)
        if after:
            _execute(redis, after)
        return replies, result
    pipe = redis.pipeline(transaction=False)
    if before:
        before(pipe)
    ahead = len(pipe)
    pipe.evalsha(script.sha, len(keys), *keys, *args)
    if after:
        after(pipe)
    replies = pipe.execute(raise_on_error=False)
    if isinstance(replies[ahead], NoScriptError):
        replies[ahead] = script(keys=keys, args=args, client=redis)
    for reply in replies:
        if isinstance(reply, Exception):
            raise reply
    return replies[:ahead], replies[ahead]


def _execute(redis: RedisCluster, queue: Callable[[Pipeline], object]) -> list:
    pipe = redis.pipeline(transaction=False)
    queue(pipe)
    return pipe.execute()


# --- Scripts after commit, in one round trip per request --------------------------------------------


@dataclass(frozen=True)
class Call:
    """One script to run with its keys and arguments: what a function that is one script returns
    when its caller decides when (and in which round trip) it runs."""

    source: str
    keys: list[str]
    args: list[object]

    def run(self) -> Any:
        return run(self.source, self.keys, self.args)


@dataclass(frozen=True)
class _Queued:
    call: Call
    failed: Callable[[Exception], None]
    note: tuple[str, int] | None


# The scripts queued by the current `one_round_trip()` block; None outside one (they run at once).
_queued: ContextVar[list[_Queued] | None] = ContextVar("lua_queued_scripts", default=None)


def run_soon(call: Call, *, failed: Callable[[Exception], None], note: tuple[str, int] | None = None) -> None:
    """Run `call` now, or at the end of the current `one_round_trip()` block with the other scripts
    queued in it. Never raises: a failing script (or Redis) is handed to `failed`. `note`, a key and
    its expiry in seconds, is SET once the script ran and only then: the outbox's note that its fast
    path ran an effect. In the block's pipeline it travels right behind the script and is removed
    again if the script's reply is an error."""
    queued = _queued.get()
    if queued is None:
        _run_alone(_Queued(call, failed, note))
    else:
        queued.append(_Queued(call, failed, note))


@contextmanager
def one_round_trip() -> Iterator[None]:
    """Queue what `run_soon` is given inside the block and send it in one pipeline at the block's end,
    also when the block raises (a committed change still owes its scripts). The queue belongs to
    this block alone: nothing is left for the next request of the thread."""
    queued: list[_Queued] = []
    token = _queued.set(queued)
    try:
        yield
    finally:
        _queued.reset(token)
        if queued:
            _send(queued)


def _run_alone(item: _Queued) -> None:
    try:
        item.call.run()
    except Exception as exc:
        item.failed(exc)
        return
    if item.note:
        key, seconds = item.note
        try:
            get_redis().set(key, 1, ex=seconds)
        except Exception:
            logger.warning("could not set %s after its script ran", key, exc_info=True)


def _send(queued: list[_Queued]) -> None:
    """The queued scripts (and their notes) in one pipeline. Like `run_in_round_trip`, a plain
    pipeline: on NOSCRIPT only that script is sent again, alone (redis-py loads it); the other
    commands ran and are never sent twice. On a Redis Cluster, whose pipelines refuse EVALSHA, each
    script is a request of its own, as outside a block."""
    redis = get_redis()
    if isinstance(redis, RedisCluster):
        for item in queued:
            _run_alone(item)
        return
    try:
        pipe = redis.pipeline(transaction=False)
        for item in queued:
            call = item.call
            pipe.evalsha(registered(call.source).sha, len(call.keys), *call.keys, *call.args)
            if item.note:
                key, seconds = item.note
                pipe.set(key, 1, ex=seconds)
        replies = iter(pipe.execute(raise_on_error=False))
    except Exception as exc:  # Redis away: nothing is known to have run, no note is known to be set
        for item in queued:
            item.failed(exc)
        return
    for item in queued:
        reply, noted = next(replies), next(replies) if item.note else None
        if isinstance(reply, NoScriptError):
            try:
                item.call.run()
                reply = None
            except Exception as exc:
                reply = exc
        if isinstance(reply, Exception):
            item.failed(reply)
            if item.note:
                _unnote(redis, item.note[0])
        elif item.note and isinstance(noted, Exception):
            logger.warning("could not set %s after its script ran", item.note[0], exc_info=noted)


def _unnote(redis: Any, key: str) -> None:
    """Take back a note the pipeline set behind a script that failed."""
    try:
        redis.delete(key)
    except Exception:
        logger.warning("could not remove %s after its script failed", key, exc_info=True)
