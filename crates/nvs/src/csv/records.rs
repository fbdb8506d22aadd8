//! Splits CSV text into records the way Python's `csv` module (excel dialect) does, after
//! dropping the lines that start with `#` as the official generator does.
//!
//! Fields are separated by commas; a field may be quoted with `"` (a doubled `""` inside is
//! one quote, and a quoted field may span lines); nothing is trimmed; a blank line is no
//! record. Line ends may be `\n`, `\r\n` or `\r`.

/// One record: the line it starts on (from 1) and its fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub line: usize,
    pub fields: Vec<String>,
}

/// A quoted field that the text ends inside.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnterminatedQuote {
    pub line: usize,
}

enum State {
    StartField,
    Unquoted,
    Quoted,
    QuoteInQuoted,
}

/// The records of `text`, comment lines dropped.
pub fn records(text: &str) -> Result<Vec<Record>, UnterminatedQuote> {
    let normalised = text.replace("\r\n", "\n").replace('\r', "\n");
    let mut out = Vec::new();
    let mut fields: Vec<String> = Vec::new();
    let mut field = String::new();
    let mut state = State::StartField;
    let mut start_line = 0;
    for (n, line) in normalised.split_inclusive('\n').enumerate() {
        let in_record = !fields.is_empty() || !matches!(state, State::StartField);
        if line.starts_with('#') {
            continue;
        }
        if !in_record {
            start_line = n + 1;
            if line == "\n" {
                continue;
            }
        }
        for c in line.chars() {
            match (&state, c) {
                (State::StartField, '"') => state = State::Quoted,
                (State::StartField | State::Unquoted, ',') => {
                    fields.push(std::mem::take(&mut field));
                    state = State::StartField;
                }
                (State::StartField | State::Unquoted | State::QuoteInQuoted, '\n') => {
                    fields.push(std::mem::take(&mut field));
                    out.push(Record { line: start_line, fields: std::mem::take(&mut fields) });
                    state = State::StartField;
                }
                (State::StartField | State::Unquoted, c) => {
                    field.push(c);
                    state = State::Unquoted;
                }
                (State::Quoted, '"') => state = State::QuoteInQuoted,
                (State::Quoted, c) => field.push(c),
                (State::QuoteInQuoted, '"') => {
                    field.push('"');
                    state = State::Quoted;
                }
                (State::QuoteInQuoted, ',') => {
                    fields.push(std::mem::take(&mut field));
                    state = State::StartField;
                }
                (State::QuoteInQuoted, c) => {
                    field.push(c);
                    state = State::Unquoted;
                }
            }
        }
    }
    match state {
        State::Quoted => Err(UnterminatedQuote { line: start_line }),
        _ if !fields.is_empty() || !field.is_empty() || matches!(state, State::QuoteInQuoted) => {
            fields.push(field);
            out.push(Record { line: start_line, fields });
            Ok(out)
        }
        _ => Ok(out),
    }
}

#[cfg(test)]
mod tests {
    use super::{records, Record, UnterminatedQuote};

    fn rec(line: usize, fields: &[&str]) -> Record {
        Record { line, fields: fields.iter().map(|f| f.to_string()).collect() }
    }

    #[test]
    fn splits_like_python_csv() {
        let cases: [(&str, Vec<Record>); 9] = [
            ("a,b,c\n", vec![rec(1, &["a", "b", "c"])]),
            ("a,b,c", vec![rec(1, &["a", "b", "c"])]),
            ("a,,\n\n,x\n", vec![rec(1, &["a", "", ""]), rec(3, &["", "x"])]),
            ("# comment\nk,v\n#x,y\n", vec![rec(2, &["k", "v"])]),
            ("\"a,b\",\"c\"\"d\"\n", vec![rec(1, &["a,b", "c\"d"])]),
            ("\"two\nlines\",x\ny\n", vec![rec(1, &["two\nlines", "x"]), rec(3, &["y"])]),
            ("a\r\nb\rc\n", vec![rec(1, &["a"]), rec(2, &["b"]), rec(3, &["c"])]),
            (" a , b\n", vec![rec(1, &[" a ", " b"])]),
            ("\"ab\"c,d\"e\n", vec![rec(1, &["abc", "d\"e"])]),
        ];
        for (text, want) in cases {
            assert_eq!(records(text).unwrap(), want, "{text:?}");
        }
    }

    #[test]
    fn unterminated_quote_names_its_line() {
        assert_eq!(records("k,v\n\"open,x\n"), Err(UnterminatedQuote { line: 2 }));
    }
}
