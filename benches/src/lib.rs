//! What the benchmark programs share: kernel timing, counting a pipeline's frames, running an
//! anchor command, and reporting a failed run.

pub mod sink_count;
pub mod timing;

use std::process::{Command, ExitCode};

/// Runs an anchor command with `n` appended; its last line, or why it failed.
pub fn anchor_last_line(command: &str, n: usize) -> String {
    let output = Command::new("sh")
        .arg("-c")
        .arg(format!("{command} {n}"))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&output.stdout);
    match text.lines().last() {
        Some(line) if output.status.success() => line.to_string(),
        _ => {
            let stderr = String::from_utf8_lossy(&output.stderr);
            let tail: Vec<&str> = stderr.lines().rev().take(3).collect();
            format!(
                "anchor failed ({}): {}",
                output.status,
                tail.into_iter().rev().collect::<Vec<_>>().join(" | ")
            )
        }
    }
}

/// The exit code of `program` after a run: the error, if any, goes to stderr after the
/// program's name.
pub fn exit_code(program: &str, run: Result<(), impl std::fmt::Display>) -> ExitCode {
    match run {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{program}: {e}");
            ExitCode::FAILURE
        }
    }
}
