"""Serving a trained run: the REST app (app.py), micro-batching (batching.py), the runner
(server.py) and the web page (page.html)."""
