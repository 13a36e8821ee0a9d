//! How a file is cut into the parts of an S3 multipart upload: their number and where each
//! lies. Shared by the upload and the checkpoint that remembers which parts landed.

/// Parts of 8 MiB: above the 5 MiB floor of S3 multipart uploads, small enough that three
/// in flight stay modest in memory, and 10,000 parts still allow files of 80 GiB.
pub(super) const PART_SIZE: u64 = 8 * 1024 * 1024;

pub(super) fn part_count(size: u64) -> u64 {
    size.div_ceil(PART_SIZE).max(1)
}

/// Offset and length of part `part` (from 1) of a file of `size` bytes.
pub(super) fn part_range(size: u64, part: u32) -> (u64, u64) {
    let offset = u64::from(part.saturating_sub(1)) * PART_SIZE;
    (offset, PART_SIZE.min(size.saturating_sub(offset)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_cover_the_file_and_only_the_last_is_short() {
        let size = 2 * PART_SIZE + 5;
        assert_eq!(part_count(size), 3);
        assert_eq!(part_range(size, 1), (0, PART_SIZE));
        assert_eq!(part_range(size, 3), (2 * PART_SIZE, 5));
        assert_eq!(part_count(0), 1);
        assert_eq!(part_range(0, 1), (0, 0));
        assert_eq!(part_count(PART_SIZE), 1);
    }
}
