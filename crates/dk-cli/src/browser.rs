//! Opening a URL in the user's browser without ever failing a headless machine: `$BROWSER`
//! (commands separated by `:`, `%s` for the URL, as `xdg-open` reads it), else the platform's
//! opener. A browser that cannot start is not an error; the caller prints the URL.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// How long an opener may take to say it failed; one still running then is taken as opened (a
/// terminal browser, or a GUI one that stays in the foreground).
const SETTLE: Duration = Duration::from_secs(2);

/// Whether a browser was started on `url`.
pub fn open(url: &str, browser: Option<&str>) -> bool {
    let commands: Vec<String> = match browser {
        Some(list) => list
            .split(':')
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .map(str::to_owned)
            .collect(),
        None if cfg!(target_os = "macos") => vec!["open".to_owned()],
        None => vec!["xdg-open".to_owned()],
    };
    commands.iter().any(|command| {
        // The URL goes in as the shell's $1, never into the command text: a name in it cannot
        // become shell syntax.
        let script = if command.contains("%s") {
            command.replace("%s", "\"$1\"")
        } else {
            format!("{command} \"$1\"")
        };
        let Ok(mut child) = Command::new("sh")
            .args(["-c", &script, "sh", url])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
        else {
            return false;
        };
        let started = Instant::now();
        loop {
            match child.try_wait() {
                Ok(Some(status)) => return status.success(),
                Ok(None) if started.elapsed() < SETTLE => {
                    std::thread::sleep(Duration::from_millis(25))
                }
                Ok(None) => return true,
                Err(_) => return false,
            }
        }
    })
}
