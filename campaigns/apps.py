from django.apps import AppConfig


class CampaignsConfig(AppConfig):
    name = "campaigns"
    verbose_name = "Campaigns and memberships"

    def ready(self) -> None:
        from campaigns import receivers  # noqa: F401  (connects to accounts' signals)
