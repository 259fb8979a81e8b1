//! A SIP OPTIONS ping: the way to ask a SIP server "are you there?" that every PBX answers. Used
//! after a promotion to check the PBX answers, and by the tests as the phone's probe.

use crate::refusal::Refusal;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// A SIP server's answer to OPTIONS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SipAnswer {
    /// e.g. `SIP/2.0 200 OK`
    pub status_line: String,
    /// The whole answer, for tests that look at a header.
    pub message: String,
    pub from: SocketAddr,
}

impl SipAnswer {
    /// A header's value, by (case-insensitive) name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.message.lines().skip(1).find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim().eq_ignore_ascii_case(name).then(|| v.trim())
        })
    }
}

fn token() -> String {
    format!("{:016x}", rand::random::<u64>())
}

/// Sends OPTIONS over UDP to `target`, resending every 200 ms, until an answer with the same
/// Call-ID arrives or `timeout` passes. Any final answer (even 404 or 483) proves the server is
/// up; provisional answers (1xx) are waited past.
pub async fn options_ping(target: SocketAddr, timeout: Duration) -> Result<SipAnswer, Refusal> {
    let socket = crate::failover::udp_to(target).await?;
    let local = socket.local_addr().map_err(Refusal::internal)?;
    let call_id = format!("{}@lbs-agent", token());
    let request = format!(
        "OPTIONS sip:{target} SIP/2.0\r\n\
         Via: SIP/2.0/UDP {local};branch=z9hG4bK{branch};rport\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:lbs-agent@{local}>;tag={tag}\r\n\
         To: <sip:{target}>\r\n\
         Call-ID: {call_id}\r\n\
         CSeq: 1 OPTIONS\r\n\
         Contact: <sip:lbs-agent@{local}>\r\n\
         Accept: application/sdp\r\n\
         User-Agent: lbs-agent\r\n\
         Content-Length: 0\r\n\r\n",
        branch = token(),
        tag = token(),
    );
    let deadline = Instant::now() + timeout;
    let mut buf = vec![0u8; 8192];
    let mut last_error = String::from("no answer");
    while Instant::now() < deadline {
        if let Err(e) = socket.send(request.as_bytes()).await {
            // e.g. "connection refused" from an ICMP port-unreachable: nothing listens yet.
            last_error = e.to_string();
        }
        let resend = (Instant::now() + Duration::from_millis(200)).min(deadline);
        loop {
            let n = match tokio::time::timeout_at(resend.into(), socket.recv(&mut buf)).await {
                Err(_) => break,
                Ok(Err(e)) => {
                    last_error = e.to_string();
                    tokio::time::sleep_until(resend.into()).await;
                    break;
                }
                Ok(Ok(n)) => n,
            };
            if let Some(answer) = read_answer(&buf[..n], &call_id, target) {
                return Ok(answer);
            }
        }
    }
    Err(Refusal::internal(format!(
        "the SIP server at {target} did not answer OPTIONS within {} ms ({last_error})",
        timeout.as_millis()
    )))
}

/// A datagram received from `from`, if it is a final answer to the request `call_id` (the
/// compact `i:` form of the header counts); anything else — another call, a provisional 1xx,
/// a request, noise — is `None`, to be waited past.
pub fn read_answer(datagram: &[u8], call_id: &str, from: SocketAddr) -> Option<SipAnswer> {
    let text = String::from_utf8_lossy(datagram).into_owned();
    let status_line = text
        .lines()
        .next()
        .filter(|l| l.starts_with("SIP/2.0 "))?
        .trim()
        .to_string();
    let same_call = text.lines().any(|l| {
        l.split_once(':')
            .is_some_and(|(k, v)| (k.trim().eq_ignore_ascii_case("call-id") || k.trim() == "i") && v.trim() == call_id)
    });
    // `SIP/2.0 <3-digit code> <reason>` (RFC 3261 §7.2): a line without a code answers nothing.
    let code = status_line
        .split_whitespace()
        .nth(1)
        .filter(|c| c.len() == 3 && c.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|c| c.parse::<u16>().ok())
        .filter(|c| (100..700).contains(c))?;
    let provisional = code < 200;
    (same_call && !provisional).then_some(SipAnswer {
        status_line,
        message: text,
        from,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::net::UdpSocket;

    /// A tiny SIP server: answers every request with 200 and the request's Call-ID.
    async fn fake_server(drop_first: usize) -> SocketAddr {
        let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let addr = socket.local_addr().unwrap();
        tokio::spawn(async move {
            let mut buf = vec![0u8; 8192];
            let mut seen = 0;
            loop {
                let (n, from) = socket.recv_from(&mut buf).await.unwrap();
                seen += 1;
                if seen <= drop_first {
                    continue;
                }
                let req = String::from_utf8_lossy(&buf[..n]).to_string();
                let call = req.lines().find(|l| l.starts_with("Call-ID:")).unwrap().to_string();
                let reply = format!("SIP/2.0 100 Trying\r\n{call}\r\n\r\n");
                socket.send_to(reply.as_bytes(), from).await.unwrap();
                let reply = format!("SIP/2.0 200 OK\r\n{call}\r\nX-LBS-Box: a\r\nContent-Length: 0\r\n\r\n");
                socket.send_to(reply.as_bytes(), from).await.unwrap();
            }
        });
        addr
    }

    /// Found by the `sip` fuzz target: a status line without a code (`SIP/2.0 ` alone) was taken
    /// for a final answer, so noise with the call's ID proved the PBX up.
    #[test]
    fn only_a_final_answer_with_a_status_code_to_this_call_is_taken() {
        let from = SocketAddr::from(([127, 0, 0, 1], 5060));
        let call = "c0ffee@lbs-agent";
        let read = |text: &str| read_answer(text.as_bytes(), call, from).map(|a| a.status_line);
        assert_eq!(
            read("SIP/2.0 200 OK\r\nCall-ID: c0ffee@lbs-agent\r\n\r\n").as_deref(),
            Some("SIP/2.0 200 OK")
        );
        assert_eq!(
            read("SIP/2.0 404 Not Found\r\ni: c0ffee@lbs-agent\r\n").as_deref(),
            Some("SIP/2.0 404 Not Found")
        );
        for noise in [
            "SIP/2.0 \nCall-ID: c0ffee@lbs-agent\n",
            "SIP/2.0 OK\r\nCall-ID: c0ffee@lbs-agent\r\n",
            "SIP/2.0 2000 OK\r\nCall-ID: c0ffee@lbs-agent\r\n",
            "SIP/2.0 +20 OK\r\nCall-ID: c0ffee@lbs-agent\r\n",
            "SIP/2.0 099 Odd\r\nCall-ID: c0ffee@lbs-agent\r\n",
            "SIP/2.0 183 Session Progress\r\nCall-ID: c0ffee@lbs-agent\r\n",
            "SIP/2.0 200 OK\r\nCall-ID: someone-else\r\n",
            "OPTIONS sip:pbx SIP/2.0\r\nCall-ID: c0ffee@lbs-agent\r\n",
        ] {
            assert_eq!(read(noise), None, "{noise:?}");
        }
    }

    #[tokio::test]
    async fn an_answer_is_recognised_after_a_lost_request() {
        let addr = fake_server(1).await;
        let a = options_ping(addr, Duration::from_secs(3)).await.unwrap();
        assert_eq!(a.status_line, "SIP/2.0 200 OK");
        assert_eq!(a.header("x-lbs-box"), Some("a"));
    }

    #[tokio::test]
    async fn silence_is_an_error_that_names_the_target() {
        let quiet = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let addr = quiet.local_addr().unwrap();
        let e = options_ping(addr, Duration::from_millis(500)).await.unwrap_err();
        assert!(
            e.message.contains(&addr.to_string()) && e.message.contains("did not answer"),
            "{e}"
        );
    }
}
