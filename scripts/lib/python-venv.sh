# Sourced by scripts/test.sh and the benchmark scripts: makes sure .venv exists with the pinned
# Flask, and exports SESSIONVAULT_FLASK_PYTHON. Prefers Debian's python3 (/usr/bin/python3), a
# faster build than some others found first on PATH, which matters for baselines.

sv_python_venv() {
    local root=$1 venv=$1/.venv req=$1/scripts/requirements-flask.txt
    local stamp=$venv/.requirements.sha256
    local want
    want=$(sha256sum "$req" | cut -d' ' -f1)
    if [ -x "$venv/bin/python" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
        export SESSIONVAULT_FLASK_PYTHON=$venv/bin/python
        return 0
    fi
    local base=/usr/bin/python3
    [ -x "$base" ] || base=$(command -v python3 || true)
    if [ -z "$base" ]; then
        echo "error: python3 is needed for the Flask interop tests (apt-get install python3)" >&2
        return 1
    fi
    if ! "$base" -c 'import ensurepip, venv' 2>/dev/null; then
        if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
            echo "==> installing python3-venv"
            apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
        else
            echo "error: $base cannot create virtual environments; install python3-venv" >&2
            return 1
        fi
    fi
    echo "==> creating $venv with pinned Flask"
    rm -rf "$venv"
    "$base" -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$req"
    echo "$want" > "$stamp"
    export SESSIONVAULT_FLASK_PYTHON=$venv/bin/python
}

# Builds the extension in bindings/python and installs it into the venv (editable: the pure
# Python files are used from the tree). A debug build: it shares the dependencies that
# `cargo test` built, so it adds seconds, not the minutes of a release build; the wheel that
# `pip install ./bindings/python` builds is a release one.
sv_python_extension() {
    local root=$1
    VIRTUAL_ENV=$root/.venv PATH=$root/.venv/bin:$PATH \
        "$root/.venv/bin/maturin" develop --quiet --locked -m "$root/bindings/python/Cargo.toml"
}
