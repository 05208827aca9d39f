from django.apps import AppConfig


class TokensConfig(AppConfig):
    name = "tokens"
    verbose_name = "Tokens"

    def ready(self) -> None:
        from tokens import receivers  # noqa: F401  (connects to accounts' signals)
