"""What every page's header needs: who is looking at it."""

from django.http import HttpRequest

from accounts.identity import identify


def person(request: HttpRequest) -> dict:
    """The visitor as `accounts.identity.identify` sees them (None for a first visit; a page's view may say better)."""
    return {"person": identify(getattr(request, "user", None), getattr(request, "session", None), request.COOKIES)}
