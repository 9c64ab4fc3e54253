"""An aiosmtpd sink that keeps every message it accepts in a Maildir.

Tests and the demo read the Maildir (``read_messages``) to see exactly what
on-call would have received; nothing is relayed anywhere.
"""

from __future__ import annotations

import argparse
import asyncio
import mailbox
import signal
import sys
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from failstream.infra.process import DATA_DIR, ManagedProcess, port_open, say
from failstream.settings import Settings

MAILDIR = DATA_DIR / "smtp" / "maildir"
SMTP_SINK = ManagedProcess("smtp-sink")
LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1"}


class MaildirHandler:
    """aiosmtpd handler: store the message whole, answer 250."""

    def __init__(self, maildir: Path) -> None:
        maildir.parent.mkdir(parents=True, exist_ok=True)
        self.box = mailbox.Maildir(maildir, create=True)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.box.add(envelope.original_content or envelope.content)
        return "250 Message accepted for delivery"


def read_messages(maildir: Path = MAILDIR) -> list[EmailMessage]:
    """Every message in the sink, oldest first."""
    if not maildir.exists():
        return []
    box = mailbox.Maildir(maildir, create=False)
    found = []
    for key in box.keys():
        path = Path(maildir) / ("new" if (Path(maildir) / "new" / key).exists() else "cur") / key
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            continue
        found.append((path.stat().st_mtime, data))
    found.sort(key=lambda item: item[0])
    return [message_from_bytes(data, policy=policy.default) for _, data in found]  # type: ignore[misc]


async def serve(host: str, port: int, maildir: Path) -> None:
    from aiosmtpd.controller import Controller

    controller = Controller(MaildirHandler(maildir), hostname=host, port=port)
    controller.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    print(f"smtp sink on {host}:{port}, messages in {maildir}", flush=True)
    await stop.wait()
    controller.stop()


def up(settings: Settings) -> str:
    host, port = settings.smtp_host, settings.smtp_port
    if host not in LOCAL_HOSTS:
        return f"smtp: using {host}:{port} (remote, not started here)"
    if SMTP_SINK.pid() is None and port_open(host, port):
        return f"smtp already answering on {host}:{port} (not started by failstream)"
    if SMTP_SINK.pid() is None:
        say(f"starting SMTP sink on {host}:{port}")
        SMTP_SINK.start(
            [
                sys.executable,
                "-m",
                "failstream.infra.smtp_sink",
                "--host",
                host,
                "--port",
                str(port),
                "--maildir",
                str(MAILDIR),
            ]
        )
    SMTP_SINK.wait_ready(lambda: port_open(host, port), timeout_s=20)
    return f"smtp sink up on {host}:{port}, Maildir {MAILDIR} (pid {SMTP_SINK.pid()})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=1025)
    parser.add_argument("--maildir", type=Path, default=MAILDIR)
    args = parser.parse_args()
    asyncio.run(serve(args.host, args.port, args.maildir))


if __name__ == "__main__":
    main()
