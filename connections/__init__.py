"""The Django side of the Sage Intacct connection: models, views, services and tasks."""
