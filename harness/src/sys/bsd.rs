//! What FreeBSD and macOS share: `sysctlbyname(3)` on the calling process's own stack, and a
//! lingering `close()` bounded by a signal from a watchdog thread (neither has Linux's
//! thread-directed POSIX timers on both).

use std::ffi::CStr;
use std::os::fd::OwnedFd;
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::time::Duration;

use libc::{c_int, c_void};

use super::last_errno;

#[cfg(target_os = "macos")]
/// The bytes of sysctl `name` (of the calling process's stack), sized by asking first and
/// asked again if the table grew in between.
pub(crate) fn sysctl_bytes(name: &CStr) -> Result<Vec<u8>, i32> {
    for _ in 0..8 {
        let mut len: libc::size_t = 0;
        // SAFETY: `name` is NUL-terminated; a null old pointer asks only for the size, which
        // the kernel writes to the local `len`.
        let rc = unsafe {
            libc::sysctlbyname(
                name.as_ptr(),
                std::ptr::null_mut(),
                &raw mut len,
                std::ptr::null_mut(),
                0,
            )
        };
        if rc != 0 {
            return Err(last_errno());
        }
        let mut buf = vec![0u8; len + len / 4 + 4096];
        let mut got = buf.len();
        // SAFETY: `buf` is writable for `got` bytes and the kernel writes at most that many,
        // storing the count in `got`.
        let rc = unsafe {
            libc::sysctlbyname(
                name.as_ptr(),
                buf.as_mut_ptr().cast::<c_void>(),
                &raw mut got,
                std::ptr::null_mut(),
                0,
            )
        };
        if rc == 0 {
            buf.truncate(got);
            return Ok(buf);
        }
        let e = last_errno();
        if e != libc::ENOMEM {
            return Err(e);
        }
    }
    Err(libc::ENOMEM)
}

/// An integer sysctl of the calling process's stack.
pub(crate) fn sysctl_int(name: &CStr) -> Result<c_int, i32> {
    let mut value: c_int = 0;
    let mut len = size_of::<c_int>() as libc::size_t;
    // SAFETY: `value` and `len` are writable locals, `len` holds the size of `value`.
    let rc = unsafe {
        libc::sysctlbyname(
            name.as_ptr(),
            (&raw mut value).cast::<c_void>(),
            &raw mut len,
            std::ptr::null_mut(),
            0,
        )
    };
    if rc == 0 {
        Ok(value)
    } else {
        Err(last_errno())
    }
}

/// The signal that interrupts a lingering `close()` (an empty handler without `SA_RESTART`).
const INTERRUPT: c_int = libc::SIGUSR2;

extern "C" fn ignore_signal(_: c_int) {}

fn install_interrupt_handler() -> Result<(), i32> {
    static INSTALLED: OnceLock<Result<(), i32>> = OnceLock::new();
    *INSTALLED.get_or_init(|| {
        // SAFETY: `sigaction` is plain old data; all-zero is a valid value (empty mask, no
        // flags, so no SA_RESTART).
        let mut act: libc::sigaction = unsafe { std::mem::zeroed() };
        act.sa_sigaction = ignore_signal as extern "C" fn(c_int) as libc::sighandler_t;
        // SAFETY: `act.sa_mask` is a valid sigset to initialise; the handler does nothing.
        let rc = unsafe {
            libc::sigemptyset(&raw mut act.sa_mask);
            libc::sigaction(INTERRUPT, &raw const act, std::ptr::null_mut())
        };
        if rc == 0 { Ok(()) } else { Err(last_errno()) }
    })
}

/// A `pthread_t` that may cross to the watchdog thread.
struct Target(libc::pthread_t);
// SAFETY: a pthread_t is an opaque handle; the watchdog only passes it to pthread_kill while
// the target thread is blocked in close() (it waits for the watchdog before returning).
unsafe impl Send for Target {}

/// Closes `fd`, interrupting the close after `bound` if it blocks: a watchdog thread sends
/// [`INTERRUPT`] to this thread, and the kernel's sleep in `soclose()` (`PCATCH`) ends at the
/// pending signal; the socket carries on as after its linger time. Returns whether the bound
/// was armed.
pub(crate) fn close_bounded(fd: OwnedFd, bound: Duration) -> bool {
    if install_interrupt_handler().is_err() {
        drop(fd);
        return false;
    }
    // SAFETY: pthread_self has no preconditions.
    let me = Target(unsafe { libc::pthread_self() });
    let done = Arc::new((Mutex::new(false), Condvar::new()));
    let watch = {
        let done = Arc::clone(&done);
        std::thread::spawn(move || {
            let target = me;
            let (lock, cv) = &*done;
            let guard = lock.lock().unwrap_or_else(|e| e.into_inner());
            let (guard, timeout) = cv
                .wait_timeout_while(guard, bound, |closed| !*closed)
                .unwrap_or_else(|e| e.into_inner());
            if timeout.timed_out() && !*guard {
                // SAFETY: the target thread is alive: it waits for this thread's join.
                unsafe {
                    libc::pthread_kill(target.0, INTERRUPT);
                }
            }
        })
    };
    drop(fd);
    {
        let (lock, cv) = &*done;
        *lock.lock().unwrap_or_else(|e| e.into_inner()) = true;
        cv.notify_all();
    }
    watch.join().is_ok()
}
