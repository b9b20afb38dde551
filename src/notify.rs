//! The systemd notification protocol (`sd_notify`): `READY=1` once listening, `RELOADING=1` /
//! `READY=1` around a config reload, `STOPPING=1` at shutdown. A datagram to the socket named
//! by `$NOTIFY_SOCKET` (a path, or `@name` for Linux's abstract namespace); without it (launchd,
//! a terminal) every call does nothing.
//!
//! Must never: fail or block the proxy because the manager is not listening.

use std::time::{SystemTime, UNIX_EPOCH};

/// Sends one notification; returns whether it was delivered.
pub fn notify(state: &str) -> bool {
    let Some(socket) = std::env::var_os("NOTIFY_SOCKET") else {
        return false;
    };
    send(&socket.to_string_lossy(), state).is_ok()
}

pub fn ready() -> bool {
    notify(&format!("READY=1\nMAINPID={}", std::process::id()))
}

/// `RELOADING=1` with the monotonic timestamp systemd 253+ expects for `Type=notify-reload`
/// (older versions ignore the extra field).
pub fn reloading() -> bool {
    notify(&format!("RELOADING=1\nMONOTONIC_USEC={}", monotonic_usec()))
}

pub fn stopping() -> bool {
    notify("STOPPING=1")
}

fn monotonic_usec() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes into the timespec we own.
    if unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) } != 0 {
        return SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_micros() as u64)
            .unwrap_or(0);
    }
    ts.tv_sec as u64 * 1_000_000 + ts.tv_nsec as u64 / 1_000
}

#[cfg(unix)]
fn send(socket: &str, state: &str) -> std::io::Result<()> {
    use std::os::unix::net::UnixDatagram;
    let sock = UnixDatagram::unbound()?;
    sock.set_nonblocking(true)?;
    if let Some(name) = socket.strip_prefix('@') {
        #[cfg(any(target_os = "linux", target_os = "android"))]
        {
            use std::os::linux::net::SocketAddrExt;
            let addr = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes())?;
            sock.send_to_addr(state.as_bytes(), &addr)?;
            return Ok(());
        }
        #[cfg(not(any(target_os = "linux", target_os = "android")))]
        {
            let _ = name;
            return Err(std::io::Error::other("abstract sockets need Linux"));
        }
    }
    sock.send_to(state.as_bytes(), socket)?;
    Ok(())
}

#[cfg(not(unix))]
fn send(_socket: &str, _state: &str) -> std::io::Result<()> {
    Err(std::io::Error::other("sd_notify needs a Unix socket"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delivers_states_to_a_path_socket_and_an_abstract_one() {
        use std::os::unix::net::UnixDatagram;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify.sock");
        let listener = UnixDatagram::bind(&path).unwrap();
        send(path.to_str().unwrap(), "READY=1").unwrap();
        let mut buf = [0u8; 64];
        let n = listener.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"READY=1");

        #[cfg(target_os = "linux")]
        {
            use std::os::linux::net::SocketAddrExt;
            let name = format!("headroom-test-{}", std::process::id());
            let addr = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
            let abstract_listener = UnixDatagram::bind_addr(&addr).unwrap();
            send(&format!("@{name}"), "STOPPING=1").unwrap();
            let n = abstract_listener.recv(&mut buf).unwrap();
            assert_eq!(&buf[..n], b"STOPPING=1");
        }
    }

    #[test]
    fn a_missing_socket_is_an_error_not_a_hang() {
        assert!(send("/nonexistent/headroom/notify.sock", "READY=1").is_err());
    }
}
