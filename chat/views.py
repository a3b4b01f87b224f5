"""The two pages: the lobby and a room."""

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from chat.forms import LobbyForm
from chat.groups import InvalidRoomName, clean_room_name
from chat.identity import GUEST_COOKIE, SESSION_KEY, display_name, new_guest_name


def current_display_name(request: HttpRequest) -> str:
    """This visitor's name, giving a guest a fresh one on the first visit (kept by `remember_guest_name`)."""
    return display_name(request.user, request.session, request.COOKIES) or new_guest_name()


def remember_guest_name(request: HttpRequest, response: HttpResponse, name: str) -> HttpResponse:
    """Keep a guest's made-up name in a cookie of its own, so that the page and its sockets agree on it.

    Not in the session: that would store a session row for every cookie-less
    request, a crawler's too. The session is saved once the guest chooses a name.
    """
    if (
        not request.user.is_authenticated
        and request.COOKIES.get(GUEST_COOKIE) != name
        and not request.session.get(SESSION_KEY)
    ):
        response.set_cookie(
            GUEST_COOKIE,
            name,
            max_age=settings.SESSION_COOKIE_AGE,
            secure=settings.SESSION_COOKIE_SECURE,
            httponly=True,
            samesite="Lax",
        )
    return response


def socket_settings(**extra: float) -> dict[str, float]:
    """What a page's socket code needs to know (read from the page with json_script)."""
    return {"heartbeat": settings.CHAT_CLIENT_HEARTBEAT, **extra}


def index(request: HttpRequest) -> HttpResponse:
    """The lobby: pick a room (and a name), then go to `/chat/<room>/`."""
    posted = request.method == "POST"
    name = current_display_name(request)
    form = LobbyForm(request.POST if posted else None, initial={"display_name": name})
    if request.user.is_authenticated:
        form.fields["display_name"].disabled = True
        form.fields["display_name"].help_text = "Logged-in users chat under their username."
    if posted and form.is_valid():
        # A guest keeping the name made for them has chosen nothing new: no session to store.
        if not request.user.is_authenticated and form.cleaned_data["display_name"] != name:
            request.session[SESSION_KEY] = form.cleaned_data["display_name"]
        return redirect("chat:room", room_name=form.cleaned_data["room_name"])
    context = {"form": form, "socket_settings": socket_settings()}
    return remember_guest_name(
        request, render(request, "chat/index.html", context, status=400 if posted else 200), name
    )


def room(request: HttpRequest, room_name: str) -> HttpResponse:
    """A room's page; the browser then opens `ws/chat/<room>/`."""
    try:
        canonical = clean_room_name(room_name)
    except InvalidRoomName as exc:
        return render(request, "chat/room_not_found.html", {"room_name": room_name, "reason": exc}, status=404)
    if canonical != room_name:
        return redirect("chat:room", room_name=canonical)
    name = current_display_name(request)
    context = {
        "room_name": canonical,
        "display_name": name,
        "max_message_length": settings.CHAT_MAX_MESSAGE_LENGTH,
        # The rate limit too, so that the page paces what it sends to stay within it.
        "socket_settings": socket_settings(rate=settings.CHAT_RATE_LIMIT, burst=settings.CHAT_RATE_BURST),
    }
    return remember_guest_name(request, render(request, "chat/room.html", context), name)
