"""Logging in and out of the dashboard."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response

from bot.core.admin.accounts import LoginBusy, LoginThrottled, authenticate
from bot.web.security import current_viewer, log_in, log_out, login_redirect_target, require_csrf
from bot.web.templating import render

router = APIRouter()


@router.get("/login")
def login_form(request: Request, next: str = "/dashboard") -> Response:
    """The login form; a logged-in visitor goes straight on."""
    target = login_redirect_target(next)
    if current_viewer(request) is not None:
        return RedirectResponse(target, 303)
    return render(request, "login.html", next=target)


@router.post("/login", dependencies=[Depends(require_csrf)])
def login(request: Request, username: str = Form("", max_length=200), password: str = Form("", max_length=4096),
          next: str = Form("/dashboard", max_length=2000)) -> Response:
    """Check the password (Argon2, off the event loop); 401 when wrong, 429 after too many failures."""
    target = login_redirect_target(next)
    client = request.client.host if request.client else "unknown"
    try:
        account = authenticate(database=request.app.state.runtime.database, username=username, password=password,
                               client=client, policy=request.app.state.login_policy)
    except LoginThrottled as exc:
        return render(request, "login.html", status_code=429, headers={"Retry-After": str(exc.retry_after)},
                      next=target, username=username, error=exc.user_message())
    except LoginBusy as exc:
        return render(request, "login.html", status_code=503, headers={"Retry-After": "5"},
                      next=target, username=username, error=exc.user_message())
    if account is None:
        return render(request, "login.html", status_code=401, next=target, username=username,
                      error="Wrong username or password.")
    log_in(request, account)
    return RedirectResponse(target, 303)


@router.post("/logout", dependencies=[Depends(require_csrf)])
def logout(request: Request) -> Response:
    """End the session."""
    log_out(request)
    return RedirectResponse("/login", 303)
