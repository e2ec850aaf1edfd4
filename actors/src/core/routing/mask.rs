//! Number masks: `*` matches any run of digits (including none), `?` exactly one digit.

/// Whether `number` matches `mask`. Iterative with one backtrack point, so it is linear in
/// practice and never recurses on hostile input.
pub fn mask_matches(mask: &str, number: &str) -> bool {
    let m = mask.as_bytes();
    let n = number.as_bytes();
    let (mut mi, mut ni) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while ni < n.len() {
        match m.get(mi) {
            Some(b'*') => {
                star = Some((mi, ni));
                mi += 1;
            }
            Some(b'?') if n[ni].is_ascii_digit() => {
                mi += 1;
                ni += 1;
            }
            Some(&c) if c == n[ni] => {
                mi += 1;
                ni += 1;
            }
            _ => match star {
                Some((smi, sni)) if n[sni].is_ascii_digit() => {
                    mi = smi + 1;
                    ni = sni + 1;
                    star = Some((smi, sni + 1));
                }
                _ => return false,
            },
        }
    }
    m[mi..].iter().all(|&c| c == b'*')
}

#[cfg(test)]
mod tests {
    use super::mask_matches;

    #[test]
    fn masks() {
        assert!(mask_matches("7495*", "74951234567"));
        assert!(mask_matches("7495*", "7495"));
        assert!(!mask_matches("7495*", "7812"));
        assert!(mask_matches("7?95*67", "74951234567"));
        assert!(!mask_matches("7?95", "7x95"));
        assert!(mask_matches("*567", "74951234567"));
        assert!(mask_matches("*", ""));
        assert!(!mask_matches("?", ""));
        assert!(mask_matches("74951234567", "74951234567"));
        assert!(!mask_matches("7495123456", "74951234567"));
        assert!(mask_matches("7*4*7", "74951234567"));
    }
}
