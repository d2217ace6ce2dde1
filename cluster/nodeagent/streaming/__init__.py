"""The node agent's streaming server: container logs, exec, attach and port-forward for the API server,
as the kubelet serves them on :10250.

The agent main runs it with `await streaming.serve(runtime, host, port, tls_context(crt, key), token)`."""

from .server import StreamingServer, serve, tls_context

__all__ = ["StreamingServer", "serve", "tls_context"]
