//! Writing to stdout without `println!`'s panic when the reader has gone (`fff status | head`):
//! a closed pipe ends a report quietly, as it does any Unix filter; other write errors are
//! named. `fff up` keeps running whatever happens to its stdout (it supervises the roles).

use std::io::Write as _;

/// Writes one line of a report; a closed pipe ends the process with 0, another error with 1.
pub fn line(args: std::fmt::Arguments<'_>) {
    text(format_args!("{args}\n"));
}

/// Writes report text as it is (see [`line`]).
pub fn text(args: std::fmt::Arguments<'_>) {
    if let Err(error) = write!(std::io::stdout().lock(), "{args}") {
        if error.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
        eprintln!("fff: cannot write to stdout: {error}");
        std::process::exit(1);
    }
}

/// Writes one line of progress, ignoring a stdout that can no longer be written.
pub fn progress(args: std::fmt::Arguments<'_>) {
    let _ = writeln!(std::io::stdout().lock(), "{args}");
}

/// `println!` for reports: see [`line`].
macro_rules! outln {
    ($($arg:tt)*) => { $crate::stdout::line(format_args!($($arg)*)) };
}

/// `print!` for reports: see [`text`].
macro_rules! out {
    ($($arg:tt)*) => { $crate::stdout::text(format_args!($($arg)*)) };
}

/// `println!` for a supervisor's progress: see [`progress`].
macro_rules! progressln {
    ($($arg:tt)*) => { $crate::stdout::progress(format_args!($($arg)*)) };
}
