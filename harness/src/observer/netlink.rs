//! A synchronous netlink socket, for `sock_diag` (the observer) and `rtnetlink` (the
//! sandbox): one request at a time, answers matched by sequence number, every receive bounded.

use std::time::{Duration, Instant};

use netlink_packet_core::{
    NLM_F_ACK, NLM_F_DUMP, NLM_F_DUMP_INTR, NLM_F_REQUEST, NetlinkBuffer, NetlinkDeserializable,
    NetlinkHeader, NetlinkMessage, NetlinkPayload, NetlinkSerializable,
};
use netlink_sys::{Socket, SocketAddr as NlAddr};

use crate::errno;
use crate::error::HarnessError;

/// How long a netlink request may take before the harness gives up on it: a bound against
/// hanging. An rtnetlink request waits for the RTNL lock, which the freeing of namespaces holds
/// for long stretches on a loaded machine.
pub const NETLINK_TIMEOUT: Duration = Duration::from_secs(10);

/// Receive buffer for netlink answers (the kernel's dump datagrams are at most 32 KiB).
const RECV_BUF: usize = 64 * 1024;

/// A synchronous netlink socket: one request at a time, answers matched by sequence number,
/// every receive bounded by [`NETLINK_TIMEOUT`].
pub(crate) struct NlSocket {
    sock: Socket,
    seq: u32,
    buf: Vec<u8>,
}

impl NlSocket {
    /// Opens a netlink socket of `protocol` in the calling thread's network namespace.
    pub(crate) fn open(protocol: isize, what: &str) -> Result<Self, HarnessError> {
        let io = |e| HarnessError::io(format!("opening a {what} netlink socket"), e);
        let mut sock = Socket::new(protocol).map_err(io)?;
        sock.bind_auto().map_err(io)?;
        sock.connect(&NlAddr::new(0, 0)).map_err(io)?;
        sock.set_rx_buf_sz(RECV_BUF as i32).map_err(io)?;
        socket2::SockRef::from(&sock)
            .set_read_timeout(Some(NETLINK_TIMEOUT))
            .map_err(io)?;
        Ok(Self {
            sock,
            seq: 0,
            buf: vec![0; RECV_BUF],
        })
    }

    fn send<I: NetlinkSerializable>(
        &mut self,
        payload: NetlinkPayload<I>,
        flags: u16,
        what: &str,
    ) -> Result<u32, HarnessError> {
        self.seq = self.seq.wrapping_add(1);
        let mut header = NetlinkHeader::default();
        header.flags = flags;
        header.sequence_number = self.seq;
        let mut msg = NetlinkMessage::new(header, payload);
        msg.finalize();
        let mut bytes = vec![0; msg.buffer_len()];
        msg.serialize(&mut bytes);
        let sent = self
            .sock
            .send(&bytes, 0)
            .map_err(|e| HarnessError::io(format!("sending netlink request {what}"), e))?;
        if sent != bytes.len() {
            return Err(HarnessError::netlink(what, "short send"));
        }
        Ok(self.seq)
    }

    /// Receives one datagram into the buffer; returns its length.
    fn recv(&mut self, what: &str) -> Result<usize, HarnessError> {
        let start = Instant::now();
        loop {
            let mut slice = &mut self.buf[..];
            match self.sock.recv(&mut slice, libc::MSG_TRUNC) {
                Ok(n) if n > RECV_BUF => {
                    return Err(HarnessError::netlink(
                        what,
                        format!("answer of {n} bytes truncated to {RECV_BUF}"),
                    ));
                }
                Ok(n) => return Ok(n),
                Err(e) if e.raw_os_error() == Some(libc::EINTR) => {
                    if start.elapsed() > NETLINK_TIMEOUT {
                        return Err(HarnessError::Timeout {
                            what: what.to_owned(),
                            after: NETLINK_TIMEOUT,
                        });
                    }
                }
                Err(e) if e.raw_os_error() == Some(libc::EAGAIN) => {
                    return Err(HarnessError::Timeout {
                        what: what.to_owned(),
                        after: NETLINK_TIMEOUT,
                    });
                }
                Err(e) => return Err(HarnessError::io(format!("receiving {what}"), e)),
            }
        }
    }

    /// Sends a request with `NLM_F_ACK` and waits for its acknowledgement: `Ok(Ok(()))`, or
    /// `Ok(Err(errno))` when the kernel refused it.
    pub(crate) fn request_ack<I>(
        &mut self,
        payload: NetlinkPayload<I>,
        extra_flags: u16,
        what: &str,
    ) -> Result<Result<(), i32>, HarnessError>
    where
        I: NetlinkSerializable + NetlinkDeserializable,
    {
        let seq = self.send(payload, NLM_F_REQUEST | NLM_F_ACK | extra_flags, what)?;
        loop {
            let n = self.recv(what)?;
            let mut verdict = None;
            walk::<I>(&self.buf[..n], what, |header, payload, _| {
                if header.sequence_number != seq {
                    return Ok(());
                }
                if let NetlinkPayload::Error(e) = payload {
                    verdict = Some(match e.code {
                        None => Ok(()),
                        Some(code) => Err(-code.get()),
                    });
                }
                Ok(())
            })?;
            if let Some(v) = verdict {
                return Ok(v);
            }
        }
    }

    /// Sends a dump request and hands every answer to `each` (with the raw payload bytes).
    /// Returns whether the kernel flagged the dump as interrupted (`NLM_F_DUMP_INTR`).
    pub(crate) fn dump<I, F>(
        &mut self,
        payload: NetlinkPayload<I>,
        what: &str,
        each: F,
    ) -> Result<bool, HarnessError>
    where
        I: NetlinkSerializable + NetlinkDeserializable,
        F: FnMut(&I, &[u8]) -> Result<(), HarnessError>,
    {
        let seq = self.send(payload, NLM_F_REQUEST | NLM_F_DUMP, what)?;
        self.receive_dump(seq, None, what, each)
    }

    /// [`NlSocket::dump`] of a request given as bytes (`body`, after the netlink header) of
    /// message type `message_type`, whose answers carry the same type and are decoded as if
    /// they were of type `answers_as`.
    pub(crate) fn dump_bytes<I, F>(
        &mut self,
        message_type: u16,
        body: &[u8],
        answers_as: u16,
        what: &str,
        each: F,
    ) -> Result<bool, HarnessError>
    where
        I: NetlinkDeserializable,
        F: FnMut(&I, &[u8]) -> Result<(), HarnessError>,
    {
        self.seq = self.seq.wrapping_add(1);
        let len = (16 + body.len()) as u32;
        let mut bytes = Vec::with_capacity(len as usize);
        bytes.extend_from_slice(&len.to_ne_bytes());
        bytes.extend_from_slice(&message_type.to_ne_bytes());
        bytes.extend_from_slice(&(NLM_F_REQUEST | NLM_F_DUMP).to_ne_bytes());
        bytes.extend_from_slice(&self.seq.to_ne_bytes());
        bytes.extend_from_slice(&0u32.to_ne_bytes());
        bytes.extend_from_slice(body);
        let sent = self
            .sock
            .send(&bytes, 0)
            .map_err(|e| HarnessError::io(format!("sending netlink request {what}"), e))?;
        if sent != bytes.len() {
            return Err(HarnessError::netlink(what, "short send"));
        }
        let seq = self.seq;
        self.receive_dump(seq, Some((message_type, answers_as)), what, each)
    }

    /// Receives the answers of dump `seq` until its end; `retype` renames a message type
    /// before decoding.
    fn receive_dump<I, F>(
        &mut self,
        seq: u32,
        retype: Option<(u16, u16)>,
        what: &str,
        mut each: F,
    ) -> Result<bool, HarnessError>
    where
        I: NetlinkDeserializable,
        F: FnMut(&I, &[u8]) -> Result<(), HarnessError>,
    {
        let mut interrupted = false;
        loop {
            let n = self.recv(what)?;
            if let Some((from, to)) = retype {
                retype_messages(&mut self.buf[..n], from, to);
            }
            let mut done = false;
            walk::<I>(&self.buf[..n], what, |header, payload, raw| {
                if header.sequence_number != seq {
                    return Ok(());
                }
                interrupted |= header.flags & NLM_F_DUMP_INTR != 0;
                match payload {
                    NetlinkPayload::Done(d) if d.code != 0 => Err(HarnessError::netlink(
                        what,
                        format!("dump ended with error {}", errno::from_raw(-d.code)),
                    )),
                    NetlinkPayload::Done(_) => {
                        done = true;
                        Ok(())
                    }
                    NetlinkPayload::Error(e) => Err(HarnessError::netlink(
                        what,
                        format!("kernel answered {}", errno::from_raw(-e.raw_code())),
                    )),
                    NetlinkPayload::InnerMessage(m) => each(&m, raw),
                    NetlinkPayload::Overrun(_) => Err(HarnessError::netlink(what, "overrun")),
                    _ => Ok(()),
                }
            })?;
            if done {
                return Ok(interrupted);
            }
        }
    }
}

/// Renames the type of every netlink message of type `from` in a datagram to `to`.
fn retype_messages(mut bytes: &mut [u8], from: u16, to: u16) {
    while bytes.len() >= 16 {
        let len = u32::from_ne_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]) as usize;
        if u16::from_ne_bytes([bytes[4], bytes[5]]) == from {
            bytes[4..6].copy_from_slice(&to.to_ne_bytes());
        }
        let step = len.next_multiple_of(4).max(16);
        bytes = match bytes.get_mut(step..) {
            Some(rest) => rest,
            None => return,
        };
    }
}

/// Walks the netlink messages of one datagram.
fn walk<I: NetlinkDeserializable>(
    mut bytes: &[u8],
    what: &str,
    mut each: impl FnMut(&NetlinkHeader, NetlinkPayload<I>, &[u8]) -> Result<(), HarnessError>,
) -> Result<(), HarnessError> {
    while !bytes.is_empty() {
        let nl = NetlinkBuffer::new_checked(bytes)
            .map_err(|e| HarnessError::netlink(what, format!("bad netlink header: {e}")))?;
        let len = nl.length() as usize;
        let raw = nl.payload();
        let msg = NetlinkMessage::<I>::deserialize(bytes)
            .map_err(|e| HarnessError::netlink(what, format!("cannot decode answer: {e}")))?;
        each(&msg.header, msg.payload, raw)?;
        let step = len.next_multiple_of(4).max(16);
        bytes = bytes.get(step..).unwrap_or(&[]);
    }
    Ok(())
}
