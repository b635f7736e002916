"""A slow link to the broker, as to one far away: a TCP relay on 127.0.0.1
that delays what it carries by `latency` seconds each way, in order. Every
round trip of the worker's set-up then takes twice that, and the moments in
between (a channel open, its consumer not yet) last long enough for a signal
to land in them. The broker is the real one; the relay only carries bytes,
and closes one side when the other closes (a broker that stops, a worker
that exits)."""

import queue
import socket
import threading
import time

from brokers import LOOPBACK


class SlowLink:
    def __init__(self, host, port, latency):
        self.target, self.latency = (host, port), latency
        self._listener = socket.create_server((LOOPBACK, 0))
        self.port = self._listener.getsockname()[1]
        self._sockets = []
        threading.Thread(target=self._accept, daemon=True).start()

    def url(self, broker_url):
        """The broker's URL, through the link."""
        return broker_url.replace(f":{self.target[1]}/", f":{self.port}/", 1)

    def _accept(self):
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return  # closed
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()  # the broker is down: as a refused connection, a moment late
                continue
            upstream.settimeout(None)
            self._sockets += [client, upstream]
            for source, sink in ((client, upstream), (upstream, client)):
                chunks = queue.Queue()
                threading.Thread(target=self._read, args=(source, chunks), daemon=True).start()
                threading.Thread(target=self._write, args=(chunks, sink), daemon=True).start()

    def _read(self, source, chunks):
        while True:
            try:
                data = source.recv(65536)
            except OSError:
                data = b""
            chunks.put((time.monotonic() + self.latency, data))
            if not data:
                return

    def _write(self, chunks, sink):
        while True:
            due, data = chunks.get()
            time.sleep(max(0.0, due - time.monotonic()))
            try:
                if not data:
                    sink.shutdown(socket.SHUT_WR)
                    return
                sink.sendall(data)
            except OSError:
                return

    def close(self):
        self._listener.close()
        for each in self._sockets:
            try:
                each.close()
            except OSError:
                pass
