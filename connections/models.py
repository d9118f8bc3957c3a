"""Organizations, legal entities, connection attempts and sync runs (see docs/DESIGN.md)."""
