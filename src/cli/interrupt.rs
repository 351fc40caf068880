//! SIGTERM and SIGINT for the one-shot commands (`sync`, `identities`): the work in flight is
//! dropped (its transaction rolls back), the command says what happened and closes the store
//! cleanly. A second signal while it does so ends the process at once.

use std::process::ExitCode;

/// The signal that asked a command to stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Interrupt {
    /// SIGTERM: `kill`, a CI job's timeout, a pod being stopped.
    Terminate,
    /// SIGINT: Ctrl-C.
    Interrupt,
}

impl Interrupt {
    /// The signal's name, for messages.
    pub(super) fn name(self) -> &'static str {
        match self {
            Interrupt::Terminate => "SIGTERM",
            Interrupt::Interrupt => "SIGINT",
        }
    }

    /// The exit status after it, by the shell's convention: 128 + the signal's number.
    pub(super) fn status(self) -> u8 {
        match self {
            Interrupt::Terminate => 143,
            Interrupt::Interrupt => 130,
        }
    }

    /// [`Interrupt::status`] as the process's exit code.
    pub(super) fn exit_code(self) -> ExitCode {
        ExitCode::from(self.status())
    }
}

/// Waits for SIGTERM or SIGINT. Where the handlers cannot be installed it never returns, and
/// the signals keep their default action (the process ends).
pub(super) async fn interrupted() -> Interrupt {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let (Ok(mut terminate), Ok(mut interrupt)) = (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) else {
            return std::future::pending().await;
        };
        tokio::select! {
            _ = terminate.recv() => Interrupt::Terminate,
            _ = interrupt.recv() => Interrupt::Interrupt,
        }
    }
    #[cfg(not(unix))]
    {
        if tokio::signal::ctrl_c().await.is_err() {
            return std::future::pending().await;
        }
        Interrupt::Interrupt
    }
}

/// Runs `cleanup` after a first signal; a second signal meanwhile ends the process at once
/// (once handlers are installed a signal no longer ends it on its own, and a cleanup that
/// waits on an unreachable database must not keep a user from stopping it).
pub(super) async fn cleanup_unless_interrupted_again<T>(
    first: Interrupt,
    cleanup: impl Future<Output = T>,
) -> T {
    tokio::select! {
        done = cleanup => done,
        again = interrupted() => {
            eprintln!(
                "error: {} while stopping after {}: exiting without cleaning up",
                again.name(),
                first.name()
            );
            std::process::exit(i32::from(again.status()));
        }
    }
}
