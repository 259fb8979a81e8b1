#!/usr/bin/env python3
"""The demo PBX's phone line: a tiny SIP server on UDP that answers every request with 200 OK, the
way a PBX answers the OPTIONS ping an agent sends to ask "are your phones still served?".

Usage: sip-answer.py PORT   (listens on 127.0.0.1:PORT until it is stopped)
"""
import signal
import socket
import sys

# The headers an answer repeats from its request (RFC 3261 8.2.6.2).
ECHOED = ("via", "v", "from", "f", "to", "t", "call-id", "i", "cseq")


def answer(request: str) -> str:
    lines = request.split("\r\n")
    kept = []
    for line in lines[1:]:
        if not line:
            break
        name = line.split(":", 1)[0].strip().lower()
        if name in ECHOED:
            kept.append(line)
    return "\r\n".join(["SIP/2.0 200 OK", *kept, "Server: lbs-demo-pbx", "Content-Length: 0", "", ""])


def main() -> None:
    port = int(sys.argv[1])
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", port))
    while True:
        data, sender = sock.recvfrom(65535)
        text = data.decode("utf-8", "replace")
        # Requests only ("OPTIONS sip:… SIP/2.0"); a response is never answered.
        if not text.split("\r\n", 1)[0].endswith(" SIP/2.0"):
            continue
        sock.sendto(answer(text).encode(), sender)


if __name__ == "__main__":
    main()
