//! Hex text for frames: `01 03 00 00` for humans (traces, test vectors) and a forgiving
//! parser for vectors written with spaces, newlines and `#` comments.

/// Upper-case hex bytes separated by single spaces.
pub fn spaced(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 3);
    for (i, b) in bytes.iter().enumerate() {
        if i > 0 {
            s.push(' ');
        }
        s.push(char::from(b"0123456789ABCDEF"[(b >> 4) as usize]));
        s.push(char::from(b"0123456789ABCDEF"[(b & 15) as usize]));
    }
    s
}

/// Parses hex digits, ignoring whitespace and `#` comments to the end of a line.
pub fn parse(text: &str) -> Result<Vec<u8>, String> {
    let mut digits = String::new();
    for line in text.lines() {
        let line = line.split('#').next().unwrap_or("");
        digits.extend(line.chars().filter(|c| !c.is_whitespace()));
    }
    hex::decode(&digits).map_err(|e| format!("bad hex: {e}"))
}

#[cfg(test)]
mod tests {
    #[test]
    fn round_trip() {
        let b = super::parse("# comment\n01 03\n0a FF # tail\n").unwrap();
        assert_eq!(b, vec![1, 3, 10, 255]);
        assert_eq!(super::spaced(&b), "01 03 0A FF");
        assert!(super::parse("0").is_err());
    }
}
