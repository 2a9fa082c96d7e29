//! A crash (SIGSEGV, SIGBUS, SIGILL, SIGFPE) prints the crashing thread's backtrace before the
//! process dies: a GPU run is often the only sight of a crash in driver code, and the test
//! harness alone prints nothing but the signal.

use std::sync::Once;

extern "C" fn on_crash(signal: libc::c_int) {
    // Capturing a backtrace is not async-signal-safe; the process is dying anyway, and what
    // it prints is what the run is for.
    let backtrace = std::backtrace::Backtrace::force_capture();
    let thread = std::thread::current();
    eprintln!(
        "\n== signal {signal} in thread {:?}\n{backtrace}",
        thread.name().unwrap_or("unnamed")
    );
    // SAFETY: restores the default action and raises the signal again, to die of it.
    unsafe {
        libc::signal(signal, libc::SIG_DFL);
        libc::raise(signal);
    }
}

/// Installs the handler once for the process.
pub fn report_crashes() {
    static INSTALLED: Once = Once::new();
    INSTALLED.call_once(|| {
        for signal in [libc::SIGSEGV, libc::SIGBUS, libc::SIGILL, libc::SIGFPE] {
            // SAFETY: `on_crash` has the signature a signal handler needs.
            unsafe { libc::signal(signal, on_crash as extern "C" fn(libc::c_int) as usize) };
        }
    });
}
