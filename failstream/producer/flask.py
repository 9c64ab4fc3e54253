"""Flask extension: ``Failstream(app)`` or ``Failstream().init_app(app)``.

It is the WSGI middleware around ``app.wsgi_app``, with the route taken from
Flask's matched rule (``request.url_rule.rule``, e.g. ``/orders/<int:order_id>``)
while the request context is active: Flask 3 keeps no request object in the
WSGI environ, which left every failure of a plain WSGI wrapper at
``<unmatched>``. Flask itself is not imported here; this module only uses
the app it is given.

    from failstream.producer.flask import Failstream
    Failstream(app, settings=CaptureSettings())            # or, in an app factory:
    failstream = Failstream(before_send=scrub)      # at import
    failstream.init_app(app)                        # in create_app()
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from failstream.producer.wsgi import FailureCaptureWSGIMiddleware

if TYPE_CHECKING:
    from failstream.producer.capture import BeforeSend
    from failstream.producer.policy import CapturePolicy
    from failstream.producer.sink import KafkaSink
    from failstream.settings import CaptureSettings

EXTENSION_KEY = "failstream"


class Failstream:
    """Captures a Flask app's failed requests; ``settings`` default to the FAILSTREAM_* environment."""

    def __init__(
        self,
        app: Any = None,
        *,
        settings: CaptureSettings | None = None,
        sink: KafkaSink | None = None,
        policy: CapturePolicy | None = None,
        before_send: BeforeSend | None = None,
    ) -> None:
        self.settings = settings
        self.sink = sink
        self.policy = policy
        self.before_send = before_send
        self.middleware: FailureCaptureWSGIMiddleware | None = None
        if app is not None:
            self.init_app(app)

    def init_app(self, app: Any) -> None:
        """Wrap ``app.wsgi_app`` once; a second call for the same app changes nothing."""
        if EXTENSION_KEY in app.extensions:
            return
        settings = self.settings
        if settings is None:
            from failstream.settings import CaptureSettings

            settings = self.settings = CaptureSettings()
        self.middleware = FailureCaptureWSGIMiddleware(
            app.wsgi_app, settings=settings, sink=self.sink, policy=self.policy, before_send=self.before_send
        )
        app.wsgi_app = self.middleware
        app.extensions[EXTENSION_KEY] = self
