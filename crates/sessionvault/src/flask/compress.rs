//! zlib, as itsdangerous uses it for payloads that shrink when compressed.
//!
//! The backend is C zlib (flate2's `zlib` feature, built from the bundled source by `libz-sys`
//! with `static`), chosen on purpose: Python's `zlib.compress` is C zlib at level 6, and only the
//! same deflate implementation produces the same bytes, which byte-for-byte cookie compatibility
//! needs. Pure-Rust deflaters (miniz_oxide, zlib-rs) produce valid but different streams.
//! Decoding accepts any valid zlib stream from any deflater.

use std::cell::RefCell;

use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};

use crate::Error;

/// The level `zlib.compress` uses by default (`Z_DEFAULT_COMPRESSION`).
const PYTHON_DEFAULT_LEVEL: u32 = 6;

thread_local! {
    // One zlib stream per thread, reset between uses: a fresh deflate stream allocates about
    // 256 KiB, which costs more than compressing a cookie. A reset stream produces exactly the
    // bytes a fresh one would.
    static DEFLATE: RefCell<Compress> =
        RefCell::new(Compress::new(Compression::new(PYTHON_DEFAULT_LEVEL), true));
    static INFLATE: RefCell<Decompress> = RefCell::new(Decompress::new(true));
}

/// `zlib.compress(data)`.
pub(crate) fn compress(data: &[u8]) -> Vec<u8> {
    DEFLATE.with(|z| {
        let mut z = z.borrow_mut();
        z.reset();
        compress_with(&mut z, data)
    })
}

fn compress_with(z: &mut Compress, data: &[u8]) -> Vec<u8> {
    // deflateBound-style headroom: stored blocks add 5 bytes per 16 KiB, plus header and trailer.
    let mut out = Vec::with_capacity(data.len() + data.len() / 1000 + 64);
    loop {
        let consumed = z.total_in() as usize;
        let status = z.compress_vec(&data[consumed..], &mut out, FlushCompress::Finish);
        match status {
            Ok(Status::StreamEnd) => return out,
            // Out of room: grow and go on.
            Ok(Status::Ok | Status::BufError) => out.reserve(out.capacity().max(64)),
            // Compressing from memory into memory has no failure mode in zlib other than a
            // programming error; the loop cannot see one, so finish with what zlib said.
            Err(_) => return out,
        }
    }
}

/// `zlib.decompress(data)`, refusing to produce more than `limit` bytes. Like Python, bytes
/// after the end of the stream are ignored.
pub(crate) fn decompress(data: &[u8], limit: usize) -> Result<Vec<u8>, Error> {
    INFLATE.with(|z| {
        let mut z = z.borrow_mut();
        z.reset(true);
        decompress_with(&mut z, data, limit)
    })
}

fn decompress_with(z: &mut Decompress, data: &[u8], limit: usize) -> Result<Vec<u8>, Error> {
    let mut out = Vec::with_capacity((data.len() * 4).min(limit) + 1);
    loop {
        let consumed = z.total_in() as usize;
        let produced_before = z.total_out();
        let status = z
            .decompress_vec(&data[consumed..], &mut out, FlushDecompress::None)
            .map_err(|_| Error::malformed("payload is not a valid zlib stream"))?;
        if out.len() > limit {
            return Err(Error::TooLarge {
                len: out.len(),
                limit,
            });
        }
        match status {
            Status::StreamEnd => return Ok(out),
            _ if out.len() == out.capacity() => {
                // One byte past the limit is enough to tell a bomb.
                let room = (out.capacity() * 2).min(limit + 1) - out.len();
                if room == 0 {
                    return Err(Error::TooLarge {
                        len: out.len(),
                        limit,
                    });
                }
                out.reserve_exact(room);
            }
            _ if z.total_in() as usize == data.len() || z.total_out() == produced_before => {
                return Err(Error::malformed("zlib stream is truncated"));
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let data = b"{\"a\":1}".repeat(500);
        let z = compress(&data);
        assert!(z.len() < data.len() / 10);
        assert_eq!(decompress(&z, 1 << 20).unwrap(), data);
    }

    #[test]
    fn matches_python_zlib_bytes() {
        // python3 -c 'import zlib; print(zlib.compress(b"hello hello hello hello").hex())'
        assert_eq!(
            hex::encode(compress(b"hello hello hello hello")),
            "789ccb48cdc9c957c8402701680308b1"
        );
    }

    #[test]
    fn bombs_truncation_and_garbage_are_refused() {
        let bomb = compress(&vec![0u8; 10 << 20]);
        assert!(matches!(
            decompress(&bomb, 1 << 20),
            Err(Error::TooLarge { .. })
        ));
        let z = compress(&b"abcdefgh".repeat(100));
        assert!(decompress(&z[..z.len() - 3], 1 << 20).is_err());
        assert!(decompress(b"not zlib at all", 1 << 20).is_err());
        assert!(decompress(b"", 1 << 20).is_err());
        let mut trailing = z;
        trailing.extend_from_slice(b"junk");
        assert_eq!(
            decompress(&trailing, 1 << 20).unwrap(),
            b"abcdefgh".repeat(100)
        );
    }
}
