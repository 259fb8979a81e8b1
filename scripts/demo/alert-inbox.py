#!/usr/bin/python3
"""The demo's office inbox: a real SMTP server (aiosmtpd) and a webhook receiver on loopback.

The demo agents send their alerts here, as they would to the office's mail server and to ntfy.
Every mail and every webhook is saved under INBOX (one file each) and announced on stdout, so
whoever runs the demo sees an alert arrive when a box goes silent, and its recovery.

    alert-inbox.py INBOX SMTP_PORT WEBHOOK_PORT
"""

import email
import email.header
import email.policy
import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from aiosmtpd.controller import Controller

inbox = Path(sys.argv[1])
smtp_port = int(sys.argv[2])
webhook_port = int(sys.argv[3])
inbox.mkdir(parents=True, exist_ok=True)
count = 0
lock = threading.Lock()


def save(kind: str, body: bytes, summary: str) -> None:
    global count
    with lock:
        count += 1
        name = f"{count:04d}-{kind}.{'eml' if kind == 'mail' else 'txt'}"
        (inbox / name).write_bytes(body)
    print(f"   [{time.strftime('%H:%M:%S')}] {kind:7} {summary}   ({inbox / name})", flush=True)


class Mail:
    async def handle_DATA(self, server, session, envelope):
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        save("mail", envelope.content, f"to {', '.join(envelope.rcpt_tos)}: {message['Subject']}")
        return "250 Message accepted for delivery"


class Webhook(BaseHTTPRequestHandler):
    def do_POST(self):
        length = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(length)
        title = self.headers.get("Title") or self.headers.get("X-Title")
        if title is not None:
            # ntfy's Title header carries non-ASCII words as RFC 2047 encoded words.
            title = str(email.header.make_header(email.header.decode_header(title)))
        else:
            try:
                title = json.loads(body).get("title")
            except (ValueError, AttributeError):
                title = body[:80].decode("utf-8", "replace")
        save("webhook", body, f"{self.path}: {title}")
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(b'{"ok":true}')

    def log_message(self, *args):
        pass


controller = Controller(Mail(), hostname="127.0.0.1", port=smtp_port)
controller.start()
web = ThreadingHTTPServer(("127.0.0.1", webhook_port), Webhook)
print(f"   The office inbox: mail on 127.0.0.1:{smtp_port}, webhooks on 127.0.0.1:{webhook_port}, saved in {inbox}", flush=True)
try:
    web.serve_forever()
finally:
    controller.stop()
