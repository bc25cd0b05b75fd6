"""A correctly configured app for `flask sessionvault audit`: the key comes from the
environment, the same in every process."""

import os

from flask import Flask

from sessionvault.flask import SessionVault

app = Flask(__name__)
app.config["SECRET_KEY"] = os.environ["AUDIT_APP_SECRET_KEY"]
app.config["SESSIONVAULT_STORE"] = "memory"
SessionVault(app)
