#!/usr/bin/python3
"""Known-answer vectors for the agent's TSIG code (dns.rs), made by dnspython, an independent
implementation of RFC 2136 updates and RFC 8945 TSIG.

Run with Debian's python3-dnspython (`apt-get install python3-dnspython`; this was made with
2.3.0) or in a venv with `pip install dnspython`:

    /usr/bin/python3 crates/lbs-agent/src/failover/address/tsig_vectors.py

and paste what it prints as the body of the `dnspython` module in the tests of dns.rs; the inputs
below are repeated there in `sha256()` and `sha512()`. The output depends only on those inputs,
never on the clock.

Each vector is a signed update (what the agent sends) and the server's signed answer to it (what
the agent checks). The agent writes names uncompressed, and the MAC covers the message's bytes, so
the update is rendered uncompressed here too; the answers keep dnspython's name compression, as a
real server's would. The answers are signed with a fudge other than the update's (600 s), as
RFC 8945 allows: the agent must use the fudge in the answer's own TSIG record.
"""

import contextlib
from unittest import mock

import dns.message
import dns.name
import dns.renderer
import dns.rcode
import dns.tsig
import dns.tsigkeyring
import dns.update
import dns.version

VECTORS = [
    dict(
        const="SHA256",
        id=0x1234,
        zone="office.lan.",
        name="pbx.office.lan.",
        rdtype="A",
        address="10.0.0.12",
        ttl=10,
        key_name="lbs-update.",
        algorithm=dns.tsig.HMAC_SHA256,
        # base64 of "secret-secret-secret"
        secret="c2VjcmV0LXNlY3JldC1zZWNyZXQ=",
        time=1_700_000_000,
        answered=1_700_000_002,
    ),
    dict(
        const="SHA512",
        id=0xBEEF,
        zone="voip.example.org.",
        name="sip.voip.example.org.",
        rdtype="AAAA",
        address="2001:db8::5",
        ttl=60,
        key_name="tsig-b.voip.example.org.",
        algorithm=dns.tsig.HMAC_SHA512,
        # 64 fixed bytes 0x00..0x3f, as `tsig-keygen -a hmac-sha512` would give random ones
        secret="AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLS4vMDEyMzQ1Njc4OTo7PD0+Pw==",
        time=1_750_000_123,
        answered=1_750_000_123,
    ),
]


class Uncompressed(dns.renderer.Renderer):
    """A renderer that writes every name in full, as the agent does."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.compress = None


@contextlib.contextmanager
def clock(at):
    """dnspython signs and checks with time.time(); the vectors need a fixed time."""
    with mock.patch("time.time", return_value=float(at)):
        yield


def vector(v):
    keyname = dns.name.from_text(v["key_name"])
    keyring = dns.tsigkeyring.from_text({v["key_name"]: (v["algorithm"].to_text(), v["secret"])})
    update = dns.update.UpdateMessage(v["zone"], id=v["id"])
    update.use_tsig(keyring, keyname, fudge=300, algorithm=v["algorithm"])
    update.replace(v["name"], v["ttl"], v["rdtype"], v["address"])
    with clock(v["time"]), mock.patch("dns.renderer.Renderer", Uncompressed):
        request = update.to_wire()
    request_mac = update.mac

    # The server: reads and checks the update, then answers NOERROR, signed over the request MAC.
    with clock(v["answered"]):
        received = dns.message.from_wire(request, keyring=keyring)
        answer = dns.message.make_response(received, fudge=600)
        answer.set_rcode(dns.rcode.NOERROR)
        response = answer.to_wire()
        # dnspython accepts its own answer as a client would.
        dns.message.from_wire(response, keyring=keyring, request_mac=request_mac)
    return request, request_mac, response


def main():
    print("// Made by tsig_vectors.py with dnspython", dns.version.version, "- do not edit by hand.")
    for v in VECTORS:
        request, mac, response = vector(v)
        c = v["const"]
        print(f"pub const {c}_REQUEST: &str = \"{request.hex()}\";")
        print(f"pub const {c}_REQUEST_MAC: &str = \"{mac.hex()}\";")
        print(f"pub const {c}_ANSWER: &str = \"{response.hex()}\";")


if __name__ == "__main__":
    main()
