"""The "Customer success" group: its members (and superusers) may open the console."""

from typing import Any

from django.db import migrations

GROUP = "Customer success"


def create_group(apps: Any, schema_editor: Any) -> None:
    apps.get_model("auth", "Group").objects.get_or_create(name=GROUP)


def delete_group(apps: Any, schema_editor: Any) -> None:
    apps.get_model("auth", "Group").objects.filter(name=GROUP).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("auth", "0012_alter_user_first_name_max_length"),
        ("connections", "0007_console"),
    ]

    operations = [migrations.RunPython(create_group, delete_group)]
