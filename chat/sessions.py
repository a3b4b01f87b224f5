"""Sessions and users for sockets, without a wrapper around every frame sent."""

from channels.auth import AuthMiddleware
from channels.sessions import CookieMiddleware, InstanceSessionWrapper, SessionMiddleware


class SocketSessionMiddleware(SessionMiddleware):
    """Channels' `SessionMiddleware` for WebSockets: the same session in the scope, the server's own ``send``.

    Channels wraps ``send`` to save a changed session when an HTTP response
    starts; a socket sends no such message, so there the wrapper only costs a
    look at the session on every frame. A consumer that changes the session
    saves it itself, as Channels' docs ask of WebSocket consumers anyway.
    """

    async def __call__(self, scope: dict, receive: object, send: object) -> None:
        wrapper = InstanceSessionWrapper(scope, send)
        await wrapper.resolve_session()
        return await self.inner(wrapper.scope, receive, send)


def socket_auth_stack(inner: object) -> CookieMiddleware:
    """What Channels' `AuthMiddlewareStack` gives a socket (cookies, session, user), without the per-frame wrapper."""
    return CookieMiddleware(SocketSessionMiddleware(AuthMiddleware(inner)))
