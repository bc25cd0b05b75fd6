"""The sessionvault demo's flow in Flask: sign-in with Flask-Login, a devices page that signs
one device out, sign out everywhere, CSRF protection from Flask-WTF.

Run it from the repository's root with::

    flask --app bindings/python/examples/app.py run

then open http://localhost:5000 (browsers treat localhost as a secure context, so the
``__Host-session`` cookie with ``Secure`` works over plain HTTP there). Accounts: ``alice``
/ ``correct horse battery staple`` and ``bob`` / ``hunter2 hunter2 hunter2``.

The secret key is ``SECRET_KEY`` from the environment, or else a key generated on first
start into ``instance/secret.key`` (readable by its owner only; ``*.key`` is never
committed). Sessions live in the default store, a SQLite file in the instance folder.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from flask import Flask, flash, redirect, render_template, request, url_for
from flask_login import (
    LoginManager,
    UserMixin,
    current_user,
    login_required,
    login_user,
    logout_user,
)
from flask_wtf import FlaskForm
from flask_wtf.csrf import CSRFProtect
from werkzeug.security import check_password_hash, generate_password_hash
from wtforms import BooleanField, HiddenField, PasswordField, StringField
from wtforms.validators import DataRequired

from sessionvault import flask as sv
from sessionvault.flask import SessionVault

DEMO_ACCOUNTS = {
    "alice": "correct horse battery staple",
    "bob": "hunter2 hunter2 hunter2",
}


def load_or_create_secret(path: Path) -> str:
    """The key file's text, or a fresh 32-byte key written there for the owner only."""
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_hex(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(key + "\n")
    return key


class User(UserMixin):
    def __init__(self, name: str) -> None:
        self.id = name


class LoginForm(FlaskForm):
    username = StringField("Username", validators=[DataRequired()])
    password = PasswordField("Password", validators=[DataRequired()])
    remember = BooleanField("Remember me")


class RevokeForm(FlaskForm):
    handle = HiddenField(validators=[DataRequired()])


class ActionForm(FlaskForm):
    """A form with nothing but its CSRF token (sign out, sign out everywhere)."""


def create_app(config: dict | None = None) -> Flask:
    # SESSIONVAULT_EXAMPLE_INSTANCE moves the instance folder (key file, SQLite store).
    app = Flask(
        __name__,
        root_path=str(Path(__file__).resolve().parent),
        instance_path=os.environ.get("SESSIONVAULT_EXAMPLE_INSTANCE"),
    )
    app.config.update(
        REMEMBER_COOKIE_SECURE=True,
        REMEMBER_COOKIE_SAMESITE="Lax",
        SESSION_PROTECTION="basic",
    )
    app.config.update(config or {})
    if not app.config.get("SECRET_KEY"):
        app.config["SECRET_KEY"] = os.environ.get("SECRET_KEY") or load_or_create_secret(
            Path(app.instance_path) / "secret.key"
        )
    SessionVault(app)
    CSRFProtect(app)
    login_manager = LoginManager(app)
    login_manager.login_view = "login"
    hashes = {name: generate_password_hash(pw) for name, pw in DEMO_ACCOUNTS.items()}

    @login_manager.user_loader
    def load_user(user_id: str) -> User | None:
        return User(user_id) if user_id in hashes else None

    @app.get("/")
    def home():
        return render_template("home.html", action=ActionForm())

    @app.route("/login", methods=["GET", "POST"])
    def login():
        form = LoginForm()
        if form.validate_on_submit():
            stored = hashes.get(form.username.data)
            if stored and check_password_hash(stored, form.password.data):
                # SessionVault gives the session a new ID here: no code needed for it.
                login_user(User(form.username.data), remember=form.remember.data)
                flash(f"Signed in as {form.username.data}.")
                return redirect(url_for("devices"))
            flash("Wrong username or password.")
        return render_template("login.html", form=form)

    @app.post("/logout")
    @login_required
    def logout():
        if ActionForm().validate_on_submit():
            logout_user()
            flash("Signed out.")
        return redirect(url_for("home"))

    @app.get("/devices")
    @login_required
    def devices():
        return render_template(
            "devices.html",
            devices=sv.devices(),
            revoke=RevokeForm(),
            action=ActionForm(),
        )

    @app.post("/devices/revoke")
    @login_required
    def revoke():
        form = RevokeForm()
        if form.validate_on_submit():
            if sv.revoke_device(form.handle.data):
                flash("That device is signed out.")
            else:
                flash("No such device.")
        return redirect(url_for("devices"))

    @app.post("/devices/revoke-all")
    @login_required
    def revoke_all():
        if ActionForm().validate_on_submit():
            user_id = current_user.get_id()
            logout_user()
            ended = sv.revoke_all_for_user(user_id)
            flash(f"Signed out everywhere ({ended} other sessions ended).")
        return redirect(url_for("home"))

    @app.after_request
    def security_headers(response):
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers.setdefault("Content-Security-Policy", "default-src 'self'")
        return response

    return app


app = create_app()
