//! The console script: a simulator convention that lets a test or demo image say what
//! its application prints once it runs. The app binary carries a block of text
//!
//! ```text
//! ESPSIM-CONSOLE-BEGIN
//! I (305) app: self-test passed
//! @delay 500
//! @repeat 3
//! tick
//! @delay 100
//! @end
//! @reboot
//! ESPSIM-CONSOLE-END
//! ```
//!
//! anywhere in its bytes. Plain lines are printed (with `\r\n`), `@delay MS` pauses
//! before what follows, `@repeat N` … `@end` repeats a block (nested blocks allowed),
//! `@reboot` restarts the chip (software reset: ROM log, bootloader, the app again: a boot
//! loop when it is reached every time), `@@text` prints `@text`. A block without
//! `@reboot` leaves the app running silently after its last line.

use std::time::Duration;

pub const BEGIN: &[u8] = b"ESPSIM-CONSOLE-BEGIN\n";
pub const END: &[u8] = b"ESPSIM-CONSOLE-END";
/// Longest script looked at; a longer block is cut here.
const MAX_SCRIPT: usize = 64 * 1024;
/// Lines a script can expand to (repeats included), so a typo cannot flood memory.
pub const MAX_LINES: usize = 10_000;

/// One thing the app does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    Print(String),
    Delay(Duration),
    Reboot,
}

/// A script that does not parse: the chip prints this instead (a simulated
/// application's own complaint), so a broken test image is seen at once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScriptError(pub String);

/// Finds the script in `app` and expands it into steps. `None`: the app has no script.
pub fn find(app: &[u8]) -> Option<Result<Vec<Step>, ScriptError>> {
    let start = memfind(app, BEGIN)? + BEGIN.len();
    let rest = &app[start..app.len().min(start + MAX_SCRIPT)];
    let end = memfind(rest, END).unwrap_or(rest.len());
    Some(parse(&String::from_utf8_lossy(&rest[..end])))
}

/// Expands script text (the lines between the markers).
pub fn parse(text: &str) -> Result<Vec<Step>, ScriptError> {
    let lines: Vec<&str> = text.lines().map(|l| l.strip_suffix('\r').unwrap_or(l)).collect();
    let mut out = Vec::new();
    let mut i = 0;
    expand(&lines, &mut i, &mut out, 0)?;
    Ok(out)
}

/// Expands lines from `*i` on; true when an `@end` closed the block.
fn expand(lines: &[&str], i: &mut usize, out: &mut Vec<Step>, depth: usize) -> Result<bool, ScriptError> {
    while let Some(line) = lines.get(*i) {
        let n = *i + 1;
        *i += 1;
        let Some(directive) = line.strip_prefix('@') else {
            push(out, Step::Print(line.to_string()))?;
            continue;
        };
        if directive.starts_with('@') {
            push(out, Step::Print(directive.to_string()))?;
            continue;
        }
        let mut words = directive.split_whitespace();
        let number = |w: Option<&str>, what: &str| {
            w.and_then(|w| w.parse::<u64>().ok())
                .ok_or_else(|| ScriptError(format!("line {n}: @{what} needs a whole number")))
        };
        match words.next() {
            Some("delay") => push(out, Step::Delay(Duration::from_millis(number(words.next(), "delay")?)))?,
            Some("reboot") => push(out, Step::Reboot)?,
            Some("repeat") => {
                let times = number(words.next(), "repeat")?;
                let mut body = Vec::new();
                if !expand(lines, i, &mut body, depth + 1)? {
                    return Err(ScriptError(format!("line {n}: @repeat without @end")));
                }
                for _ in 0..times {
                    for s in &body {
                        push(out, s.clone())?;
                    }
                }
            }
            Some("end") if depth > 0 => return Ok(true),
            Some("end") => return Err(ScriptError(format!("line {n}: @end without @repeat"))),
            other => {
                return Err(ScriptError(format!("line {n}: unknown directive @{}", other.unwrap_or(""))));
            }
        }
    }
    Ok(false)
}

fn push(out: &mut Vec<Step>, s: Step) -> Result<(), ScriptError> {
    if out.len() >= MAX_LINES {
        return Err(ScriptError(format!("the script expands to more than {MAX_LINES} steps")));
    }
    out.push(s);
    Ok(())
}

fn memfind(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;
    use Step::*;

    fn ms(n: u64) -> Step {
        Delay(Duration::from_millis(n))
    }

    #[test]
    fn scripts_expand() {
        let p = |s: &str| Step::Print(s.into());
        let cases: Vec<(&str, Vec<Step>)> = vec![
            ("hello\n", vec![p("hello")]),
            ("a\r\n@delay 20\nb", vec![p("a"), ms(20), p("b")]),
            ("@repeat 2\nx\n@delay 5\n@end\ny", vec![p("x"), ms(5), p("x"), ms(5), p("y")]),
            ("@repeat 2\n@repeat 2\nz\n@end\n@end", vec![p("z"); 4]),
            ("@@delay\n@reboot", vec![p("@delay"), Reboot]),
            ("@repeat 0\nx\n@end", vec![]),
            ("", vec![]),
        ];
        for (text, want) in cases {
            assert_eq!(parse(text), Ok(want), "{text:?}");
        }
    }

    #[test]
    fn bad_scripts_name_the_line() {
        let cases = [
            ("x\n@delay soon", "line 2: @delay needs a whole number"),
            ("@repeat 2\nx", "line 1: @repeat without @end"),
            ("@repeat 2\n@repeat 2\nz\n@end", "line 1: @repeat without @end"),
            ("x\n@end", "line 2: @end without @repeat"),
            ("@blink", "line 1: unknown directive @blink"),
            ("@repeat 100000\nx\n@end", "more than 10000"),
        ];
        for (text, want) in cases {
            let e = parse(text).unwrap_err();
            assert!(e.0.contains(want), "{text:?}: {}", e.0);
        }
    }

    #[test]
    fn the_script_is_found_inside_a_binary() {
        let mut app = vec![0x5Au8; 300];
        app.extend_from_slice(b"ESPSIM-CONSOLE-BEGIN\nI (1) app: ok\nESPSIM-CONSOLE-END\n");
        app.extend_from_slice(&[0u8; 50]);
        assert_eq!(find(&app), Some(Ok(vec![Print("I (1) app: ok".into())])));
        assert_eq!(find(&[0x5A; 100]), None);
    }
}
