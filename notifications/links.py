"""Where a notification may lead: nowhere, a path of this site, or an http(s) URL."""

from django.core.exceptions import ValidationError
from django.core.validators import URLValidator

LINK_MAX_LENGTH = 500

_http_url = URLValidator(schemes=["http", "https"])


def clean_link(link: object) -> str:
    """The link as stored (``""`` for none), or raise `ValueError` saying why it can't be one.

    Anything but a path of this site (``/chat/physics/``) or an http(s) URL is refused: a
    ``javascript:`` link, a ``//host`` path that browsers read as another site, white space or
    backslashes anywhere (browsers read ``/\\host`` as ``//host`` too).
    """
    if link is None or link == "":
        return ""
    if not isinstance(link, str):
        raise ValueError('The "link" field must be a string.')
    if len(link) > LINK_MAX_LENGTH:
        raise ValueError(f"The link is longer than {LINK_MAX_LENGTH} characters.")
    if link != "".join(link.split()) or not link.isprintable() or "\\" in link:
        raise ValueError("The link can't hold spaces, backslashes or control characters.")
    if link.startswith("/") and not link.startswith("//"):
        return link
    try:
        _http_url(link)
    except ValidationError:
        raise ValueError("The link must be a path of this site (starting with one /) or an http(s) URL.") from None
    return link


def validate_link(link: str) -> None:
    """`clean_link` as a model field's validator, so that a link typed in the admin follows the same rules."""
    try:
        clean_link(link)
    except ValueError as exc:
        raise ValidationError(str(exc)) from None
