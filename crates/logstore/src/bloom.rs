//! Blocked bloom filter: each key sets [`PROBES`] bits inside one 64-bit
//! word, so a lookup touches one cache line. Sized at build time from the
//! number of distinct keys; the serialized form is the little-endian words.

pub const PROBES: u32 = 3;

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Bloom {
    words: Vec<u64>,
}

#[inline]
fn word_and_mask(h: u64, nwords: usize) -> (usize, u64) {
    let w = (((h >> 32) * nwords as u64) >> 32) as usize;
    let mut m = 0u64;
    let mut x = h;
    for _ in 0..PROBES {
        m |= 1u64 << (x & 63);
        x >>= 6;
    }
    (w, m)
}

impl Bloom {
    /// A filter for `keys` (duplicates allowed) with about `bits_per_key` bits
    /// per distinct key.
    pub fn build(keys: &[u64], bits_per_key: usize) -> Self {
        let nwords = (keys.len() * bits_per_key).div_ceil(64).max(1);
        let mut words = vec![0u64; nwords];
        for &k in keys {
            let (w, m) = word_and_mask(mix(k), nwords);
            words[w] |= m;
        }
        Self { words }
    }

    #[inline]
    pub fn may_contain(&self, key: u64) -> bool {
        if self.words.is_empty() {
            return true;
        }
        let (w, m) = word_and_mask(mix(key), self.words.len());
        self.words[w] & m == m
    }

    pub fn to_bytes(&self, out: &mut Vec<u8>) {
        for w in &self.words {
            out.extend_from_slice(&w.to_le_bytes());
        }
    }

    pub fn from_bytes(b: &[u8]) -> Self {
        Self {
            words: b
                .chunks_exact(8)
                .map(|c| u64::from_le_bytes(c.try_into().unwrap()))
                .collect(),
        }
    }

    pub fn byte_len(&self) -> usize {
        self.words.len() * 8
    }
}

/// Keys are already hashes; a cheap remix decorrelates word and bit choice.
#[inline]
fn mix(mut x: u64) -> u64 {
    x ^= x >> 33;
    x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
    x ^= x >> 33;
    x
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn members_found_and_false_positive_rate_reasonable() {
        let keys: Vec<u64> = (0..10_000u64)
            .map(|i| crate::tokens::hash(&i.to_le_bytes()))
            .collect();
        let b = Bloom::build(&keys, 10);
        assert!(keys.iter().all(|&k| b.may_contain(k)));
        let fp = (10_000..110_000u64)
            .filter(|i| b.may_contain(crate::tokens::hash(&i.to_le_bytes())))
            .count();
        assert!(fp < 5_000, "false positives {fp}");
        let b5 = Bloom::build(&keys, 5);
        let fp5 = (10_000..110_000u64)
            .filter(|i| b5.may_contain(crate::tokens::hash(&i.to_le_bytes())))
            .count();
        assert!(fp5 < 15_000, "false positives at 5 bits/key {fp5}");
        let rt = Bloom::from_bytes(&{
            let mut v = Vec::new();
            b.to_bytes(&mut v);
            v
        });
        assert_eq!(rt, b);
        assert!(Bloom::default().may_contain(1));
    }
}
