"""Logs, request ids, the access log and Prometheus metrics: what an operator sees of a running server.

`logs.configure(settings)` sets up the process's logging once, before the server starts. An app carries
one `Metrics` (its own registry) and one `RequestObserver` middleware, built by the app factory.
"""
