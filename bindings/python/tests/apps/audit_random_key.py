"""A misconfigured app for `flask sessionvault audit`: its key is generated at import, so
every restart and every worker has another one."""

import secrets

from flask import Flask

from sessionvault.flask import SessionVault

app = Flask(__name__)
app.config["SECRET_KEY"] = secrets.token_hex(32)
app.config["SESSIONVAULT_STORE"] = "memory"
SessionVault(app)
