"""Signing up; logging in and out are Django's own views (accounts/urls.py)."""

from django.conf import settings
from django.contrib.auth import login
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme

from accounts.forms import SignupForm
from chat import limits
from chat.client_address import http_client_address


def signup(request: HttpRequest) -> HttpResponse:
    """Make an account (Django's password validators and the name rules apply), log it in, go where they were going."""
    if request.user.is_authenticated:
        return redirect(_next_page(request))  # signed in already: nothing to sign up for
    form = SignupForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        if not _may_sign_up(request):
            return render(request, "accounts/signup_limit.html", {"limit": settings.CHAT_SIGNUPS_PER_IP}, status=429)
        user = form.save()
        login(request, user, backend="django.contrib.auth.backends.ModelBackend")
        return redirect(_next_page(request))
    return render(request, "accounts/signup.html", {"form": form}, status=400 if request.method == "POST" else 200)


def _may_sign_up(request: HttpRequest) -> bool:
    """Take one of the client address's signups for the hour (``CHAT_SIGNUPS_PER_IP``); False when none is left."""
    limit = settings.CHAT_SIGNUPS_PER_IP
    if not limit:
        return True
    address = http_client_address(request) or "unknown"
    return limits.signups.bucket(address, limit / 3600, limit).take()


def _next_page(request: HttpRequest) -> str:
    wanted = request.POST.get("next") or request.GET.get("next") or ""
    if url_has_allowed_host_and_scheme(wanted, {request.get_host()}, require_https=request.is_secure()):
        return wanted
    return "/chat/"
