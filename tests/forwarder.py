"""A TCP forwarder for tests that can go silent: a network that stops passing packets, then passes them again.

Between a browser and a server: while `stall()` is in force, no byte goes either
way and no side is closed (no FIN, no RST), as when Wi-Fi drops or a laptop
sleeps; new connections are taken but carry nothing either. `resume()` lets the
bytes held meanwhile through, as TCP's retransmissions would once the network
is back.
"""

import socket
import threading

from pytest_channels_live import HOST, WebEndpoint

CHUNK = 65536


class SilentDropForwarder(WebEndpoint):
    """Listens on a free loopback port and forwards every connection to `target_port`."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.listener = socket.create_server((HOST, 0))
        self.port = self.listener.getsockname()[1]
        self.flowing = threading.Event()
        self.flowing.set()
        self.closed = False
        self.sockets: list[socket.socket] = []
        self.lock = threading.Lock()
        self.thread = threading.Thread(target=self.accept_loop, name="forwarder-accept", daemon=True)
        self.thread.start()

    def stall(self) -> None:
        """Stop passing bytes, both ways, on every connection, old and new; close nothing."""
        self.flowing.clear()

    def resume(self) -> None:
        self.flowing.set()

    def close(self) -> None:
        self.closed = True
        self.flowing.set()  # lets the pumps see `closed` and end
        self.listener.close()
        with self.lock:
            for sock in self.sockets:
                sock.close()

    def accept_loop(self) -> None:
        while not self.closed:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return  # closed
            try:
                server = socket.create_connection((HOST, self.target_port))
            except OSError:
                client.close()  # the server is down: as a refused connection would be
                continue
            with self.lock:
                self.sockets += [client, server]
            for source, sink in ((client, server), (server, client)):
                threading.Thread(target=self.pump, args=(source, sink), daemon=True).start()

    def pump(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while True:
                data = source.recv(CHUNK)
                # Held here while stalled: the kernel's buffers fill and the sender stalls too.
                self.flowing.wait()
                if self.closed:
                    return
                if not data:
                    sink.shutdown(socket.SHUT_WR)  # pass the close on, as the network would
                    return
                sink.sendall(data)
        except OSError:
            for sock in (source, sink):
                sock.close()
