"""Business logic, callable alike from views, tasks and management commands."""
