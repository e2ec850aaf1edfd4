//! Who hears whom, and the mixing arithmetic (pure code).
//!
//! A [`MixMatrix`] says, for every listener, which speakers it hears; nobody
//! ever hears themselves. [`mix`] sums the heard frames per listener in 32 bits
//! and saturates to 16 bits (no wrap-around on loud sums).

/// Kind of mixer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MixKind {
    /// Everyone hears everyone else.
    Conference,
    /// Trainer ("coach") session: the caller hears only the employee; the
    /// employee hears the caller and the trainer; the trainer hears both.
    Coach,
}

/// A participant's role in a mixer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MixRole {
    /// A conference member (in a coach mixer: hears everyone and is heard by everyone).
    Member,
    /// Coach mode: the caller.
    Caller,
    /// Coach mode: the employee.
    Employee,
    /// Coach mode: the trainer.
    Trainer,
}

/// Does `listener` hear `speaker` (different participants) in a mixer of `kind`?
pub fn role_hears(kind: MixKind, listener: MixRole, speaker: MixRole) -> bool {
    use MixRole::*;
    match kind {
        MixKind::Conference => true,
        MixKind::Coach => match (listener, speaker) {
            (Member, _) | (_, Member) => true,
            (Caller, Employee) => true,
            (Caller, _) => false,
            (Employee, Caller | Trainer | Employee) => true,
            (Trainer, _) => true,
        },
    }
}

/// Square matrix: `hears(listener, speaker)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MixMatrix {
    n: usize,
    cells: Vec<bool>,
}

impl MixMatrix {
    /// `n` participants, nobody hears anybody.
    pub fn new(n: usize) -> Self {
        MixMatrix {
            n,
            cells: vec![false; n * n],
        }
    }

    /// Conference of `n`: everyone hears everyone else.
    pub fn conference(n: usize) -> Self {
        let mut m = MixMatrix::new(n);
        for l in 0..n {
            for s in 0..n {
                m.set(l, s, true);
            }
        }
        m
    }

    /// The coach matrix for participants in the order caller, employee, trainer.
    pub fn coach() -> Self {
        MixMatrix::for_roles(
            MixKind::Coach,
            &[MixRole::Caller, MixRole::Employee, MixRole::Trainer],
        )
    }

    /// The matrix for participants with `roles` in a mixer of `kind`.
    pub fn for_roles(kind: MixKind, roles: &[MixRole]) -> Self {
        let mut m = MixMatrix::new(roles.len());
        for (l, &lr) in roles.iter().enumerate() {
            for (s, &sr) in roles.iter().enumerate() {
                m.set(l, s, role_hears(kind, lr, sr));
            }
        }
        m
    }

    /// Number of participants.
    pub fn len(&self) -> usize {
        self.n
    }

    /// True for a matrix of no participants.
    pub fn is_empty(&self) -> bool {
        self.n == 0
    }

    /// Let `listener` hear `speaker` (or not). Self-hearing and out-of-range indices are ignored.
    pub fn set(&mut self, listener: usize, speaker: usize, hears: bool) {
        if listener == speaker || listener >= self.n || speaker >= self.n {
            return;
        }
        if let Some(c) = self.cells.get_mut(listener * self.n + speaker) {
            *c = hears;
        }
    }

    /// Whether `listener` hears `speaker` (always false for oneself or out of range).
    pub fn hears(&self, listener: usize, speaker: usize) -> bool {
        listener != speaker
            && listener < self.n
            && speaker < self.n
            && self
                .cells
                .get(listener * self.n + speaker)
                .copied()
                .unwrap_or(false)
    }
}

/// Mix one tick: `frames[j]` is participant `j`'s input (`None` = silent).
///
/// Returns one output frame per participant of the matrix (as long as the
/// longest input frame; shorter inputs count as zero-padded): the saturated sum
/// of the frames it hears. Participants beyond `frames.len()` are silent.
pub fn mix(frames: &[Option<&[i16]>], matrix: &MixMatrix) -> Vec<Vec<i16>> {
    let len = frames.iter().flatten().map(|f| f.len()).max().unwrap_or(0);
    (0..matrix.len())
        .map(|listener| {
            let mut acc = vec![0i32; len];
            for (speaker, frame) in frames.iter().enumerate() {
                let Some(frame) = frame else { continue };
                if !matrix.hears(listener, speaker) {
                    continue;
                }
                for (a, &s) in acc.iter_mut().zip(frame.iter()) {
                    *a += i32::from(s);
                }
            }
            acc.into_iter()
                .map(|v| v.clamp(i32::from(i16::MIN), i32::from(i16::MAX)) as i16)
                .collect()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coach_matrix() {
        let m = MixMatrix::coach();
        let (c, e, t) = (0, 1, 2);
        assert!(m.hears(c, e) && !m.hears(c, t) && !m.hears(c, c));
        assert!(m.hears(e, c) && m.hears(e, t) && !m.hears(e, e));
        assert!(m.hears(t, c) && m.hears(t, e) && !m.hears(t, t));
        assert!(!m.hears(5, 0));
    }

    #[test]
    fn mix_sums_heard_frames_and_saturates() {
        let a = [1000i16; 4];
        let b = [20i16; 4];
        let c = [30_000i16; 2];
        let m = MixMatrix::conference(3);
        let out = mix(&[Some(&a), Some(&b), Some(&c)], &m);
        assert_eq!(out[0], vec![30_020, 30_020, 20, 20]);
        assert_eq!(out[1], vec![31_000, 31_000, 1000, 1000]);
        assert_eq!(out[2], vec![1020; 4]);
        let loud = [30_000i16; 2];
        let neg = [-30_000i16; 2];
        let out = mix(&[Some(&loud), Some(&loud), None], &m);
        assert_eq!(out[2], vec![i16::MAX; 2]);
        assert_eq!(out[0], vec![30_000; 2]);
        let out = mix(&[Some(&neg), Some(&neg), None], &m);
        assert_eq!(out[2], vec![i16::MIN; 2]);
        // Coach: the caller never hears the trainer.
        let out = mix(&[Some(&a), Some(&b), Some(&c)], &MixMatrix::coach());
        assert_eq!(out[0], vec![20; 4]);
        assert_eq!(out[1], vec![31_000, 31_000, 1000, 1000]);
        assert_eq!(out[2], vec![1020; 4]);
        // Nothing present: empty frames.
        assert_eq!(
            mix(&[None, None], &MixMatrix::conference(2)),
            vec![vec![]; 2]
        );
        let mut m = MixMatrix::new(2);
        m.set(0, 0, true);
        m.set(0, 1, true);
        assert!(!m.hears(0, 0) && m.hears(0, 1) && !m.hears(1, 0));
        assert_eq!(
            MixMatrix::for_roles(MixKind::Coach, &[MixRole::Member, MixRole::Caller]),
            MixMatrix::conference(2)
        );
    }
}
