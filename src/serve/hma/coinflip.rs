//! HMA's coin flip for partially enabled banks: `random.Random(seed).random()`
//! of CPython (Mersenne Twister MT19937, a `str` seed hashed as CPython's
//! version-2 seeding does), so a client that sends `seed=` gets the same
//! banks from hashsieve as from HMA. A bank answers when its
//! `matching_enabled_ratio >= coinflip`.

use sha2::{Digest, Sha512};

const N: usize = 624;
const M: usize = 397;

struct Mt {
    state: [u32; N],
    index: usize,
}

impl Mt {
    fn init_genrand(s: u32) -> Mt {
        let mut state = [0u32; N];
        state[0] = s;
        for i in 1..N {
            state[i] = 1_812_433_253u32
                .wrapping_mul(state[i - 1] ^ (state[i - 1] >> 30))
                .wrapping_add(i as u32);
        }
        Mt { state, index: N }
    }

    fn init_by_array(key: &[u32]) -> Mt {
        let mut mt = Mt::init_genrand(19_650_218);
        let s = &mut mt.state;
        let (mut i, mut j) = (1usize, 0usize);
        for _ in 0..N.max(key.len()) {
            s[i] = (s[i] ^ (s[i - 1] ^ (s[i - 1] >> 30)).wrapping_mul(1_664_525))
                .wrapping_add(key[j])
                .wrapping_add(j as u32);
            i += 1;
            j += 1;
            if i >= N {
                s[0] = s[N - 1];
                i = 1;
            }
            if j >= key.len() {
                j = 0;
            }
        }
        for _ in 0..N - 1 {
            s[i] = (s[i] ^ (s[i - 1] ^ (s[i - 1] >> 30)).wrapping_mul(1_566_083_941))
                .wrapping_sub(i as u32);
            i += 1;
            if i >= N {
                s[0] = s[N - 1];
                i = 1;
            }
        }
        s[0] = 0x8000_0000;
        mt
    }

    fn next_u32(&mut self) -> u32 {
        if self.index >= N {
            for k in 0..N {
                let y = (self.state[k] & 0x8000_0000) | (self.state[(k + 1) % N] & 0x7fff_ffff);
                let mag = if y & 1 == 1 { 0x9908_b0df } else { 0 };
                self.state[k] = self.state[(k + M) % N] ^ (y >> 1) ^ mag;
            }
            self.index = 0;
        }
        let mut y = self.state[self.index];
        self.index += 1;
        y ^= y >> 11;
        y ^= (y << 7) & 0x9d2c_5680;
        y ^= (y << 15) & 0xefc6_0000;
        y ^ (y >> 18)
    }

    /// CPython's `random()`: 53 random bits in [0, 1).
    fn random(&mut self) -> f64 {
        let a = f64::from(self.next_u32() >> 5);
        let b = f64::from(self.next_u32() >> 6);
        (a * 67_108_864.0 + b) * (1.0 / 9_007_199_254_740_992.0)
    }
}

/// `random.Random(seed).random()` for a `str` seed.
pub fn python_random(seed: &str) -> f64 {
    // CPython: a = int.from_bytes(seed + sha512(seed), "big"), then the
    // key is a's 32-bit words, least significant first.
    let mut bytes = seed.as_bytes().to_vec();
    bytes.extend_from_slice(&Sha512::digest(seed.as_bytes()));
    let mut key: Vec<u32> = bytes
        .rchunks(4)
        .map(|c| c.iter().fold(0u32, |acc, &b| (acc << 8) | u32::from(b)))
        .collect();
    while key.len() > 1 && key.last() == Some(&0) {
        key.pop();
    }
    Mt::init_by_array(&key).random()
}

/// The coin of one lookup: HMA's `seed` when given, else a fresh one;
/// 0 with `bypass_coinflip` (every enabled bank answers).
pub fn coinflip(seed: Option<&str>, bypass: bool) -> f64 {
    if bypass {
        return 0.0;
    }
    match seed {
        Some(s) => python_random(s),
        None => {
            use std::hash::{BuildHasher, Hasher};
            let r = std::collections::hash_map::RandomState::new()
                .build_hasher()
                .finish();
            (r >> 11) as f64 * (1.0 / 9_007_199_254_740_992.0)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_cpython() {
        // CPython 3.11: random.Random(s).random()
        assert_eq!(python_random("abc"), 0.7720246314157545);
        assert_eq!(python_random("1"), 0.4782479962566343);
        assert_eq!(python_random("seed"), 0.1382359792209653);
        assert_eq!(python_random(""), 0.9602256525641875);
    }

    #[test]
    fn bypass_and_range() {
        assert_eq!(coinflip(Some("abc"), true), 0.0);
        let c = coinflip(None, false);
        assert!((0.0..1.0).contains(&c));
    }
}
