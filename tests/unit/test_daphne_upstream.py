"""chat.daphne_limits overrides methods of Daphne's WebSocket protocol and relies on autobahn's and
Twisted's: an upgrade that changes them must be read before it is trusted, and one that lacks them
must stop the server at start rather than serve without the limits."""

from importlib.metadata import version

import pytest
from daphne.ws_protocol import WebSocketFactory, WebSocketProtocol
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

import mysite.asgi  # noqa: F401 - installs the limits, as Daphne's import of it does
from chat import daphne_limits

LIMITS = {"max_unsent_bytes": 1, "control_frame_rate": 1.0, "control_frame_burst": 1}


def test_the_upstream_methods_are_those_the_limits_were_written_against() -> None:
    changed = daphne_limits.upstream_changes()
    installed = {name: version(name) for name in daphne_limits.WRITTEN_AGAINST}
    assert not changed, (
        f"{installed} are installed; chat/daphne_limits.py was written against {daphne_limits.WRITTEN_AGAINST}, "
        f"and these methods differ: {', '.join(changed)}. Read the new versions, bring LimitedWebSocketProtocol in "
        "line, then record their digests in OVERRIDDEN and RELIED_ON."
    )


def test_a_changed_method_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(daphne_limits.UPSTREAM_SOURCES, (WebSocketProtocol, "serverSend"), "0" * 16)
    assert daphne_limits.upstream_changes() == ["daphne.ws_protocol.WebSocketProtocol.serverSend"]


def test_importing_the_asgi_module_makes_daphne_build_the_limited_protocol() -> None:
    assert WebSocketFactory.protocol is daphne_limits.LimitedWebSocketProtocol
    assert daphne_limits.LimitedWebSocketProtocol.max_unsent_bytes == settings.CHAT_MAX_UNSENT_BYTES > 0
    assert daphne_limits.LimitedWebSocketProtocol.control_frame_rate == settings.CHAT_CONTROL_FRAME_RATE > 0
    assert daphne_limits.LimitedWebSocketProtocol.control_frame_burst == settings.CHAT_CONTROL_FRAME_BURST > 0


def test_a_daphne_without_a_method_it_overrides_stops_the_server_at_start(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delattr(WebSocketProtocol, "check_timeouts")
    with pytest.raises(ImproperlyConfigured, match="lack check_timeouts"):
        daphne_limits.install(**LIMITS)


def test_a_daphne_building_another_protocol_stops_the_server_at_start(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(WebSocketFactory, "protocol", type("SomeoneElses", (WebSocketProtocol,), {}))
    with pytest.raises(ImproperlyConfigured, match="WebSocketFactory.protocol as Daphne's own"):
        daphne_limits.install(**LIMITS)
