# Sourced by scripts/flask-suite.sh and scripts/bench/flask-app.sh: a venv of their own with
# pinned packages, and sessionvault built into it from bindings/python once that package
# exists. Set FLASK_HARNESS_PYTHON to use an interpreter that already has sessionvault (the one
# scripts/test.sh builds it into, say): the requirements are installed into it, nothing is built.

# sv_harness_venv VENV REQUIREMENTS: makes VENV (Debian's python3 first, as scripts/lib/
# python-venv.sh does) and installs REQUIREMENTS when they changed; exports HARNESS_PYTHON.
sv_harness_venv() {
    local venv=$1 req=$2
    if [ -n "${FLASK_HARNESS_PYTHON:-}" ]; then
        "$FLASK_HARNESS_PYTHON" -m pip install --quiet --disable-pip-version-check -r "$req"
        export HARNESS_PYTHON=$FLASK_HARNESS_PYTHON HARNESS_OWN_VENV=0
        return 0
    fi
    local stamp=$venv/.requirements.sha256 want
    # The file and the Flask pins it includes.
    want=$(cat "$req" "$(dirname "$req")"/$(sed -n 's/^-r //p' "$req") | sha256sum | cut -d' ' -f1)
    export HARNESS_PYTHON=$venv/bin/python HARNESS_OWN_VENV=1
    if [ -x "$HARNESS_PYTHON" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
        return 0
    fi
    local base=/usr/bin/python3
    [ -x "$base" ] || base=$(command -v python3)
    echo "==> creating $venv" >&2
    rm -rf "$venv"
    "$base" -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$req" >&2
    echo "$want" > "$stamp"
}

# sv_harness_sessionvault ROOT: returns 0 when `import sessionvault.flask` works in
# $HARNESS_PYTHON. In the harness's own venv it first builds ROOT/bindings/python into it when
# that package exists and its sources (or the core's: tracked files and changes, untracked
# files' names) changed since the last build. Otherwise
# prints why on one line and returns 1. A failed build is an error, not a skip.
sv_harness_sessionvault() {
    local root=$1 pkg=$1/bindings/python
    if [ "${HARNESS_OWN_VENV:-1}" = 1 ] && [ -f "$pkg/pyproject.toml" ]; then
        local venv stamp want
        venv=$(dirname "$(dirname "$HARNESS_PYTHON")")
        stamp=$venv/.sessionvault.sha256
        # Outside a git checkout the stamp is empty, and the package is built every time.
        want=$(cd "$root" && { git ls-files -s -- bindings/python crates Cargo.toml Cargo.lock
                               git ls-files -o --exclude-standard -- bindings/python crates
                               git diff HEAD -- bindings/python crates Cargo.toml Cargo.lock || true
                             } 2>/dev/null | sha256sum | cut -d' ' -f1)
        [ "$want" != "$(printf '' | sha256sum | cut -d' ' -f1)" ] || want=unknown-$RANDOM
        if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
            echo "==> building sessionvault from bindings/python into $venv" >&2
            "$HARNESS_PYTHON" -m pip uninstall --quiet --yes sessionvault >/dev/null 2>&1 || true
            if ! "$HARNESS_PYTHON" -m pip install --quiet --disable-pip-version-check "$pkg" >&2; then
                echo "error: pip install ./bindings/python failed" >&2
                exit 1
            fi
            echo "$want" > "$stamp"
        fi
    fi
    local why
    if ! why=$("$HARNESS_PYTHON" -c 'import sessionvault.flask' 2>&1); then
        echo "sessionvault: skipped: sessionvault.flask is not importable ($(echo "$why" | tail -n 1))"
        return 1
    fi
}
