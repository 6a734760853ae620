//! Colours for people, only on a terminal: never in a pipe, a file, or
//! when `NO_COLOR` is set (https://no-color.org).

use std::io::IsTerminal;

/// ANSI styling, on or off.
#[derive(Clone, Copy, Debug, Default)]
pub struct Style {
    enabled: bool,
}

impl Style {
    /// Colours when stdout is a terminal, `NO_COLOR` is unset and TERM is not "dumb".
    pub fn for_stdout() -> Self {
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        let dumb = std::env::var("TERM").is_ok_and(|t| t == "dumb");
        Self {
            enabled: std::io::stdout().is_terminal() && !no_color && !dumb,
        }
    }

    pub fn plain() -> Self {
        Self { enabled: false }
    }

    /// Whether escape sequences are written (a terminal may also redraw lines).
    pub fn is_terminal(&self) -> bool {
        self.enabled
    }

    fn paint(&self, code: &str, text: &str) -> String {
        if self.enabled {
            format!("\u{1b}[{code}m{text}\u{1b}[0m")
        } else {
            text.to_string()
        }
    }

    pub fn green(&self, text: &str) -> String {
        self.paint("32", text)
    }

    pub fn red(&self, text: &str) -> String {
        self.paint("31", text)
    }

    pub fn yellow(&self, text: &str) -> String {
        self.paint("33", text)
    }

    pub fn cyan(&self, text: &str) -> String {
        self.paint("36", text)
    }

    pub fn dim(&self, text: &str) -> String {
        self.paint("2", text)
    }

    pub fn bold(&self, text: &str) -> String {
        self.paint("1", text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_writes_no_escapes() {
        assert_eq!(Style::plain().red("x"), "x");
        assert_eq!(Style { enabled: true }.red("x"), "\u{1b}[31mx\u{1b}[0m");
    }
}
