from django.apps import AppConfig


class AccountsConfig(AppConfig):
    """Who someone is: accounts (sign up, log in, log out) and the rules for the names people chat under."""

    name = "accounts"
