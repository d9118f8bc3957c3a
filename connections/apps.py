from django.apps import AppConfig


class ConnectionsConfig(AppConfig):
    name = "connections"
    verbose_name = "Intacct connections"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Register the tasks in every process (web, commands, workers): the services queue them
        # by name through connections.services.queue, without importing them.
        from connections import tasks  # noqa: F401
        from connections.views import pages  # noqa: F401  (its logout message receiver)
