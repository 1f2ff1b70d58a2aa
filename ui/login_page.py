"""The `/login` page: a password field that logs the browser's session in with the current password."""

from __future__ import annotations

from fastapi.responses import RedirectResponse
from nicegui import Client, app, ui

from api.auth import LOGIN_PATH, SESSION_KEY, PasswordCheck, too_many


def login_page(passwords: PasswordCheck, client: Client) -> RedirectResponse | None:
    """A password field; on success the browser's session keeps the password's fingerprint (never the password)."""
    if passwords.logged_in():
        return RedirectResponse("/")

    def try_login() -> None:
        if wait := passwords.limiter.wait(client.ip):
            message.set_text(too_many(wait))
        elif passwords.check(client.ip, password.value or ""):
            app.storage.user[SESSION_KEY] = passwords.fingerprint
            app.storage.user.pop("authenticated", None)  # what sessions stored before fingerprints
            ui.navigate.to("/")
        else:
            password.value = ""
            wait = passwords.limiter.wait(client.ip)
            message.set_text(too_many(wait) if wait else "Wrong password.")

    ui.page_title("Rivulet: log in")
    with ui.card().classes("absolute-center items-stretch w-80"):
        ui.label("Rivulet").classes("text-h6")
        password = ui.input("Password", password=True, password_toggle_button=True).props("autofocus")
        password.on("keydown.enter", try_login)
        ui.button("Log in", on_click=try_login)
        message = ui.label().classes("text-negative").props("role=alert")
    return None


def register_login_page(passwords: PasswordCheck) -> None:
    """Serve the login page at `/login`."""

    @ui.page(LOGIN_PATH)
    def login(client: Client) -> RedirectResponse | None:
        return login_page(passwords, client)
