//! Query text → tokens, each with the byte offset it starts at.

use super::QueryError;

#[derive(Debug, Clone, PartialEq)]
pub enum Tok {
    /// A name: a column, table, operator or function (`project-away`, `in~`
    /// and `has_cs` included).
    Ident(String),
    /// A negated string operator without its `!`: `!contains` → `contains`.
    NotOp(String),
    Str(String),
    Long(i64),
    Real(f64),
    /// A timespan literal (`5m`, `1.5d`), in microseconds.
    Timespan(i64),
    /// The raw text between the parentheses of `datetime(...)`.
    Datetime(String),
    Punct(&'static str),
    End,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Token {
    pub tok: Tok,
    pub at: usize,
    /// Where it ends: a wildcard pattern's pieces must touch.
    pub end: usize,
}

const PUNCTS: [&str; 27] = [
    "==", "!=", "=~", "!~", "<=", ">=", "..", "|", "(", ")", ",", "=", "<", ">", "+", "-", "*", "/", "%", ".", ";",
    "{", "}", "[", "]", ":", "$",
];

/// Operators spelled with a dash, lexed as one name.
const DASHED: [&str; 7] = [
    "project-away",
    "project-rename",
    "project-keep",
    "project-reorder",
    "mv-expand",
    "mv-apply",
    "make-series",
];

pub fn tokenize(text: &str) -> Result<Vec<Token>, QueryError> {
    let mut lexer = Lexer { text, at: 0 };
    let mut tokens = Vec::new();
    loop {
        lexer.skip_space();
        let at = lexer.at;
        let Some(c) = lexer.peek() else {
            tokens.push(Token {
                tok: Tok::End,
                at,
                end: at,
            });
            return Ok(tokens);
        };
        let tok = if c == '"' || c == '\'' {
            Tok::Str(lexer.string(c)?)
        } else if c == '@' && matches!(lexer.peek_at(1), Some('"' | '\'')) {
            lexer.at += 1;
            Tok::Str(lexer.verbatim()?)
        } else if matches!(c, 'h' | 'H') && matches!(lexer.peek_at(1), Some('"' | '\'')) {
            // An obfuscated literal (`h"secret"`): a plain string here.
            lexer.at += 1;
            let quote = lexer.peek().unwrap_or('"');
            Tok::Str(lexer.string(quote)?)
        } else if c.is_ascii_digit() {
            lexer.number()?
        } else if c == '!' && lexer.peek_at(1).is_some_and(|c| c.is_ascii_alphabetic()) {
            lexer.at += 1;
            Tok::NotOp(lexer.name())
        } else if c.is_alphabetic() || c == '_' {
            let name = lexer.name();
            if name == "datetime" {
                lexer.datetime_body()?.map_or(Tok::Ident(name), Tok::Datetime)
            } else {
                Tok::Ident(name)
            }
        } else if let Some(p) = PUNCTS.iter().find(|p| text[at..].starts_with(**p)) {
            lexer.at += p.len();
            Tok::Punct(p)
        } else {
            return Err(QueryError::at(text, at, format!("unexpected character '{c}'")));
        };
        tokens.push(Token { tok, at, end: lexer.at });
    }
}

struct Lexer<'a> {
    text: &'a str,
    at: usize,
}

impl Lexer<'_> {
    fn peek(&self) -> Option<char> {
        self.text[self.at..].chars().next()
    }

    fn peek_at(&self, n: usize) -> Option<char> {
        self.text[self.at..].chars().nth(n)
    }

    fn error(&self, at: usize, message: impl Into<String>) -> QueryError {
        QueryError::at(self.text, at, message)
    }

    /// Whitespace and `//` comments.
    fn skip_space(&mut self) {
        loop {
            let rest = &self.text[self.at..];
            let trimmed = rest.trim_start();
            self.at += rest.len() - trimmed.len();
            if trimmed.starts_with("//") {
                self.at += trimmed.find('\n').unwrap_or(trimmed.len());
            } else {
                return;
            }
        }
    }

    fn name(&mut self) -> String {
        let start = self.at;
        while self.peek().is_some_and(|c| c.is_alphanumeric() || c == '_') {
            self.at += self.peek().map_or(1, char::len_utf8);
        }
        if self.peek() == Some('~') && &self.text[start..self.at] == "in" {
            self.at += 1;
        }
        let rest = &self.text[start..];
        if let Some(dashed) = DASHED
            .iter()
            .find(|d| rest.starts_with(**d) && !rest[d.len()..].starts_with(|c: char| c.is_alphanumeric() || c == '_'))
        {
            self.at = start + dashed.len();
        }
        self.text[start..self.at].to_string()
    }

    /// `"..."` or `'...'` with backslash escapes.
    fn string(&mut self, quote: char) -> Result<String, QueryError> {
        let start = self.at;
        self.at += 1;
        let mut value = String::new();
        while let Some(c) = self.peek() {
            self.at += c.len_utf8();
            match c {
                c if c == quote => return Ok(value),
                '\n' => break,
                '\\' => {
                    let escape_at = self.at - 1;
                    let Some(e) = self.peek() else { break };
                    self.at += e.len_utf8();
                    value.push(match e {
                        '\\' => '\\',
                        '"' => '"',
                        '\'' => '\'',
                        'n' => '\n',
                        't' => '\t',
                        'r' => '\r',
                        '0' => '\0',
                        other => {
                            return Err(self.error(
                                escape_at,
                                format!(
                                    "unknown escape '\\{other}' in a string; use \\\\ for a backslash, \
                                     or a verbatim string @\"...\""
                                ),
                            ));
                        }
                    });
                }
                c => value.push(c),
            }
        }
        Err(self.error(start, "string not closed before the end of the line"))
    }

    /// `@"..."`: no escapes; a doubled quote stands for one.
    fn verbatim(&mut self) -> Result<String, QueryError> {
        let start = self.at - 1;
        let quote = self.peek().unwrap_or('"');
        self.at += 1;
        let mut value = String::new();
        while let Some(c) = self.peek() {
            self.at += c.len_utf8();
            if c == quote {
                if self.peek() == Some(quote) {
                    self.at += 1;
                    value.push(quote);
                    continue;
                }
                return Ok(value);
            }
            if c == '\n' {
                break;
            }
            value.push(c);
        }
        Err(self.error(start, "verbatim string not closed before the end of the line"))
    }

    /// `42`, `0.5`, or a timespan: `30s`, `5m`, `1.5d`, `100ms`.
    fn number(&mut self) -> Result<Tok, QueryError> {
        let start = self.at;
        while self.peek().is_some_and(|c| c.is_ascii_digit()) {
            self.at += 1;
        }
        let mut real = false;
        if self.peek() == Some('.') && self.peek_at(1).is_some_and(|c| c.is_ascii_digit()) {
            real = true;
            self.at += 1;
            while self.peek().is_some_and(|c| c.is_ascii_digit()) {
                self.at += 1;
            }
        }
        let digits = &self.text[start..self.at];
        let unit_start = self.at;
        while self.peek().is_some_and(|c| c.is_ascii_alphabetic()) {
            self.at += 1;
        }
        let unit = &self.text[unit_start..self.at];
        if unit.is_empty() {
            return if real {
                digits
                    .parse()
                    .map(Tok::Real)
                    .map_err(|_| self.error(start, "bad number"))
            } else {
                digits
                    .parse()
                    .map(Tok::Long)
                    .map_err(|_| self.error(start, "number too large"))
            };
        }
        let micros_per_unit: f64 = match unit {
            "d" | "day" | "days" => 86_400e6,
            "h" | "hr" | "hrs" | "hour" | "hours" => 3_600e6,
            "m" | "min" | "minute" | "minutes" => 60e6,
            "s" | "sec" | "second" | "seconds" => 1e6,
            "ms" | "milli" | "millis" | "millisecond" | "milliseconds" => 1e3,
            "microsecond" | "microseconds" => 1.0,
            _ => {
                return Err(self.error(
                    unit_start,
                    format!("unknown timespan unit '{unit}'; use d, h, m, s, ms or microsecond"),
                ));
            }
        };
        let value: f64 = digits.parse().map_err(|_| self.error(start, "bad number"))?;
        let micros = value * micros_per_unit;
        if !micros.is_finite() || micros.abs() > i64::MAX as f64 {
            return Err(self.error(start, "timespan too large"));
        }
        Ok(Tok::Timespan(micros.round() as i64))
    }

    /// After the name `datetime`: its parenthesised raw text, if a `(` follows.
    fn datetime_body(&mut self) -> Result<Option<String>, QueryError> {
        let rest = &self.text[self.at..];
        let trimmed = rest.trim_start();
        if !trimmed.starts_with('(') {
            return Ok(None);
        }
        let open = self.at + (rest.len() - trimmed.len());
        let Some(close) = self.text[open..].find(')') else {
            return Err(self.error(open, "datetime( is not closed"));
        };
        self.at = open + close + 1;
        Ok(Some(self.text[open + 1..open + close].trim().to_string()))
    }
}
