"""The two pages: the lobby and a room."""

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from chat.forms import LobbyForm
from chat.groups import InvalidRoomName, clean_room_name
from chat.identity import SESSION_KEY, display_name, new_guest_name


def current_display_name(request: HttpRequest) -> str:
    """This visitor's name, giving a guest a fresh one on the first visit."""
    name = display_name(request.user, request.session)
    if name is None:
        name = request.session[SESSION_KEY] = new_guest_name()
    return name


def socket_settings(**extra: float) -> dict[str, float]:
    """What a page's socket code needs to know (read from the page with json_script)."""
    return {"heartbeat": settings.CHAT_CLIENT_HEARTBEAT, **extra}


def index(request: HttpRequest) -> HttpResponse:
    """The lobby: pick a room (and a name), then go to `/chat/<room>/`."""
    posted = request.method == "POST"
    form = LobbyForm(request.POST if posted else None, initial={"display_name": current_display_name(request)})
    if request.user.is_authenticated:
        form.fields["display_name"].disabled = True
        form.fields["display_name"].help_text = "Logged-in users chat under their username."
    if posted and form.is_valid():
        if not request.user.is_authenticated:
            request.session[SESSION_KEY] = form.cleaned_data["display_name"]
        return redirect("chat:room", room_name=form.cleaned_data["room_name"])
    context = {"form": form, "socket_settings": socket_settings()}
    return render(request, "chat/index.html", context, status=400 if posted else 200)


def room(request: HttpRequest, room_name: str) -> HttpResponse:
    """A room's page; the browser then opens `ws/chat/<room>/`."""
    try:
        canonical = clean_room_name(room_name)
    except InvalidRoomName as exc:
        return render(request, "chat/room_not_found.html", {"room_name": room_name, "reason": exc}, status=404)
    if canonical != room_name:
        return redirect("chat:room", room_name=canonical)
    context = {
        "room_name": canonical,
        "display_name": current_display_name(request),
        "max_message_length": settings.CHAT_MAX_MESSAGE_LENGTH,
        # The rate limit too, so that the page paces what it sends to stay within it.
        "socket_settings": socket_settings(rate=settings.CHAT_RATE_LIMIT, burst=settings.CHAT_RATE_BURST),
    }
    return render(request, "chat/room.html", context)
