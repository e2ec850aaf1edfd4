//! Reading a leg's RTP socket two datagrams per system call.
//!
//! tokio learns that a socket has run dry only from a read that fails with `EAGAIN`; a loop of
//! `recv_from` therefore makes two system calls per packet when packets come one at a time (as
//! RTP does, every 20 ms): one that reads it and one that finds nothing. Here one `recvmmsg`
//! asks for two datagrams: two came, and the socket may hold more (read again); fewer came, and
//! the socket was empty when the call returned, so the readiness is given back to tokio at once
//! (its readiness tick makes that safe: a datagram arriving meanwhile sets it again).

use std::cell::RefCell;
use std::io;
use std::net::SocketAddr;
use std::os::fd::AsRawFd;

use nix::sys::socket::{recvmmsg, MsgFlags, MultiHeaders, SockaddrStorage};
use tokio::io::Interest;
use tokio::net::UdpSocket;

/// Datagrams asked for per system call.
pub(crate) const BATCH: usize = 2;

/// The part of the buffer one datagram may fill (a larger one is truncated; G.711 at 20–60 ms
/// is 172–492 bytes).
pub(crate) const PART: usize = 2048;

thread_local! {
    /// The receive buffer of every leg that runs on this thread: a leg reads into it and
    /// handles what it read before it next waits, so one per thread serves them all (a
    /// buffer per leg cost 2 KB of memory per leg).
    static BUF: RefCell<Box<[u8]>> = RefCell::new(vec![0u8; PART * BATCH].into_boxed_slice());
}

/// What one read brought: `count` datagrams, the i-th `len[i]` bytes long, from `from[i]`
/// (`None`: a source that is not an IP address). Their bytes are lent by [`with_datagrams`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct Batch {
    pub count: usize,
    pub len: [usize; BATCH],
    pub from: [Option<SocketAddr>; BATCH],
}

impl Batch {
    const EMPTY: Batch = Batch {
        count: 0,
        len: [0; BATCH],
        from: [None; BATCH],
    };
}

/// Waits for the socket and reads up to [`BATCH`] datagrams into this thread's buffer. The
/// caller must take them with [`with_datagrams`] before it awaits anything: the next read on
/// this thread overwrites them.
pub(crate) async fn recv_batch(socket: &UdpSocket) -> io::Result<Batch> {
    loop {
        socket.readable().await?;
        let mut batch = Batch::EMPTY;
        let res = socket.try_io(Interest::READABLE, || {
            batch = BUF.with_borrow_mut(|buf| read(socket, buf))?;
            if batch.count < BATCH {
                // The socket was empty when the call returned: tokio clears the readiness.
                return Err(io::ErrorKind::WouldBlock.into());
            }
            Ok(())
        });
        if batch.count > 0 {
            return Ok(batch);
        }
        match res {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
            Err(e) => return Err(e),
            Ok(()) => continue,
        }
    }
}

/// Calls `f` with each datagram of `batch` (its bytes and its source), in order.
pub(crate) fn with_datagrams(batch: &Batch, mut f: impl FnMut(&[u8], SocketAddr)) {
    BUF.with_borrow(|buf| {
        for i in 0..batch.count {
            if let (Some(from), Some(data)) =
                (batch.from[i], buf.get(i * PART..i * PART + batch.len[i]))
            {
                f(data, from);
            }
        }
    });
}

/// One non-blocking `recvmmsg` of up to [`BATCH`] datagrams.
fn read(socket: &UdpSocket, buf: &mut [u8]) -> io::Result<Batch> {
    let (a, b) = buf.split_at_mut(PART);
    let mut slices = [
        [io::IoSliceMut::new(a)],
        [io::IoSliceMut::new(&mut b[..PART])],
    ];
    let mut headers = MultiHeaders::<SockaddrStorage>::preallocate(BATCH, None);
    let got = recvmmsg(
        socket.as_raw_fd(),
        &mut headers,
        slices.iter_mut(),
        MsgFlags::MSG_DONTWAIT,
        None,
    )
    .map_err(io::Error::from)?;
    let mut batch = Batch::EMPTY;
    for (i, msg) in got.enumerate().take(BATCH) {
        batch.len[i] = msg.bytes.min(PART);
        batch.from[i] = msg.address.and_then(|a| socket_addr(&a));
        batch.count = i + 1;
    }
    Ok(batch)
}

fn socket_addr(a: &SockaddrStorage) -> Option<SocketAddr> {
    if let Some(v4) = a.as_sockaddr_in() {
        return Some(SocketAddr::from(*v4));
    }
    a.as_sockaddr_in6().map(|v6| SocketAddr::from(*v6))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(b: &Batch) -> Vec<String> {
        let mut out = Vec::new();
        with_datagrams(b, |d, _| out.push(String::from_utf8_lossy(d).into_owned()));
        out
    }

    #[tokio::test]
    async fn one_two_and_three_datagrams() {
        let rx = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let tx = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let to = rx.local_addr().unwrap();

        tx.send_to(b"one", to).await.unwrap();
        let b = recv_batch(&rx).await.unwrap();
        assert_eq!(texts(&b), ["one"]);
        assert_eq!(b.from[0], Some(tx.local_addr().unwrap()));

        // Three queued: read two at a time, the last alone.
        for m in [&b"two"[..], b"three", b"four"] {
            tx.send_to(m, to).await.unwrap();
        }
        let mut seen = Vec::new();
        while seen.len() < 3 {
            let b = recv_batch(&rx).await.unwrap();
            assert!(b.count <= BATCH);
            seen.extend(texts(&b));
        }
        assert_eq!(seen, ["two", "three", "four"]);

        // A datagram longer than its part is cut to the part.
        tx.send_to(&[7u8; PART + 100], to).await.unwrap();
        let b = recv_batch(&rx).await.unwrap();
        assert_eq!((b.count, b.len[0]), (1, PART));
    }
}
