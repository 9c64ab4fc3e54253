"""A Flask host for the drop-in test: ``python flask_host.py PORT`` in a venv with failstream and Flask."""

import sys

from flask import Flask, abort

from failstream.producer.flask import Failstream


def scrub(event: dict) -> dict:
    event["user_agent"] = "scrubbed"
    return event


app = Flask(__name__)
Failstream(app, before_send=scrub)  # settings from the FAILSTREAM_* environment


@app.get("/orders/<int:order_id>")
def order(order_id: int) -> str:
    if order_id == 0:
        raise RuntimeError("a host bug: Flask answers 500")
    abort(401)


@app.get("/busy")
def busy() -> str:
    abort(503)


@app.get("/healthz")
def healthz() -> str:
    return "ok"


if __name__ == "__main__":
    app.run(host="127.0.0.1", port=int(sys.argv[1]), threaded=True)
