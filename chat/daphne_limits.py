"""Two limits Daphne's WebSocket protocol lacks: sockets that do not read, and frame floods.

Both costs arise below Django, in Daphne's protocol (autobahn on Twisted), where no
consumer can see them:

- **Unread bytes.** Twisted keeps what a socket cannot take yet in the process's memory,
  without limit. A client that never reads but sends now and then (which resets Daphne's
  keepalive ping) was never dropped: thirty of them in a busy room took a process from 81
  to 308 MiB in 36 s, kept after they left (`bench/daphne_limits.py`). Twisted tells a registered push producer when
  a socket's buffer fills (``pauseProducing``: the kernel's buffer is full and 64 KiB more
  wait) and when it has emptied (``resumeProducing``). Daphne's timeout check, every 2 s,
  notes how much had been written to a socket it finds full; once more than
  ``max_unsent_bytes`` has been written since without the buffer emptying once, the socket
  is dropped. What was written before that check (a catch-up of a thousand messages, sent
  at once) does not count, so a reader that takes it in at its own pace stays; a reader
  that falls that far behind its live room does not. A socket thus holds at most what it
  was sent at once and in the following two seconds, plus the limit.
- **Frames no consumer sees.** autobahn answers each ping frame with a pong itself, and
  puts the pieces of a fragmented message together, before Daphne or a consumer sees
  anything, so the rate limit never counts them: five sockets sending pings back to back
  held a process at full CPU and slowed another room's answers from 5 ms to 3.6 s, and
  five sending a message in 1-byte pieces, to 4.4 s. Each socket gets a token bucket for ping
  and pong frames and for every frame of a message after its first; past it, the socket is
  dropped at once, which also stops autobahn reading what it sent.

A dropped socket is closed without a close frame, as autobahn closes one that breaks the
protocol: a client that does not read would never read a close frame, and one that floods
would be read on while its close is awaited. The application gets ``websocket.disconnect``
(1006) and lets go of what the socket held; one warning line names the address.

`install()`, called by ``mysite/asgi.py`` (which Daphne imports before it starts serving),
makes Daphne's factory build `LimitedWebSocketProtocol`, a subclass of Daphne's protocol
that overrides seven methods, each calling the original. It fails at start if the
installed Daphne or autobahn lacks one of them, and `upstream_changes()` names the upstream
methods whose source differs from the versions in `WRITTEN_AGAINST` (a test fails on any,
so that an upgrade is read before it is trusted). The same works over TLS, where Daphne's
transport is Twisted's TLS protocol: it passes the producer down to the TCP socket.
"""

import hashlib
import inspect
import logging
from typing import Any

from autobahn.twisted.websocket import WebSocketAdapterProtocol
from autobahn.websocket.protocol import TrafficStats
from autobahn.websocket.protocol import WebSocketProtocol as AutobahnProtocol
from daphne.http_protocol import WebRequest
from daphne.ws_protocol import WebSocketFactory, WebSocketProtocol
from django.core.exceptions import ImproperlyConfigured
from twisted.internet.abstract import FileDescriptor
from twisted.internet.interfaces import IPushProducer
from twisted.internet.tcp import Connection
from twisted.protocols.tls import TLSMemoryBIOProtocol
from zope.interface import implementer

from chat import limits, protocol
from chat.limits import TokenBucket

logger = logging.getLogger(__name__)

WRITTEN_AGAINST = {"daphne": "4.2.3", "autobahn": "26.10.2", "twisted": "26.10.0"}

# The upstream methods this module overrides, each calling the original, with a digest of
# their source in the versions above.
OVERRIDDEN = {
    (WebSocketAdapterProtocol, "connectionMade"): "63ceb64088e44552",  # the transport is ready
    (WebSocketAdapterProtocol, "dataReceived"): "7997f762de218433",  # bytes read from the socket
    (WebSocketProtocol, "check_timeouts"): "0e2ee6816a93a598",  # Daphne calls it on each socket every 2 s
    (WebSocketProtocol, "serverSend"): "345f21330d2a18ce",  # each frame the application sends
    (AutobahnProtocol, "onPing"): "d283f6ebda586764",  # answers with a pong
    (AutobahnProtocol, "onPong"): "e75245df70f4224a",
    (AutobahnProtocol, "onMessageBegin"): "1c5cb3b3e3eb227b",
    (AutobahnProtocol, "onMessageFrameBegin"): "68c4eae4de95e1fb",  # each frame of a message
    (WebSocketProtocol, "onMessage"): "826cc86d0e2aeef0",  # hands a message to the consumer's queue
}
# And those it relies on: every ping and pong reaches onPing and onPong, every data frame
# onMessageFrameBegin (the first of a message after onMessageBegin); reading stops once the
# connection is dropped; sendData counts what it writes in trafficStats; Daphne's upgrade leaves
# its HTTP channel registered as the transport's producer (replaced here) and hands the transport
# over; Twisted pauses and resumes the producer as its buffer fills and empties, TLS passes the
# producer down to the TCP transport, and an aborted TCP transport writes nothing more.
RELIED_ON = {
    (AutobahnProtocol, "processData"): "25b9c1387a46ab25",
    (AutobahnProtocol, "onFrameBegin"): "9537027007767ae4",
    (AutobahnProtocol, "processControlFrame"): "e308aea98264899e",
    (AutobahnProtocol, "consumeData"): "aaa88196e762438f",
    (AutobahnProtocol, "dropConnection"): "149c74c9a251a7b1",
    (AutobahnProtocol, "sendData"): "5dcca425b048b07e",
    (WebSocketAdapterProtocol, "_closeConnection"): "17833f32dde140f0",
    (WebSocketAdapterProtocol, "unregisterProducer"): "a1724b9be5f78103",
    (WebRequest, "process"): "e9babd1c97ce710b",
    (FileDescriptor, "write"): "3e46c97fc173bc7e",
    (FileDescriptor, "doWrite"): "a986d7b1b1054e43",
    (FileDescriptor, "_maybePauseProducer"): "529bd8438e1a279f",
    (Connection, "abortConnection"): "c948f3ef21c1822c",
    (TLSMemoryBIOProtocol, "registerProducer"): "15968aeddd276cf2",
    (TLSMemoryBIOProtocol, "abortConnection"): "3b083442ea198088",
}
UPSTREAM_SOURCES = OVERRIDDEN | RELIED_ON


def source_digest(function: object) -> str:
    return hashlib.sha256(inspect.getsource(function).encode()).hexdigest()[:16]


def upstream_changes() -> list[str]:
    """The methods in `UPSTREAM_SOURCES` missing from the installed versions, or whose source differs."""
    return [
        f"{owner.__module__}.{owner.__name__}.{name}"
        for (owner, name), digest in UPSTREAM_SOURCES.items()
        if getattr(owner, name, None) is None or source_digest(getattr(owner, name)) != digest
    ]


@implementer(IPushProducer)
class SendBacklog:
    """What Twisted tells a socket's producer: whether the socket's write buffer is full.

    Twisted calls `pauseProducing` when the buffer holds more than its ``bufferSize``
    (64 KiB) beyond what the kernel took, and `resumeProducing` once it has emptied.
    ``counted_from`` is the number of bytes written to the socket when a check first
    found the buffer full; None while it is not full.
    """

    def __init__(self) -> None:
        self.full = False
        self.counted_from: int | None = None

    def pauseProducing(self) -> None:  # noqa: N802 - Twisted's interface
        self.full = True

    def resumeProducing(self) -> None:  # noqa: N802
        self.full = False
        self.counted_from = None

    def stopProducing(self) -> None:  # noqa: N802
        self.resumeProducing()


class LimitedWebSocketProtocol(WebSocketProtocol):
    """Daphne's WebSocket protocol, dropping sockets that do not read or that flood frames no consumer sees.

    The limits are class attributes, set by `install`; 0 switches one off.
    """

    max_unsent_bytes = 0
    control_frame_rate = 0.0
    control_frame_burst = 1
    message_rate = 0.0
    message_burst = 1

    def connectionMade(self) -> None:  # noqa: N802 - Twisted's interface
        super().connectionMade()
        self.control_frames = TokenBucket(self.control_frame_rate, self.control_frame_burst)
        self.messages = TokenBucket(self.message_rate, self.message_burst)
        self.message_frames = 0
        self.stalled_checks, self.waiting_before, self.written_before = 0, 0, 0
        self.reading_stopped = False
        self.flooding = False
        self.backlog = SendBacklog()
        if self.max_unsent_bytes > 0:
            # In place of Daphne's HTTP channel, which did the upgrade and ignores what it is told.
            self.transport.unregisterProducer()
            self.transport.registerProducer(self.backlog, True)

    # Unread bytes.

    def unsent_over_limit(self) -> bool:
        counted_from = self.backlog.counted_from
        # autobahn counts the bytes it writes to the socket once it is open.
        return (
            counted_from is not None
            and self.trafficStats.outgoingOctetsWireLevel - counted_from > self.max_unsent_bytes
        )

    def check_timeouts(self) -> None:
        super().check_timeouts()
        if self.backlog.full and self.backlog.counted_from is None:
            self.backlog.counted_from = self.trafficStats.outgoingOctetsWireLevel
        elif self.unsent_over_limit():
            self.drop(f"it left more than {self.max_unsent_bytes} bytes unread")
        else:
            self.check_stalled()

    def check_stalled(self) -> None:
        """Drop a socket holding more than the limit unsent that took none of it over two checks (4 s).

        The rule above counts what is sent after the buffer filled; a socket sent a long
        catch-up at once in a quiet room is sent nothing more, and would hold it all.
        A slow reader takes some of it between checks, and stays.
        """
        if self.max_unsent_bytes <= 0:
            return
        waiting, written = unsent_bytes(self.transport), self.trafficStats.outgoingOctetsWireLevel
        taken = (written - self.written_before) - (waiting - self.waiting_before)
        self.stalled_checks = self.stalled_checks + 1 if waiting > self.max_unsent_bytes and taken <= 0 else 0
        self.waiting_before, self.written_before = waiting, written
        if self.stalled_checks > 2:
            self.drop(f"it took none of the {waiting} bytes waiting for it")

    def serverSend(self, content: Any, binary: bool = False) -> None:  # noqa: N802 - Daphne's name
        # Also before each frame, so that the limit holds between two checks.
        if self.backlog.counted_from is not None and self.unsent_over_limit():
            self.drop(f"it left more than {self.max_unsent_bytes} bytes unread")
        super().serverSend(content, binary)  # raises autobahn's Disconnected once dropped, as for any closed socket

    # Frames no consumer sees.

    def onPing(self, payload: bytes) -> None:  # noqa: N802 - autobahn's interface
        if self.control_frames.take():
            super().onPing(payload)
        else:
            self.drop("it sent ping frames faster than allowed")

    def onPong(self, payload: bytes) -> None:  # noqa: N802
        if self.control_frames.take():
            super().onPong(payload)
        else:
            self.drop("it sent pong frames faster than allowed")

    def onMessageBegin(self, isBinary: bool) -> None:  # noqa: N802, N803
        if self.state == self.STATE_CLOSING and not self.reading_stopped:
            # The app closed the socket (a flooder, say) and it keeps sending: autobahn would read and
            # parse all of it until the closing handshake times out.
            self.stop_reading()
        elif not self.messages.take():
            self.flooding = True  # closed once this read's frames are parsed: autobahn is mid-frame now
        self.message_frames = 0
        super().onMessageBegin(isBinary)

    def stop_reading(self) -> None:
        """Parse nothing more this socket sends; the close frame goes out, and autobahn ends the connection
        when its closing handshake times out. What arrives meanwhile is read and thrown away unparsed:
        left unread, it would make the end a reset, and the client could lose the close frame that says
        why."""
        self.reading_stopped = True

    def dataReceived(self, data: bytes) -> None:  # noqa: N802 - Twisted's interface
        if not self.reading_stopped:
            super().dataReceived(data)
        if self.flooding and not self.reading_stopped and self.state == self.STATE_OPEN:
            self.close_for_flooding()

    def onMessage(self, payload: bytes, isBinary: bool) -> None:  # noqa: N802, N803 - autobahn's interface
        if not self.flooding:  # past the cap, nothing more is queued for the consumer
            super().onMessage(payload, isBinary)

    def close_for_flooding(self) -> None:
        """Say why and close with 4008, as the consumer does for a flood, before the rest is read and queued.

        A client sending back to back gets thousands of frames parsed and queued
        for the consumer before the consumer has seen the 31 after which it
        closes the socket itself; this cap is far above anything a page sends.
        """
        address = self.peer_address
        if limits.may_log_about(address):
            logger.warning("Closed a WebSocket from %s: it sent frames far faster than its rate.", address)
        detail = "You sent frames far faster than allowed; closing."
        self.sendMessage(protocol.encode(protocol.error(protocol.FLOODING, detail)).encode())
        self.sendClose(code=protocol.CLOSE_POLICY_VIOLATION, reason="flooding")
        self.stop_reading()

    def onMessageFrameBegin(self, length: int) -> None:  # noqa: N802
        self.message_frames += 1
        super().onMessageFrameBegin(length)
        if self.message_frames > 1 and not self.control_frames.take():
            self.drop("it sent a message in more pieces than allowed")

    @property
    def peer_address(self) -> str:
        return self.client_addr[0] if getattr(self, "client_addr", None) else "an unknown address"

    def drop(self, reason: str) -> None:
        """Close the connection at once, without a close frame; autobahn reads nothing more from it."""
        if self.state == self.STATE_CLOSED:
            return
        address = self.peer_address
        if limits.may_log_about(address):
            logger.warning("Dropped a WebSocket from %s: %s.", address, reason)
        self.wasClean = False
        self.wasNotCleanReason = reason
        self.dropConnection(abort=True)
        discard_unsent(self.transport)


def tcp_transport(transport: object) -> object:
    """The TCP transport that holds a socket's unsent bytes: over TLS, the one beneath."""
    return transport.transport if isinstance(transport, TLSMemoryBIOProtocol) else transport


def unsent_bytes(transport: object) -> int:
    """The bytes a transport holds that the kernel has not taken yet."""
    transport = tcp_transport(transport)
    if isinstance(transport, FileDescriptor):
        return len(transport.dataBuffer) - transport.offset + transport._tempDataLen
    return 0


def discard_unsent(transport: object) -> None:
    """Let go at once of the bytes an aborted transport still holds (Twisted keeps them until it is freed).

    Closed sockets leave reference cycles in Twisted, autobahn and Daphne, so a transport
    and its buffer go only at Python's next full garbage collection, which may be minutes
    away: thirty dropped readers kept about 14 MiB until then. Over TLS, the bytes wait in
    the TCP transport beneath.
    """
    transport = tcp_transport(transport)
    if isinstance(transport, FileDescriptor):
        transport.dataBuffer, transport.offset = b"", 0
        transport._tempDataBuffer, transport._tempDataLen = [], 0


def install(
    *,
    max_unsent_bytes: int,
    control_frame_rate: float,
    control_frame_burst: int,
    message_rate: float = 0.0,
    message_burst: int = 1,
) -> None:
    """Make Daphne build `LimitedWebSocketProtocol` for each WebSocket, with these limits (0: off)."""
    missing = [name for _, name in OVERRIDDEN if not hasattr(WebSocketProtocol, name)]
    if not hasattr(TrafficStats(), "outgoingOctetsWireLevel"):
        missing.append("TrafficStats.outgoingOctetsWireLevel")
    if WebSocketFactory.protocol not in (WebSocketProtocol, LimitedWebSocketProtocol):
        missing.append(f"WebSocketFactory.protocol as Daphne's own (it is {WebSocketFactory.protocol!r})")
    if missing:
        raise ImproperlyConfigured(
            f"chat/daphne_limits.py was written against {WRITTEN_AGAINST}, and the installed versions lack "
            f"{', '.join(missing)}. Read them and bring chat/daphne_limits.py in line."
        )
    changed = upstream_changes()
    if changed:
        logger.warning(
            "chat/daphne_limits.py was written against %s; these methods differ in the installed versions: %s.",
            WRITTEN_AGAINST,
            ", ".join(changed),
        )
    LimitedWebSocketProtocol.max_unsent_bytes = max_unsent_bytes
    LimitedWebSocketProtocol.control_frame_rate = control_frame_rate
    LimitedWebSocketProtocol.control_frame_burst = control_frame_burst
    LimitedWebSocketProtocol.message_rate = message_rate
    LimitedWebSocketProtocol.message_burst = message_burst
    WebSocketFactory.protocol = LimitedWebSocketProtocol
