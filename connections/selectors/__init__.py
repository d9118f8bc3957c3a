"""Reads: what more than one view, task or command needs to know, each fact in one function.

- ``connections``: legal entities, their current attempt and verification runs, and where each
  stands in the guide (``entity_progress``).
- ``profiles``: the API Sync Profile: ready or waiting, and a new profile's default objects.
- ``reports``: a verification run read back as one typed report, for pages and commands.
- ``smartsync``: sync progress, run history, and a partial sync's watermark.

Writes are in :mod:`connections.services`.
"""
