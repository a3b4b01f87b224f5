"""Signing up: Django's own form, with the name rules of `accounts.names`."""

from django import forms
from django.contrib.auth.forms import UserCreationForm
from django.core.validators import MaxLengthValidator

from accounts import names
from accounts.identity import DISPLAY_NAME_MAX_LENGTH, holds_invisible_characters


class SignupForm(UserCreationForm):
    """A new account whose username is nobody else's by its looks: not reserved, not an existing account's.

    Django's form refuses a username that differs from an existing one only in
    case; this one also refuses lookalikes (``аnn``, with a Cyrillic а, once
    ``ann`` exists), as `accounts.names.name_key` tells names apart.

    A guest using the name online does not stop it: an account outranks a
    guest, whose next socket is refused with ``name_taken``.
    """

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        # A username is what the chat shows and what @name mentions: no longer than a display name.
        self.fields["username"].max_length = DISPLAY_NAME_MAX_LENGTH
        self.fields["username"].widget.attrs["maxlength"] = str(DISPLAY_NAME_MAX_LENGTH)
        self.fields["username"].validators.append(MaxLengthValidator(DISPLAY_NAME_MAX_LENGTH))
        self.fields[
            "username"
        ].help_text = (
            f"Up to {DISPLAY_NAME_MAX_LENGTH} letters, digits and @ . + - _ : what others see, and write as @name."
        )

    def clean_username(self) -> str | None:
        username = super().clean_username()  # None: Django refused it already
        if username and holds_invisible_characters(username):
            raise forms.ValidationError("A username can't hold invisible characters (such as a Hangul filler).")
        if username and names.is_made_up_name(username):
            raise forms.ValidationError(
                "Usernames like guest-1a2b3c4d are the names made up for guests; choose another."
            )
        if username and names.is_reserved_name(username):
            raise forms.ValidationError(f"{username!r} is reserved, or looks like a reserved name; choose another.")
        if username and names.is_registered_name(username):
            raise forms.ValidationError(f"{username!r} is taken, or looks like a name that is; choose another.")
        return username
