"""The "Moderators" group, holding the `moderate` permission and the audit's view permission
(issue 15). Permissions are otherwise created after all migrations (post_migrate), so the two are
made here, as that signal would make them."""

from django.db import migrations

GROUP = "Moderators"
PERMISSIONS = [
    ("moderate", "Can take moderation actions on live rooms"),
    ("view_moderationaction", "Can view moderation action"),
]


def create_group(apps, schema_editor):
    ContentType = apps.get_model("contenttypes", "ContentType")
    Permission = apps.get_model("auth", "Permission")
    Group = apps.get_model("auth", "Group")
    content_type, _ = ContentType.objects.get_or_create(
        app_label="moderation", model="moderationaction"
    )
    group, _ = Group.objects.get_or_create(name=GROUP)
    for codename, name in PERMISSIONS:
        permission, _ = Permission.objects.get_or_create(
            content_type=content_type, codename=codename, defaults={"name": name}
        )
        group.permissions.add(permission)


def remove_group(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name=GROUP).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("moderation", "0001_initial"),
        ("auth", "0001_initial"),
        ("contenttypes", "0001_initial"),
    ]

    operations = [migrations.RunPython(create_group, remove_group)]
