//! Caller numbers are personal data: logs show them through [`Pii`].

use std::fmt;

/// A value that is masked in logs: all but the last two characters become `*`.
pub struct Pii<'a>(pub &'a str);

impl fmt::Display for Pii<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.0.chars().count();
        for (i, c) in self.0.chars().enumerate() {
            if i + 2 >= n {
                write!(f, "{c}")?;
            } else {
                f.write_str("*")?;
            }
        }
        Ok(())
    }
}

impl fmt::Debug for Pii<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn masks_all_but_the_last_two() {
        assert_eq!(super::Pii("79161234567").to_string(), "*********67");
        assert_eq!(super::Pii("1").to_string(), "1");
    }
}
