"""Threads of one process share the engine's runtime: each thread's store calls drive it in
turn while the others wait, so calls made at once from many threads all complete."""

from __future__ import annotations

import threading

import pytest
from flask import session

THREADS = 8
REQUESTS = 25


@pytest.mark.parametrize("store", ["redis", "sqlite"])
def test_threads_calling_at_once_each_keep_their_sessions(make_app, redis_url, store):
    url = redis_url + "/0" if store == "redis" else "sqlite:///threads.db"
    app = make_app(SESSIONVAULT_STORE=url)

    @app.get("/incr")
    def incr():
        session["n"] = session.get("n", 0) + 1
        return str(session["n"])

    start = threading.Barrier(THREADS)
    answers: dict[int, list[str]] = {}

    def client(i: int) -> None:
        c = app.test_client()
        start.wait(10)
        answers[i] = [c.get("/incr").get_data(as_text=True) for _ in range(REQUESTS)]

    threads = [threading.Thread(target=client, args=(i,)) for i in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not any(t.is_alive() for t in threads), "a thread never got its reply"
    expected = [str(n) for n in range(1, REQUESTS + 1)]
    assert answers == {i: expected for i in range(THREADS)}
