"""A TLS-terminating loopback proxy: https://127.0.0.1:PORT in front of a plain HTTP server.

Storage software (scitokens-cpp, the scitokens library) fetches an issuer's discovery document
and JWKS over HTTPS only, while the pytest-django live server speaks plain HTTP. This proxy
accepts TLS with a certificate from the throwaway CA (tests/harness/tls.py) and copies bytes to
and from the upstream port, nothing more: Gatehouse sees an ordinary HTTP request.
"""

from __future__ import annotations

import selectors
import socket
import ssl
import threading


class TlsTerminatingProxy:
    def __init__(self, *, upstream_port: int, context: ssl.SSLContext) -> None:
        self.upstream_port = upstream_port
        self._context = context
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.2)
        self._stopping = threading.Event()
        self._threads: set[threading.Thread] = set()
        self._lock = threading.Lock()
        self._acceptor = threading.Thread(target=self._accept_loop, daemon=True)
        self.connections = 0

    @property
    def port(self) -> int:
        return self._listener.getsockname()[1]

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    def start(self) -> TlsTerminatingProxy:
        self._acceptor.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        self._acceptor.join(timeout=5)
        self._listener.close()
        with self._lock:
            threads = list(self._threads)
        for thread in threads:
            thread.join(timeout=5)

    def __enter__(self) -> TlsTerminatingProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _accept_loop(self) -> None:
        while not self._stopping.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            thread = threading.Thread(target=self._serve, args=(client,), daemon=True)
            with self._lock:
                self._threads.add(thread)
                self.connections += 1
            thread.start()

    def _serve(self, client: socket.socket) -> None:
        try:
            client.settimeout(10)
            with (
                self._context.wrap_socket(client, server_side=True) as secure,
                socket.create_connection(("127.0.0.1", self.upstream_port), timeout=10) as up,
            ):
                self._pump(secure, up)
        except (OSError, ssl.SSLError):
            pass  # a client that gives up or does not trust the CA: its own error to report
        finally:
            client.close()
            with self._lock:
                self._threads.discard(threading.current_thread())

    def _pump(self, secure: ssl.SSLSocket, up: socket.socket) -> None:
        secure.setblocking(False)
        up.setblocking(False)
        with selectors.DefaultSelector() as selector:
            selector.register(secure, selectors.EVENT_READ, up)
            selector.register(up, selectors.EVENT_READ, secure)
            while not self._stopping.is_set():
                # Bytes TLS has already decrypted are not visible to select().
                ready = [(secure, up)] if secure.pending() else []
                if not ready:
                    ready = [(key.fileobj, key.data) for key, _ in selector.select(0.2)]
                for source, target in ready:
                    try:
                        data = source.recv(65536)
                    except (ssl.SSLWantReadError, BlockingIOError):
                        continue
                    if not data:
                        return
                    _send_all(target, data)


def _send_all(target: socket.socket, data: bytes) -> None:
    target.settimeout(10)
    try:
        target.sendall(data)
    finally:
        target.setblocking(False)
