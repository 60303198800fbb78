"""The one runner of Redis Lua scripts. A script's text sits in a `.lua` file beside the code that
uses it (`apps/<app>/lua/<name>.lua`, read once by `load`), and runs by its SHA (EVALSHA): redis-py
loads it on NOSCRIPT (a Redis that restarted, flushed its scripts or never saw this one) and sends it
again, on a Redis Cluster to every primary.

Every key of one call is passed in KEYS and shares one hash tag (`{<date_id>}`), so that on a Redis
Cluster the call goes to the node of that one slot (redis-py refuses keys of several slots).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

from redis.client import Pipeline
from redis.cluster import RedisCluster
from redis.commands.core import AsyncScript, Script
from redis.exceptions import NoScriptError

from apps.common.redis import get_redis


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
