//! Password hashing (argon2id, PHC strings), the password policy and random passwords.
//!
//! argon2 needs 19 MiB of working memory per hash. Allocating it per login from whatever
//! thread runs the login left glibc with many arenas full of freed 19 MiB blocks (gigabytes
//! after a flood of logins, never returned). Hashing therefore takes a [`Scratch`]: the
//! working memory of one hashing thread, allocated once and reused for every hash.

use argon2::password_hash::phc::{Output, ParamsString, PasswordHash, Salt};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use subtle::ConstantTimeEq;

pub(crate) const MIN_LENGTH: usize = 8;
pub(super) const MAX_LENGTH: usize = 1024;

/// The most working memory (KiB) a stored hash may ask for: four times what castd uses. A
/// hash asking for more (planted through a restored backup, say) never matches, so one
/// login can never allocate more than this.
const MAX_M_COST: u32 = 4 * Params::DEFAULT_M_COST;
/// The most passes and lanes a stored hash may ask for, for the same reason (CPU).
const MAX_T_COST: u32 = 16;
const MAX_P_COST: u32 = 16;

/// The working memory of argon2, kept by one thread and reused for every hash it computes.
#[derive(Default)]
pub(super) struct Scratch {
    blocks: Vec<Block>,
}

impl Scratch {
    /// The first `count` blocks, grown (once) when a hash needs more than ever before.
    fn blocks(&mut self, count: usize) -> &mut [Block] {
        if self.blocks.len() < count {
            // Replaced, not grown: a `Vec` that grows may keep twice what it needs.
            self.blocks = Vec::new();
            self.blocks = vec![Block::new(); count];
        }
        &mut self.blocks[..count]
    }

    /// Bytes held, for tests.
    #[cfg(test)]
    fn held(&self) -> usize {
        self.blocks.capacity() * Block::SIZE
    }
}

/// Hashes a password with argon2id (castd's parameters) and a random salt into a PHC
/// string. Slow on purpose: call it off the async threads.
#[expect(
    clippy::expect_used,
    reason = "invariant: argon2 with default parameters cannot fail, they encode, and 32 bytes is a valid output length"
)]
pub(super) fn hash(password: &str, scratch: &mut Scratch) -> String {
    let params = Params::default();
    let salt = Salt::generate();
    let mut out = [0u8; Params::DEFAULT_OUTPUT_LEN];
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone())
        .hash_password_into_with_memory(
            password.as_bytes(),
            &salt,
            &mut out,
            scratch.blocks(params.block_count()),
        )
        .expect("argon2 with default parameters and a random salt cannot fail");
    PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(&params).expect("default parameters encode"),
        salt: Some(salt),
        hash: Some(Output::new(&out).expect("32 bytes is a valid output length")),
    }
    .to_string()
}

/// Whether `password` matches the PHC string. A malformed stored hash, or one whose
/// parameters exceed castd's bounds, never matches.
pub(super) fn verify(password: &str, phc: &str, scratch: &mut Scratch) -> bool {
    let Ok(parsed) = PasswordHash::new(phc) else {
        return false;
    };
    let (Some(salt), Some(expected)) = (&parsed.salt, &parsed.hash) else {
        return false;
    };
    let Ok(algorithm) = Algorithm::try_from(parsed.algorithm.as_str()) else {
        return false;
    };
    let Ok(version) = parsed
        .version
        .map_or(Ok(Version::default()), Version::try_from)
    else {
        return false;
    };
    let Ok(params) = Params::try_from(&parsed) else {
        return false;
    };
    if params.m_cost() > MAX_M_COST || params.t_cost() > MAX_T_COST || params.p_cost() > MAX_P_COST
    {
        log::warn!(
            "a stored password hash asks for m={} t={} p={}, more than castd computes; it never matches",
            params.m_cost(),
            params.t_cost(),
            params.p_cost()
        );
        return false;
    }
    let mut out = vec![0u8; expected.len()];
    let computed = Argon2::new(algorithm, version, params.clone()).hash_password_into_with_memory(
        password.as_bytes(),
        salt,
        &mut out,
        scratch.blocks(params.block_count()),
    );
    computed.is_ok() && bool::from(out.ct_eq(expected.as_bytes()))
}

/// Checks a new password against the policy.
pub(super) fn check_policy(password: &str) -> Result<(), String> {
    let chars = password.chars().count();
    if chars < MIN_LENGTH {
        return Err(format!("must be at least {MIN_LENGTH} characters"));
    }
    if password.len() > MAX_LENGTH {
        return Err(format!("must be at most {MAX_LENGTH} bytes"));
    }
    if password.chars().any(char::is_control) {
        return Err("must not contain control characters".into());
    }
    Ok(())
}

/// A random password of 20 characters from an alphabet without look-alikes (about 113 bits).
pub(crate) fn random() -> String {
    const ALPHABET: &[u8] = b"abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    (0..20)
        .map(|_| ALPHABET[rand::random_range(0..ALPHABET.len())] as char)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    use argon2::password_hash::{PasswordHasher as _, PasswordVerifier as _};

    #[test]
    fn hashes_are_argon2id_and_verify() {
        let mut scratch = Scratch::default();
        let phc = hash("correct horse", &mut scratch);
        assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{phc}");
        assert!(verify("correct horse", &phc, &mut scratch));
        assert!(!verify("correct horsf", &phc, &mut scratch));
        assert!(!verify("correct horse", "not a hash", &mut scratch));
        assert_ne!(phc, hash("correct horse", &mut scratch), "salts differ");
    }

    #[test]
    fn reused_memory_gives_the_same_answers_as_the_argon2_crate() {
        let mut scratch = Scratch::default();
        // Hashes made by the crate itself, with castd's and with smaller parameters, checked
        // one after the other with the same memory (which then holds the previous hash's
        // blocks).
        let small = Argon2::new(
            Algorithm::Argon2id,
            Version::V0x13,
            Params::new(64, 3, 2, None).unwrap(),
        );
        let theirs = [
            Argon2::default()
                .hash_password(b"first")
                .unwrap()
                .to_string(),
            small.hash_password(b"second").unwrap().to_string(),
            Argon2::default()
                .hash_password(b"third")
                .unwrap()
                .to_string(),
        ];
        for _ in 0..2 {
            for (phc, password) in theirs.iter().zip(["first", "second", "third"]) {
                assert!(verify(password, phc, &mut scratch), "{phc}");
                assert!(!verify("wrong", phc, &mut scratch), "{phc}");
            }
        }
        // And the crate accepts what castd makes.
        let ours = hash("fourth", &mut scratch);
        let parsed = PasswordHash::new(&ours).unwrap();
        assert!(
            Argon2::default()
                .verify_password(b"fourth", &parsed)
                .is_ok()
        );
        assert_eq!(
            scratch.held(),
            Params::default().block_count() * Block::SIZE
        );
    }

    #[test]
    fn hashes_asking_for_too_much_memory_never_match() {
        let greedy = Argon2::new(
            Algorithm::Argon2id,
            Version::V0x13,
            Params::new(MAX_M_COST + 8, 1, 1, None).unwrap(),
        );
        let phc = greedy.hash_password(b"pw").unwrap().to_string();
        let mut scratch = Scratch::default();
        assert!(!verify("pw", &phc, &mut scratch));
        assert_eq!(scratch.held(), 0, "nothing was allocated for it");
    }

    #[test]
    fn policy_and_random_passwords() {
        assert!(check_policy("short").is_err());
        assert!(check_policy("long enough").is_ok());
        assert!(check_policy("tab\there!").is_err());
        let p = random();
        assert_eq!(p.len(), 20);
        assert!(check_policy(&p).is_ok());
        assert_ne!(p, random());
    }
}
