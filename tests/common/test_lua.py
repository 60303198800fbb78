"""The one Lua runner: scripts read from the .lua files beside their code, run by SHA, loaded again when
Redis forgot them, alone or with other commands in one round trip."""

from pathlib import Path

import pytest

from apps.common import lua
from apps.common.redis import get_redis, redis_key
from apps.concerts import seat_counts

pytestmark = pytest.mark.django_db

ECHO_SUM = "redis.call('INCRBY', KEYS[1], ARGV[1]) return redis.call('GET', KEYS[1])"


def forget(source: str) -> None:
    """What a Redis restart does to a registered script, without flushing the shared server's."""
    lua.registered(source).sha = "0" * 40


def test_a_script_is_read_from_the_lua_folder_beside_its_module():
    text = lua.load(seat_counts.__file__, "seat_counts_apply")
    assert text == (Path(seat_counts.__file__).parent / "lua" / "seat_counts_apply.lua").read_text()
    assert "HINCRBY" in text


def test_a_script_redis_forgot_is_loaded_again():
    key = redis_key("test", "{lua}", "sum")
    forget(ECHO_SUM)
    assert lua.run(ECHO_SUM, [key], [2]) == "2"
    assert lua.registered(ECHO_SUM).sha != "0" * 40  # loaded under its real SHA
    assert lua.run(ECHO_SUM, [key], [3]) == "5"


def test_in_a_round_trip_a_forgotten_script_runs_again_alone():
    key, counted = redis_key("test", "{lua}", "sum"), redis_key("test", "{lua}", "before")
    forget(ECHO_SUM)
    before, result = lua.run_in_round_trip(
        ECHO_SUM, [key], [4], before=lambda pipe: pipe.incr(counted), after=lambda pipe: pipe.expire(counted, 60)
    )
    assert (before, result) == ([1], "4")
    assert get_redis().get(counted) == "1"  # the commands around the script ran once
    assert 0 < get_redis().ttl(counted) <= 60
