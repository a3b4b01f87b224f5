"""chat.layer_speedups copies channels-redis's scripts and replaces some of its private methods:
an upgrade that changes them must be read before it is trusted."""

import inspect
from importlib.metadata import version

from channels_redis.core import RedisChannelLayer

from chat import layer_speedups


def squeezed(text: str) -> str:
    return " ".join(text.split())


def test_the_replaced_channels_redis_methods_are_those_the_speedups_were_written_against() -> None:
    changed = layer_speedups.upstream_changes()
    assert not changed, (
        f"channels-redis {version('channels-redis')} is installed; chat/layer_speedups.py was written against "
        f"{layer_speedups.WRITTEN_AGAINST}, and these of its methods differ: {', '.join(changed)}. Read the new "
        "versions, bring PipelinedRedisChannelLayer in line, then record their digests in UPSTREAM_SOURCES."
    )


def test_the_copied_scripts_are_channels_redis_s_own() -> None:
    upstream = squeezed(inspect.getsource(RedisChannelLayer))
    for name in ("GROUP_SEND_SCRIPT", "RESTORE_BACKUP_SCRIPT"):
        assert squeezed(getattr(layer_speedups, name)) in upstream, (
            f"{name} in chat/layer_speedups.py is no longer channels-redis {version('channels-redis')}'s script"
        )


def test_a_changed_method_is_named() -> None:
    recorded = dict(layer_speedups.UPSTREAM_SOURCES)
    try:
        layer_speedups.UPSTREAM_SOURCES["group_send"] = "0" * 16
        assert layer_speedups.upstream_changes() == ["group_send"]
    finally:
        layer_speedups.UPSTREAM_SOURCES.clear()
        layer_speedups.UPSTREAM_SOURCES.update(recorded)
