//! zlib, as itsdangerous uses it for payloads that shrink when compressed.
//!
//! The backend is C zlib (flate2's `zlib` feature, built from the bundled source by `libz-sys`
//! with `static`), chosen on purpose: Python's `zlib.compress` is C zlib at level 6, and only the
//! same deflate implementation produces the same bytes, which byte-for-byte cookie compatibility
//! needs. Pure-Rust deflaters (miniz_oxide, zlib-rs) produce valid but different streams.
//!
//! Decoding accepts any valid zlib stream from any deflater, so it uses zlib-rs, which inflates
//! a cookie's few hundred bytes faster than C zlib (about 1.3 to 1.6 times on the
//! `flask_codec` benchmark's sessions) and, being Rust, carries no C parser on the path of
//! untrusted input.

use std::cell::RefCell;

use flate2::{Compress, Compression, FlushCompress, Status};
use zlib_rs::{Inflate, InflateFlush};

use crate::Error;

/// The level `zlib.compress` uses by default (`Z_DEFAULT_COMPRESSION`).
const PYTHON_DEFAULT_LEVEL: u32 = 6;

thread_local! {
    // One zlib stream per thread, reset between uses: a fresh deflate stream allocates about
    // 256 KiB, which costs more than compressing a cookie. A reset stream produces exactly the
    // bytes a fresh one would.
    static DEFLATE: RefCell<Compress> =
        RefCell::new(Compress::new(Compression::new(PYTHON_DEFAULT_LEVEL), true));
    static INFLATE: RefCell<Inflater> = RefCell::new(Inflater {
        stream: Inflate::new(true, ZLIB_WINDOW_BITS),
        out: Vec::new(),
    });
}

/// The window `zlib.compress` writes (and the largest zlib allows): 32 KiB.
const ZLIB_WINDOW_BITS: u8 = 15;

/// The first output room for a payload: about a cookie's worth.
const FIRST_ROOM: usize = 4096;

/// A reusable inflate stream and output buffer: the buffer grows to the largest payload seen
/// (at most the limit plus one byte) and is never cleared, so a decode neither allocates a
/// stream nor zeroes memory; only the bytes it produced are copied out.
struct Inflater {
    stream: Inflate,
    out: Vec<u8>,
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
        let Inflater { stream, out } = &mut *z;
        stream.reset(true);
        decompress_with(stream, out, data, limit)
    })
}

fn decompress_with(
    z: &mut Inflate,
    out: &mut Vec<u8>,
    data: &[u8],
    limit: usize,
) -> Result<Vec<u8>, Error> {
    // One byte past the limit is enough to tell a bomb.
    let cap = limit.saturating_add(1);
    if out.len() < FIRST_ROOM.min(cap) {
        out.resize(FIRST_ROOM.min(cap), 0);
    }
    let mut end = out.len().min(cap);
    loop {
        let (consumed, produced_before) = (z.total_in() as usize, z.total_out() as usize);
        let status = z
            .decompress(
                &data[consumed..],
                &mut out[produced_before..end],
                InflateFlush::NoFlush,
            )
            .map_err(|_| Error::malformed("payload is not a valid zlib stream"))?;
        let produced = z.total_out() as usize;
        if produced > limit {
            return Err(Error::TooLarge {
                len: produced,
                limit,
            });
        }
        match status {
            zlib_rs::Status::StreamEnd => return Ok(out[..produced].to_vec()),
            _ if produced == end => {
                end = end.saturating_mul(2).min(cap);
                if produced == end {
                    return Err(Error::TooLarge {
                        len: produced,
                        limit,
                    });
                }
                if out.len() < end {
                    out.resize(end, 0);
                }
            }
            _ if z.total_in() as usize == data.len() || produced == produced_before => {
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
    fn output_grows_past_the_first_room_up_to_exactly_the_limit() {
        let data: Vec<u8> = (0..100_000u32)
            .flat_map(|i| (i % 251).to_le_bytes())
            .collect();
        let z = compress(&data);
        assert_eq!(decompress(&z, data.len()).unwrap(), data);
        assert!(matches!(
            decompress(&z, data.len() - 1),
            Err(Error::TooLarge { .. })
        ));
        // A small payload after a large one still comes out whole, not with the large one's tail.
        assert_eq!(decompress(&compress(b"{}"), 1 << 20).unwrap(), b"{}");
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
