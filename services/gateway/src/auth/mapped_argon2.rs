//! Argon2 whose working memory is mapped from the OS for each hash and unmapped when it ends.
//!
//! argon2 takes its 19 MiB of blocks from the global allocator. glibc serves an allocation that
//! large with `mmap` only until the first one is freed; then it raises its mmap threshold (up to
//! 32 MiB) and serves the next ones from the calling thread's arena, which keeps the pages after
//! `free`. Hashes run on the blocking pool's many threads, each with its own arena, so the
//! gateway kept about 19 MiB per thread that ever hashed: 585–775 MiB after 200 sign-ups (issue
//! #12). Mapping the blocks here gives them back at the end of every hash, whatever the
//! allocator. Everything else (the PHC string, parameters, the constant-time comparison in
//! `verify_password`) is the argon2 and password-hash crates' own.

use argon2::{
    Algorithm, Argon2, Block, CustomizedPasswordHasher, Params, PasswordHash, PasswordHasher,
    Version,
    password_hash::{
        self,
        phc::{Output, ParamsString, Salt},
    },
};
use memmap2::MmapMut;

/// Argon2 (id, v19 and the crate's default parameters unless a stored hash names others) that
/// maps its working memory per hash; verifying comes from password-hash's blanket
/// `PasswordVerifier`, which recomputes through [`CustomizedPasswordHasher`].
#[derive(Clone, Copy, Debug, Default)]
pub struct MappedArgon2;

impl CustomizedPasswordHasher<PasswordHash> for MappedArgon2 {
    type Params = Params;

    fn hash_password_customized(
        &self,
        password: &[u8],
        salt: &[u8],
        algorithm: Option<&str>,
        version: Option<password_hash::Version>,
        params: Params,
    ) -> password_hash::Result<PasswordHash> {
        let algorithm = algorithm
            .map(Algorithm::try_from)
            .transpose()?
            .unwrap_or_default();
        let version = version
            .map(Version::try_from)
            .transpose()?
            .unwrap_or_default();
        let salt = Salt::new(salt)?;
        let output_len = params.output_len().unwrap_or(Params::DEFAULT_OUTPUT_LEN);
        let mut buffer = [0u8; Output::MAX_LENGTH];
        let out = buffer
            .get_mut(..output_len)
            .ok_or(password_hash::Error::OutputSize)?;
        let mut memory =
            MappedBlocks::new(params.block_count()).ok_or(argon2::Error::OutOfMemory)?;
        Argon2::new(algorithm, version, params.clone()).hash_password_into_with_memory(
            password,
            &salt,
            out,
            memory.blocks(),
        )?;
        Ok(PasswordHash {
            algorithm: algorithm.ident(),
            version: Some(version.into()),
            params: ParamsString::try_from(&params)?,
            salt: Some(salt),
            hash: Some(Output::new(out)?),
        })
    }
}

impl PasswordHasher<PasswordHash> for MappedArgon2 {
    fn hash_password_with_salt(
        &self,
        password: &[u8],
        salt: &[u8],
    ) -> password_hash::Result<PasswordHash> {
        self.hash_password_customized(password, salt, None, None, Params::default())
    }
}

/// `count` argon2 blocks in an anonymous mapping of their own, unmapped on drop.
struct MappedBlocks(MmapMut);

impl MappedBlocks {
    /// Maps `count` zeroed blocks; `None` when the size overflows or the OS refuses.
    fn new(count: usize) -> Option<Self> {
        let bytes = count.checked_mul(size_of::<Block>())?;
        MmapMut::map_anon(bytes).ok().map(Self)
    }

    fn blocks(&mut self) -> &mut [Block] {
        as_blocks(&mut self.0)
    }
}

// `as_blocks` relies on a block being exactly its 128 `u64`s, with no padding.
const _: () = assert!(size_of::<Block>() == Block::SIZE && Block::SIZE == 128 * 8);

/// Views a page-aligned mapping as argon2 blocks. A buffer that is not aligned to a block or
/// not a whole number of them (never the case for a fresh mapping) gives an empty slice, which
/// argon2 refuses with `MemoryTooLittle`.
#[allow(unsafe_code)]
fn as_blocks(bytes: &mut [u8]) -> &mut [Block] {
    let is_aligned = bytes.as_ptr().align_offset(align_of::<Block>()) == 0;
    if !is_aligned || !bytes.len().is_multiple_of(size_of::<Block>()) {
        return &mut [];
    }
    let count = bytes.len() / size_of::<Block>();
    // SAFETY: the pointer is aligned for `Block` and `count` blocks span exactly `bytes` (both
    // checked above). A `Block` is 128 `u64`s with no padding (the const assertion above), so
    // any initialised bytes, as every `&mut [u8]` holds, are a valid `Block`. The result
    // reborrows `bytes` mutably for its whole lifetime, so nothing else can read or write the
    // memory meanwhile and the blocks cannot outlive it.
    unsafe { std::slice::from_raw_parts_mut(bytes.as_mut_ptr().cast::<Block>(), count) }
}

#[cfg(test)]
mod tests {
    use argon2::PasswordVerifier;

    use super::*;

    #[test]
    fn hashes_verify_both_ways_with_the_crates_own_argon2() {
        let password = b"correct horse battery";
        let ours = MappedArgon2.hash_password(password).unwrap();
        let theirs = Argon2::default().hash_password(password).unwrap();
        let parameters = |hash: &PasswordHash| {
            let text = hash.to_string();
            text.split('$').take(4).collect::<Vec<_>>().join("$")
        };
        assert_eq!(parameters(&ours), parameters(&theirs));
        let crate_argon2 = Argon2::default();
        let cases: [(&str, &dyn PasswordVerifier<PasswordHash>, &PasswordHash); 3] = [
            ("ours checked by theirs", &crate_argon2, &ours),
            ("theirs checked by ours", &MappedArgon2, &theirs),
            ("ours checked by ours", &MappedArgon2, &ours),
        ];
        for (case, verifier, hash) in cases {
            assert!(
                verifier.verify_password(password, hash).is_ok(),
                "case: {case}"
            );
            assert!(
                verifier.verify_password(b"wrong horse", hash).is_err(),
                "case: {case}, wrong password"
            );
        }
    }

    #[test]
    fn only_whole_aligned_blocks_are_viewed_as_blocks() {
        let mut memory = MappedBlocks::new(2).unwrap();
        assert_eq!(memory.blocks().len(), 2);
        assert!(
            as_blocks(&mut memory.0[1..=Block::SIZE]).is_empty(),
            "misaligned"
        );
        assert!(
            as_blocks(&mut memory.0[..=Block::SIZE]).is_empty(),
            "not whole blocks"
        );
    }
}
