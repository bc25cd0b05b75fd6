//! A wordlist read as bytes, in chunks of whole lines, so that a list of any size is tried in
//! constant memory. Lines may end in LF or CRLF; blank lines are skipped; nothing is parsed.

use std::io::{self, Read};

/// How much one worker takes at a time: big enough that handing out chunks costs nothing
/// measurable, small enough that workers finish close together.
const CHUNK: usize = 1 << 20;

/// Hands out chunks that end on a line boundary.
pub(crate) struct ChunkReader<R> {
    inner: R,
    /// The start of a line the last read cut in two.
    carry: Vec<u8>,
    done: bool,
}

impl<R: Read> ChunkReader<R> {
    pub(crate) fn new(inner: R) -> Self {
        Self {
            inner,
            carry: Vec::new(),
            done: false,
        }
    }

    /// The next chunk of whole lines, or `None` at the end.
    pub(crate) fn next_chunk(&mut self) -> io::Result<Option<Vec<u8>>> {
        if self.done {
            return Ok(None);
        }
        let mut chunk = std::mem::take(&mut self.carry);
        let start = chunk.len();
        chunk.resize(start + CHUNK, 0);
        let mut filled = start;
        while filled < chunk.len() {
            match self.inner.read(&mut chunk[filled..]) {
                Ok(0) => {
                    self.done = true;
                    break;
                }
                Ok(n) => filled += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        chunk.truncate(filled);
        if !self.done {
            // Keep the unfinished last line for the next chunk. A single line longer than a
            // chunk is passed on whole once it ends.
            match chunk.iter().rposition(|b| *b == b'\n') {
                Some(end) => self.carry = chunk.split_off(end + 1),
                None => {
                    self.carry = chunk;
                    return self.next_chunk();
                }
            }
        }
        Ok((!chunk.is_empty()).then_some(chunk))
    }
}

/// The candidate keys in a chunk: each line without its `\n` or `\r\n`, blank lines skipped.
pub(crate) fn candidates(chunk: &[u8]) -> impl Iterator<Item = &[u8]> {
    chunk
        .split(|b| *b == b'\n')
        .map(|line| line.strip_suffix(b"\r").unwrap_or(line))
        .filter(|line| !line.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all_lines(data: &[u8]) -> Vec<Vec<u8>> {
        let mut reader = ChunkReader::new(data);
        let mut out = Vec::new();
        while let Some(chunk) = reader.next_chunk().unwrap() {
            out.extend(candidates(&chunk).map(<[u8]>::to_vec));
        }
        out
    }

    #[test]
    fn crlf_blank_lines_and_invalid_utf8() {
        let lines = all_lines(b"one\r\n\r\n\ntwo\n\xff\xfe\nlast-without-newline");
        assert_eq!(
            lines,
            [&b"one"[..], b"two", b"\xff\xfe", b"last-without-newline"]
        );
        assert!(all_lines(b"").is_empty());
        assert!(all_lines(b"\n\r\n\n").is_empty());
    }

    #[test]
    fn lines_are_never_split_across_chunks() {
        let mut data = Vec::new();
        for i in 0..300_000 {
            data.extend_from_slice(format!("candidate-{i:07}\n").as_bytes());
        }
        let lines = all_lines(&data);
        assert_eq!(lines.len(), 300_000);
        assert!(lines.iter().all(|l| l.len() == 17));
        // A line longer than a chunk still comes through whole.
        let long = vec![b'x'; CHUNK * 2 + 5];
        let mut data = long.clone();
        data.extend_from_slice(b"\nshort\n");
        assert_eq!(all_lines(&data), [long, b"short".to_vec()]);
    }
}
