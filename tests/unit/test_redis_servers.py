"""REDIS_URL with several servers, REDIS_SENTINELS: what the settings make of them, and where keys go."""

import pytest
from channels_redis.core import RedisChannelLayer
from django.core.exceptions import ImproperlyConfigured

from chat.layers import describe_server
from chat.redis_servers import server_index
from mysite.settings import redis_server_list


def test_several_urls_are_shards_in_the_order_written() -> None:
    assert redis_server_list(["redis://a:6379/0", "redis://b:6379/0"], [], []) == [
        {"address": "redis://a:6379/0"},
        {"address": "redis://b:6379/0"},
    ]


def test_sentinels_follow_one_primary_per_name() -> None:
    assert redis_server_list([], ["10.0.0.1:26379", "[::1]:26380"], ["chat-a", "chat-b"]) == [
        {"sentinels": [("10.0.0.1", 26379), ("::1", 26380)], "master_name": "chat-a"},
        {"sentinels": [("10.0.0.1", 26379), ("::1", 26380)], "master_name": "chat-b"},
    ]


@pytest.mark.parametrize(
    ("urls", "sentinels", "masters", "says"),
    [
        (["redis://a/0"], ["s:26379"], ["m"], "either REDIS_URL or REDIS_SENTINELS"),
        ([], ["s:26379"], [], "go together"),
        ([], [], ["m"], "go together"),
        ([], ["s"], ["m"], "host:port"),
        ([], ["s:0"], ["m"], "host:port"),
        ([], ["s:port"], ["m"], "host:port"),
        (["a:6379"], [], [], "redis://host, rediss://host or unix:///path"),
        (["redis:/127.0.0.1:6379"], [], [], "redis://host"),
        (["redis://[::1"], [], [], "can't be read"),
        (["redis://127.0.0.1:99999/0"], [], [], "can't be read"),
        ([], ["::1"], ["m"], "host:port"),
        ([], ["127.0.0.1:2\u00b2"], ["m"], "host:port"),
        (["redis://a/0", "redis://a/0"], [], [], "names one server twice"),
        ([], ["s:26379"], ["m", "m"], "names one primary twice"),
    ],
)
def test_what_cannot_work_is_refused_with_what_to_write(
    urls: list[str], sentinels: list[str], masters: list[str], says: str
) -> None:
    with pytest.raises(ImproperlyConfigured, match=says):
        redis_server_list(urls, sentinels, masters)


@pytest.mark.parametrize("count", [1, 2, 3, 5])
def test_this_project_places_names_as_channels_redis_places_groups(count: int) -> None:
    layer = RedisChannelLayer(hosts=[{"address": f"redis://shard-{n}:6379/0"} for n in range(count)])
    names = [f"chat_room-{n}" for n in range(200)]
    assert [server_index(name, count) for name in names] == [layer.consistent_hash(name) for name in names]


@pytest.mark.parametrize(
    ("server", "logged"),
    [
        ({"address": "redis://:s3cret@10.0.0.7:6379/0"}, "redis://10.0.0.7:6379/0"),
        ({"address": "rediss://user:pa%2Css@cache.example.org:6380/2"}, "rediss://cache.example.org:6380/2"),
        ({"sentinels": [("10.0.0.7", 26379), ("::1", 26380)], "master_name": "chat"}, "primary 'chat' by Sentinel"),
    ],
)
def test_the_start_up_line_names_each_server_without_its_password(server: dict, logged: str) -> None:
    described = describe_server(server)
    assert described.startswith(logged)
    assert "s3cret" not in described
    assert "pa%2Css" not in described
