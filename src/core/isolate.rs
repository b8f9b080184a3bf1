//! Work done in a forked process so that the calling process never creates a thread. Apache's
//! parent runs the startup check; with prefork its children are forked from it, and glibc keeps a
//! process that ever created a thread (and every child it forks later) on the multi-threaded path
//! of every system call: about 30 instructions more per call, some 500 per request. So the parent
//! does the check in a short-lived child process (which may use `core::bounded`'s threads) and
//! reads the result through a pipe, waiting at most a limit; it never makes the filesystem calls
//! itself, and never waits past the limit.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::{Duration, Instant};

/// How a forked job ended, seen from the parent.
#[derive(Debug, PartialEq, Eq)]
pub enum Forked {
    /// The bytes the job returned; `pid` is the child if it had not exited yet (the caller
    /// hands it to whoever reaps children: Apache's MPM).
    Done { bytes: Vec<u8>, pid: Option<i32> },
    /// No complete answer within the limit (or the child died without one).
    Lost { why: String, pid: Option<i32> },
    /// fork or pipe failed (errno).
    Failed(i32),
}

fn errno() -> i32 {
    std::io::Error::last_os_error()
        .raw_os_error()
        .unwrap_or(libc::EIO)
}

/// Reaps `pid` if it has exited within `grace`; its pid otherwise.
fn reap(pid: i32, grace: Duration) -> Option<i32> {
    let start = Instant::now();
    loop {
        let mut status = 0;
        // SAFETY: waitpid on our own child, with a valid status pointer.
        let r = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
        if r == pid || (r < 0 && errno() == libc::ECHILD) {
            return None;
        }
        if start.elapsed() >= grace {
            return Some(pid);
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Runs `job` in a forked child and returns what it produced, waiting at most `limit`. The
/// answer is framed (8-byte length, then the bytes) so a child that dies mid-write is told from
/// one that finished. The child never returns into the caller's code: it ends with `_exit`.
pub fn run(limit: Duration, job: impl FnOnce() -> Vec<u8>) -> Forked {
    let mut fds = [0; 2];
    // SAFETY: pipe2 fills two descriptors on success.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Forked::Failed(errno());
    }
    // SAFETY: fresh descriptors from pipe2, owned from here on.
    let (read_end, write_end) =
        unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    // SAFETY: fork in a process that has no other thread (the reason for this module); the child
    // only runs `job`, writes and `_exit`s.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Forked::Failed(errno());
    }
    if pid == 0 {
        drop(read_end);
        detach_from_parent(write_end.as_raw_fd());
        let bytes = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job));
        let code = match bytes {
            Ok(bytes) => {
                let mut framed = (bytes.len() as u64).to_le_bytes().to_vec();
                framed.extend_from_slice(&bytes);
                let mut rest: &[u8] = &framed;
                while !rest.is_empty() {
                    // SAFETY: writing our own buffer to our pipe end.
                    let n = unsafe {
                        libc::write(write_end.as_raw_fd(), rest.as_ptr().cast(), rest.len())
                    };
                    if n <= 0 {
                        if n < 0 && errno() == libc::EINTR {
                            continue;
                        }
                        break;
                    }
                    rest = &rest[n as usize..];
                }
                0
            }
            Err(_) => 70,
        };
        // SAFETY: ends the child at once: no atexit handlers, no pool cleanups of the parent's
        // state, no unwinding into Apache's frames.
        unsafe { libc::_exit(code) };
    }
    drop(write_end);
    let deadline = Instant::now() + limit;
    let mut got = Vec::new();
    let mut buf = [0u8; 65536];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            // SAFETY: our own child; it may be stuck in the kernel, then it ends when it returns.
            unsafe { libc::kill(pid, libc::SIGKILL) };
            return Forked::Lost {
                why: format!("no answer within {:.1} s", limit.as_secs_f64()),
                pid: reap(pid, Duration::from_millis(100)),
            };
        }
        let mut pfd = libc::pollfd {
            fd: read_end.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        let ms = left.as_millis().clamp(1, i32::MAX as u128) as i32;
        // SAFETY: one valid pollfd.
        let r = unsafe { libc::poll(&mut pfd, 1, ms) };
        if r < 0 {
            if errno() == libc::EINTR {
                continue;
            }
            break;
        }
        if r == 0 {
            continue;
        }
        // SAFETY: reading into our own buffer.
        let n = unsafe { libc::read(read_end.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
        if n < 0 {
            if errno() == libc::EINTR {
                continue;
            }
            break;
        }
        if n == 0 {
            break; // EOF: the child closed its end (finished, or died)
        }
        got.extend_from_slice(&buf[..n as usize]);
        // The whole answer is here: done, without waiting for EOF. A worker the child abandoned
        // in an uninterruptible call keeps the pipe's write end open after the child's `_exit`.
        if complete(&got) {
            break;
        }
    }
    let pid_left = reap(pid, Duration::from_millis(500));
    if !complete(&got) {
        return Forked::Lost {
            why: "the checking process ended without an answer".to_owned(),
            pid: pid_left,
        };
    }
    Forked::Done {
        bytes: got.split_off(8),
        pid: pid_left,
    }
}

/// Whether `got` holds a whole framed answer (8-byte length, then that many bytes).
fn complete(got: &[u8]) -> bool {
    got.len() >= 8 && {
        let len = u64::from_le_bytes(got[..8].try_into().unwrap_or([0; 8]));
        got.len() as u64 - 8 == len
    }
}

/// In the forked child: let go of what it inherited from Apache's parent that it must not keep.
/// Every descriptor but the standard ones and the answer's pipe is closed (the listening
/// sockets above all: a child stuck in a dead filesystem must not keep a port bound across a
/// stop and start), and the signals Apache handles get their default action back, so that the
/// MPM's SIGTERM ends it.
fn detach_from_parent(keep: i32) {
    for sig in [
        libc::SIGTERM,
        libc::SIGHUP,
        libc::SIGINT,
        libc::SIGUSR1,
        libc::SIGWINCH,
        libc::SIGPIPE,
    ] {
        // SAFETY: restoring a default disposition in this single-threaded child.
        unsafe { libc::signal(sig, libc::SIG_DFL) };
    }
    let keep = keep as libc::c_uint;
    // SAFETY: close_range on descriptor ranges of this child only; `keep` stays open.
    unsafe {
        if keep > 3 {
            libc::syscall(
                libc::SYS_close_range,
                3 as libc::c_uint,
                keep - 1,
                0 as libc::c_uint,
            );
        }
        libc::syscall(
            libc::SYS_close_range,
            keep + 1,
            libc::c_uint::MAX,
            0 as libc::c_uint,
        );
    }
}

/// A small length-prefixed encoding for what crosses the pipe.
#[derive(Default)]
pub struct Writer(pub Vec<u8>);

impl Writer {
    pub fn u64(&mut self, v: u64) -> &mut Self {
        self.0.extend_from_slice(&v.to_le_bytes());
        self
    }

    pub fn bytes(&mut self, b: &[u8]) -> &mut Self {
        self.u64(b.len() as u64);
        self.0.extend_from_slice(b);
        self
    }
}

pub struct Reader<'a>(pub &'a [u8]);

impl Reader<'_> {
    pub fn u64(&mut self) -> Option<u64> {
        let (head, rest) = self.0.split_at_checked(8)?;
        self.0 = rest;
        Some(u64::from_le_bytes(head.try_into().ok()?))
    }

    pub fn bytes(&mut self) -> Option<Vec<u8>> {
        let len = usize::try_from(self.u64()?).ok()?;
        let (head, rest) = self.0.split_at_checked(len)?;
        self.0 = rest;
        Some(head.to_vec())
    }

    pub fn string(&mut self) -> Option<String> {
        String::from_utf8(self.bytes()?).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_forked_job_answers_through_the_pipe() {
        match run(Duration::from_secs(10), || b"hello".to_vec()) {
            Forked::Done { bytes, .. } => assert_eq!(bytes, b"hello"),
            other => panic!("{other:?}"),
        }
    }

    /// A worker the child abandoned in an uninterruptible call keeps the pipe open after the
    /// child's exit; a grandchild holding it does the same here.
    #[test]
    fn a_complete_answer_is_taken_without_waiting_for_the_pipe_to_close() {
        let t = Instant::now();
        let r = run(Duration::from_secs(20), || {
            // SAFETY: a test grandchild that only sleeps and exits.
            if unsafe { libc::fork() } == 0 {
                std::thread::sleep(Duration::from_secs(5));
                // SAFETY: ends the grandchild.
                unsafe { libc::_exit(0) };
            }
            b"done".to_vec()
        });
        assert!(
            matches!(&r, Forked::Done { bytes, .. } if bytes == b"done"),
            "{r:?}"
        );
        assert!(t.elapsed() < Duration::from_secs(3), "{:?}", t.elapsed());
    }

    #[test]
    fn a_job_that_never_answers_is_given_up_at_the_limit() {
        let t = Instant::now();
        let r = run(Duration::from_millis(300), || {
            std::thread::sleep(Duration::from_secs(30));
            Vec::new()
        });
        assert!(matches!(r, Forked::Lost { .. }), "{r:?}");
        assert!(t.elapsed() < Duration::from_secs(3), "{:?}", t.elapsed());
    }

    #[test]
    fn a_job_that_panics_is_lost_not_propagated() {
        let r = run(Duration::from_secs(10), || panic!("planted"));
        assert!(matches!(r, Forked::Lost { .. }), "{r:?}");
    }

    #[test]
    fn the_encoding_round_trips_and_refuses_truncation() {
        let mut w = Writer::default();
        w.u64(7).bytes(b"abc").bytes("é".as_bytes());
        let mut r = Reader(&w.0);
        assert_eq!(r.u64(), Some(7));
        assert_eq!(r.bytes(), Some(b"abc".to_vec()));
        assert_eq!(r.string(), Some("é".to_owned()));
        assert_eq!(r.u64(), None);
        let cut = &w.0[..w.0.len() - 1];
        let mut r = Reader(cut);
        r.u64();
        r.bytes();
        assert_eq!(r.bytes(), None);
    }
}
