#!/usr/bin/env python3
"""Writes the fuzz targets' seed inputs into fuzz/corpus/<target>/seed-*: real examples taken
from the project's docs, tests and fixtures where there are some, written by hand (in the
shapes the agent and the tools really send) where there are not. Run from the repository root;
idempotent. The fuzzer's own finds (minimized) sit beside them."""
import json, os, re, struct, subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "fuzz" / "corpus"

def seed(target, name, data):
    d = CORPUS / target
    d.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    (d / f"seed-{name}").write_bytes(data)

FP = "0123456789abcdef" * 4
H = "af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262"  # BLAKE3 of ""

# The connection link (crates/lbs-protocol/src/link.rs and its tests).
seed("link", "plain", f"lbs://192.168.1.10:7443/?fp={FP}&token=lbs_abc-DEF_123&name=PBX+A+%28main+office%29")
seed("link", "hostname", f"lbs://pbx-a.office.lan:7443/?fp={FP}&token=lbs_{'x' * 43}")
seed("link", "ipv6", f"lbs://[::1]:7443/?fp={FP}&token=t")
colons = ":".join(FP.upper()[i:i + 2] for i in range(0, 64, 2))
seed("link", "colons-wrapped", f"  lbs://h:1/?token=t&fp={colons}\n")
seed("link", "mail-wrapped", f"lbs://192.168.1.10:7443/?fp={FP[:20]}\u200b\n    {FP[20:]}&\ntoken=lbs_abc&name=%C3%89cole")
seed("link", "no-port", f"lbs://h/?token=t&fp={FP}")

# The configuration: the example file and every TOML block of the docs.
seed("config", "agent.example.toml", (ROOT / "docs" / "agent.example.toml").read_bytes())
for doc in sorted((ROOT / "docs").glob("*.md")):
    for i, block in enumerate(re.findall(r"```toml\n(.*?)```", doc.read_text(), re.S)):
        seed("config", f"{doc.stem}-{i}.toml", block)
seed("config", "minimal.toml", '[server]\nname = "PBX A"\nstate_dir = "/var/lib/lbs-agent"\n')

# Relative paths as the partner sends them.
for i, p in enumerate(["default/1001/INBOX/msg0001.wav", "default/1001/INBOX/msg0001.txt",
                       "asterisk/sip.conf", "a//b/", "..hidden/x..y", "in/1001/x", "out/passwd",
                       "fifo", "default/1001/INBOX/msg0000.wav/x", "monitor/2026/11/30/out-1001-1002.wav",
                       "é/日本/🎵.wav"]):
    seed("relpath", str(i), p)

# The peer protocol's JSON: first byte chooses the message (fuzz_targets/peer_json.rs).
def peer(which, name, value):
    body = value if isinstance(value, (bytes, str)) else json.dumps(value, ensure_ascii=False)
    seed("peer_json", name, bytes([which]) + (body.encode() if isinstance(body, str) else body))
change = dict(seq=42, source="voicemail", path="default/1001/INBOX/msg0001.wav", size=63244,
              mtime_ns=1764500000123456789, mode=0o100640, uid=999, gid=999, hash=H, deleted=False,
              changed_unix=1764500000)
peer(0, "pull-response", dict(server_id="2b9c5a5e-6c1f-4f43-9d6e-3f1f1e0b3a11", role="primary", epoch=3,
     journal_id="j-5f0c", head=44,
     changes=[change, dict(change, seq=43, path="default/1001/INBOX", hash=None, folder=True, size=0),
              dict(change, seq=44, path="default/1001/Old/msg0000.wav", hash=None, deleted=True)],
     totals=[dict(source="voicemail", files=1200, bytes=73400320), dict(source="config:1", files=3, bytes=1024)],
     counting=[dict(category="recordings", files_counted=512)]))
peer(1, "pull-request", dict(journal_id="j-5f0c", after=41, limit=1000, wait_ms=25000, acked=41,
     held=[dict(source="voicemail", files=1199, bytes=73300000)], folders=True))
peer(2, "heartbeat", dict(server_id="2b9c5a5e", role="backup", epoch=3, epoch_owner="2b9c5a5e", role_since_unix=1764400000,
     unapplied_files=2, unapplied_bytes=4096, unapplied_oldest_unix=1764499990, maintenance=None,
     now_unix_ms=1764500000123, agent_version="0.2.0", api_version=3))
peer(3, "handover-request", dict(step="prepare", actor="console:office-manager", reason="planned switchover", next_epoch=4))
peer(4, "handover-response", dict(journal_id="j-5f0c", head=44, steps=[]))
peer(5, "hashes-request", dict(files=[["voicemail", "default/1001/INBOX/msg0001.wav"], ["config", "../etc/shadow"]]))
peer(6, "hashes-response", dict(hashes=[H, None, "+f" * 32]))
peer(7, "bundle-request", dict(items=[dict(source="voicemail", path="default/1001/INBOX/msg0000.txt", hash=H),
     dict(source="voicemail", path="out/passwd", hash=H)]))
peer(8, "pair-request", dict(pair_with=dict(address="192.168.1.11:7443", fingerprint=FP, token="lbs_x")))
peer(16, "content-query", f"source=voicemail&path=default%2F1001%2FINBOX%2Fmsg0000.txt&hash={H}&offset=4096")
peer(17, "restore-query", f"source=voicemail&path=default%2F1001%2FINBOX%2Fmsg0000.txt&hash={H}&replace=true&mode=416&uid=999&gid=999&mtime_ns=1764500000123456789")
peer(18, "api-error", dict(error="bad_request", message="the request is not valid"))

# Bundles (fuzz_targets/bundle.rs): flags, n, n sizes, body.
def frames(items):
    return b"".join(bytes([s]) + struct.pack(">Q", len(c)) + c for s, c in items)
body = frames([(0, b"[message]\nmsg_id=1764500000-00000001\n"), (1, b""), (2, b"")])
head = bytes([0, 3]) + struct.pack(">HHH", 64, 100, 0)
seed("bundle", "three-frames", head + body)
# Compressed with the zstd tool (Debian's zstd package), as the agent's zstd crate would.
if os.system("command -v zstd >/dev/null") == 0:
    def zc(data):
        return subprocess.run(["zstd", "-q", "-c", "-3"], input=data, capture_output=True, check=True).stdout
    seed("bundle", "three-frames-zstd", bytes([1, 3]) + struct.pack(">HHH", 64, 100, 0) + zc(body))
    seed("zstd", "text", struct.pack(">I", 4096) + zc(b"[message]\nmsg_id=1764500000-00000001\ncallerid=\"Reception\" <1001>\n" * 8))
    seed("zstd", "zeros-over-limit", struct.pack(">I", 1000) + zc(bytes(1 << 16)))
    seed("zstd", "two-frames", struct.pack(">I", 100) + zc(b"first ") + zc(b"second"))

# DNS: dnspython's signed answers (dns.rs tests) and lookup answers in the shape knot sends.
dns_rs = (ROOT / "crates/lbs-agent-core/src/failover/address/dns.rs").read_text()
for name in ["SHA256_ANSWER", "SHA512_ANSWER"]:
    hexa = re.search(rf'{name}: &str = "([0-9a-f]+)"', dns_rs).group(1)
    seed("dns", f"dnspython-{name.lower()}", bytes.fromhex(hexa))
def qname(n):
    return b"".join(bytes([len(l)]) + l.encode() for l in n.strip(".").split(".")) + b"\0"
def answer(qtype, rdatas, rcode=0):
    msg = struct.pack(">HHHHHH", 0x4242, 0x8580 | rcode, 1, len(rdatas), 0, 0) + qname("pbx.office.lan.") + struct.pack(">HH", qtype, 1)
    for rd in rdatas:
        msg += b"\xc0\x0c" + struct.pack(">HHIH", qtype, 1, 10, len(rd)) + rd
    return msg
seed("dns", "a", answer(1, [bytes([10, 0, 0, 12])]))
seed("dns", "aaaa", answer(28, [bytes.fromhex("20010db8000000000000000000000005")]))
seed("dns", "nxdomain", answer(1, [], rcode=3))
seed("dns", "refused", answer(1, [], rcode=5))

# SIP: answers to the OPTIONS probe, as kamailio and Asterisk write them.
CALL = "0123456789abcdef@lbs-agent"
via = "Via: SIP/2.0/UDP 10.0.0.11:40123;branch=z9hG4bK9f2c1d0e8a7b6c5d;rport=40123;received=10.0.0.11"
seed("sip", "kamailio-200", f"SIP/2.0 200 OK\r\n{via}\r\nFrom: <sip:lbs-agent@10.0.0.11:40123>;tag=1a2b3c4d5e6f7a8b\r\nTo: <sip:10.0.0.12:5060>;tag=c7f1f9e4b4b1a1f7c1f2e3d4a5b6c7d8\r\nCall-ID: {CALL}\r\nCSeq: 1 OPTIONS\r\nServer: kamailio (5.6.3 (x86_64/linux))\r\nContent-Length: 0\r\n\r\n")
seed("sip", "asterisk-200", f"SIP/2.0 200 OK\r\n{via}\r\nCall-ID: {CALL}\r\nFrom: <sip:lbs-agent@10.0.0.11:40123>;tag=1a2b3c4d5e6f7a8b\r\nTo: <sip:10.0.0.12:5060>;tag=z9hG4bK.x\r\nCSeq: 1 OPTIONS\r\nAccept: application/sdp, application/dialog-info+xml\r\nAllow: OPTIONS, REGISTER, SUBSCRIBE, NOTIFY, PUBLISH, INVITE, ACK, BYE, CANCEL, UPDATE, PRACK, MESSAGE, REFER\r\nSupported: 100rel, timer, replaces, norefersub\r\nServer: FPBX-16.0.40(18.9.0)\r\nX-LBS-Box: a\r\nContent-Length: 0\r\n\r\n")
seed("sip", "trying", f"SIP/2.0 100 Trying\r\n{via}\r\nCall-ID: {CALL}\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n")
seed("sip", "compact-404", f"SIP/2.0 404 Not Found\r\nv: SIP/2.0/UDP 10.0.0.11:40123\r\ni: {CALL}\r\nl: 0\r\n\r\n")
seed("sip", "other-call", "SIP/2.0 200 OK\r\nCall-ID: someone-else@10.0.0.40\r\n\r\n")
seed("sip", "a-request", f"OPTIONS sip:10.0.0.11 SIP/2.0\r\nCall-ID: {CALL}\r\n\r\n")

# The history's query string.
for i, q in enumerate(["series=cpu.usage&from=1699913600&to=1700000000&points=800",
                       "series=cpu.usage&from=1690000000&to=1700000000&points=10000",
                       "series=cpu.usage&from=1699999000&to=1700000000&points=1",
                       "series=mem.used&from=0&to=157766400&points=2",
                       "series=nope&from=1&to=2&points=1",
                       "series=cpu.usage&from=-9223372036854775808&to=9223372036854775807&points=10000"]):
    seed("history_query", str(i), q)

# The inventory's inputs: the recorded fixtures (inventory/fixtures/README.md says where from).
fx = ROOT / "crates/lbs-agent-core/src/inventory/fixtures"
which = {"cpuinfo": 0, "meminfo": 1, "lsblk": 2, "smartctl": 3, "os-release": 4, "lspci": 6, "proc-dahdi": 7}
for f in sorted(fx.iterdir()):
    for prefix, w in which.items():
        if f.name.startswith(prefix) and f.suffix in (".txt", ".json"):
            seed("inventory", f.name, bytes([w]) + f.read_bytes())
seed("inventory", "mounts", bytes([5]) + b"/dev/vda1 / ext4 rw,relatime 0 0\n/dev/vdb1 /var/spool/asterisk ext4 rw 0 0\n/dev/vdc1 /mnt/with\\040space xfs rw 0 0\n")
for i, v in enumerate(["Asterisk 20.5.2 built by root @ buildhost on a x86_64 running Linux on 2023-11-01 12:00:00 UTC",
                       "Asterisk certified/18.9-cert7", "FreePBX 16.0.40.7\nAsterisk 18.20.0"]):
    seed("inventory", f"pbx-{i}", bytes([8]) + v.encode())
print("seeds written to", CORPUS)
