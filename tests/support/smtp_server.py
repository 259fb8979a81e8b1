#!/usr/bin/python3
"""A real mail server for the agent's alert tests (Debian's python3-aiosmtpd).

STARTTLS (required) or TLS from the first byte with the certificate the test made, or plain;
AUTH with one user (LOGIN only with --login-only); every message accepted is written whole to
--out as <time>-<n>.eml (written aside, then renamed in, so a reader never sees half a mail).
Prints "ready" once it listens; runs until killed.
"""
import argparse
import os
import ssl
import sys
import threading
import time

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


class Save:
    def __init__(self, out):
        self.out = out
        self.n = 0

    async def handle_DATA(self, server, session, envelope):
        self.n += 1
        name = f"{time.time_ns()}-{self.n}.eml"
        tmp = os.path.join(self.out, "." + name)
        with open(tmp, "wb") as f:
            f.write(b"X-Envelope-To: " + ", ".join(envelope.rcpt_tos).encode() + b"\r\n")
            f.write(envelope.original_content or envelope.content)
        os.rename(tmp, os.path.join(self.out, name))
        return "250 2.0.0 Ok: queued as " + name


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--mode", choices=["starttls", "tls", "plain"], required=True)
    p.add_argument("--cert")
    p.add_argument("--key")
    p.add_argument("--user", required=True)
    p.add_argument("--password", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--login-only", action="store_true")
    a = p.parse_args()

    def authenticator(server, session, envelope, mechanism, data):
        ok = (
            isinstance(data, LoginPassword)
            and data.login.decode() == a.user
            and data.password.decode() == a.password
        )
        return AuthResult(success=ok, handled=False)

    ctx = None
    if a.mode != "plain":
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(a.cert, a.key)
    kwargs = dict(
        hostname=a.host,
        port=a.port,
        authenticator=authenticator,
        auth_required=True,
        # With TLS from the first byte aiosmtpd does not see the session as encrypted (it only
        # knows STARTTLS), so AUTH is offered without that check; it is encrypted all the same.
        auth_require_tls=a.mode == "starttls",
        auth_exclude_mechanism=["PLAIN"] if a.login_only else [],
    )
    if a.mode == "starttls":
        kwargs.update(tls_context=ctx, require_starttls=True)
    elif a.mode == "tls":
        kwargs.update(ssl_context=ctx)
    controller = Controller(Save(a.out), **kwargs)
    controller.start()
    print("ready", flush=True)
    threading.Event().wait()


if __name__ == "__main__":
    sys.exit(main())
