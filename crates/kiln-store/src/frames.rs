//! How a log file holds its text: as frames of up to [`FRAME_BYTES`] of text, each an LZ4
//! block, or the text as it is where LZ4 does not make it smaller. A loud build's short lines
//! (`[Stage] y` fifty million times) shrink a hundredfold, ordinary build output several
//! times: the store writes and syncs that much less, which is what bounds how fast a build's
//! log can be stored durably (a disk that syncs 100-200 MB/s cannot keep up with a process
//! printing its output at that rate once each line carries its stage's prefix).
//!
//! Nothing in the file says where a frame starts: sled's `log_frames` tree holds, per append,
//! a [`Frames`] (where its frames start in the file and each one's sizes), committed in the
//! same transaction as the log's new length, after the frames were synced.

use serde::{Deserialize, Serialize};

/// The most text in one frame. A read decodes whole frames, so this bounds what a read at
/// an arbitrary offset decodes beyond what it returns.
pub(crate) const FRAME_BYTES: usize = 64 * 1024;

/// Where one append's text lies in its log file.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Frames {
    /// The file offset of the append's first frame.
    pub at: u64,
    /// Per frame: the length of its text and its length in the file. A frame as long in the
    /// file as its text is the text itself; a shorter one is an LZ4 block.
    pub sizes: Vec<(u32, u32)>,
}

impl Frames {
    /// The file offset just past the append's last frame.
    pub(crate) fn file_end(&self) -> u64 {
        self.at + self.sizes.iter().map(|(_, s)| u64::from(*s)).sum::<u64>()
    }

    /// The length of the append's text.
    pub(crate) fn text_len(&self) -> u64 {
        self.sizes.iter().map(|(t, _)| u64::from(*t)).sum()
    }
}

/// Encodes `text` as frames onto the end of `out`; returns each frame's sizes.
pub(crate) fn encode(text: &[u8], out: &mut Vec<u8>) -> Vec<(u32, u32)> {
    let mut sizes = Vec::with_capacity(text.len().div_ceil(FRAME_BYTES));
    for piece in text.chunks(FRAME_BYTES) {
        let start = out.len();
        out.resize(
            start + lz4_flex::block::get_maximum_output_size(piece.len()),
            0,
        );
        let stored = match lz4_flex::block::compress_into(piece, &mut out[start..]) {
            Ok(n) if n < piece.len() => n,
            // Not smaller (or, never in practice, not encodable): the text as it is.
            _ => {
                out.truncate(start);
                out.extend_from_slice(piece);
                piece.len()
            }
        };
        out.truncate(start + stored);
        // A frame holds at most FRAME_BYTES, so both sizes fit.
        let len = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
        sizes.push((len(piece.len()), len(stored)));
    }
    sizes
}

/// The frame in the file is not what its sizes say.
#[derive(Debug)]
pub(crate) struct Damaged;

/// Decodes one frame (`stored`, holding `text_len` bytes of text) onto the end of `out`.
pub(crate) fn decode(stored: &[u8], text_len: usize, out: &mut Vec<u8>) -> Result<(), Damaged> {
    if stored.len() == text_len {
        out.extend_from_slice(stored);
        return Ok(());
    }
    if stored.len() > text_len {
        return Err(Damaged);
    }
    let at = out.len();
    out.resize(at + text_len, 0);
    match lz4_flex::block::decompress_into(stored, &mut out[at..]) {
        Ok(n) if n == text_len => Ok(()),
        _ => {
            out.truncate(at);
            Err(Damaged)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(text: &[u8]) -> (Vec<u8>, Vec<(u32, u32)>) {
        let mut file = b"before".to_vec();
        let sizes = encode(text, &mut file);
        let frames = Frames { at: 6, sizes };
        assert_eq!(frames.file_end(), file.len() as u64);
        assert_eq!(frames.text_len(), text.len() as u64);
        let mut out = Vec::new();
        let mut at = 6usize;
        for &(t, s) in &frames.sizes {
            decode(&file[at..at + s as usize], t as usize, &mut out).unwrap();
            at += s as usize;
        }
        assert_eq!(out, text);
        (file, frames.sizes)
    }

    #[test]
    fn short_lines_shrink_and_noise_is_kept_as_it_is() {
        let lines = "[Loud] y\n".repeat(20_000);
        let (file, sizes) = round_trip(lines.as_bytes());
        assert_eq!(sizes.len(), lines.len().div_ceil(FRAME_BYTES));
        assert!(file.len() * 50 < lines.len(), "{} bytes", file.len());
        // Bytes LZ4 cannot shrink (a simple generator's output) are stored as they are.
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let noise: Vec<u8> = (0..150_000)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        let (file, sizes) = round_trip(&noise);
        assert!(sizes.iter().all(|(t, s)| t == s), "{sizes:?}");
        assert_eq!(file.len(), noise.len() + 6);
        round_trip(b"");
        round_trip(b"x");
    }

    #[test]
    fn a_damaged_frame_is_said_not_returned() {
        let text = "abc\n".repeat(1000);
        let mut file = Vec::new();
        let sizes = encode(text.as_bytes(), &mut file);
        let (t, s) = sizes[0];
        assert!(s < t);
        let mut out = b"kept".to_vec();
        // Cut short, longer than its text, or with its bytes changed.
        assert!(decode(&file[..s as usize - 1], t as usize, &mut out).is_err());
        assert!(decode(&[0u8; 5000], t as usize, &mut out).is_err());
        file[0] = 0xff;
        file[1] = 0xff;
        assert!(decode(&file[..s as usize], t as usize, &mut out).is_err());
        assert_eq!(out, b"kept", "nothing of a damaged frame is added");
    }
}
