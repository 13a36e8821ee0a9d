//! Space on a file system, from statvfs.

use std::path::Path;

/// Sizes in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FsUsage {
    pub total: u64,
    /// Free blocks, including those only root may use.
    pub free: u64,
    /// Free blocks an unprivileged writer may use.
    pub available: u64,
}

pub fn usage(path: &Path) -> std::io::Result<FsUsage> {
    let st = nix::sys::statvfs::statvfs(path).map_err(std::io::Error::from)?;
    let unit = st.fragment_size() as u64;
    Ok(FsUsage {
        total: (st.blocks() as u64).saturating_mul(unit),
        free: (st.blocks_free() as u64).saturating_mul(unit),
        available: (st.blocks_available() as u64).saturating_mul(unit),
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_current_directory_has_a_size() {
        let u = super::usage(std::path::Path::new(".")).unwrap();
        assert!(u.total > 0);
        assert!(u.available <= u.free && u.free <= u.total);
    }
}
