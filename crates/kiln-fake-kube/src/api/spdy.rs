//! The server side of SPDY/3.1 framing, as much as port-forward needs: frames parsed from a
//! byte stream, frames written, and the header blocks' zlib compression with the protocol's
//! preset dictionary (client blocks are inflated; ours are sent as stored, uncompressed
//! deflate blocks, which every zlib reader accepts).

use miniz_oxide::inflate::TINFLStatus;
use miniz_oxide::inflate::core::inflate_flags::{
    TINFL_FLAG_HAS_MORE_INPUT, TINFL_FLAG_USING_NON_WRAPPING_OUTPUT_BUF,
};
use miniz_oxide::inflate::core::{DecompressorOxide, decompress};

pub const SYN_STREAM: u16 = 1;
pub const SYN_REPLY: u16 = 2;
pub const RST_STREAM: u16 = 3;
pub const PING: u16 = 6;
pub const GOAWAY: u16 = 7;
pub const FLAG_FIN: u8 = 0x01;
const VERSION: u16 = 3;
/// Longest frame accepted (SPDY's length field is 24 bits).
const MAX_FRAME: usize = 1 << 24;

/// One frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    Control {
        kind: u16,
        flags: u8,
        payload: Vec<u8>,
    },
    Data {
        stream: u32,
        flags: u8,
        payload: Vec<u8>,
    },
}

/// Takes the first complete frame off `buf`, if there is one.
pub fn next_frame(buf: &mut Vec<u8>) -> Result<Option<Frame>, String> {
    if buf.len() < 8 {
        return Ok(None);
    }
    let length = usize::from(buf[5]) << 16 | usize::from(buf[6]) << 8 | usize::from(buf[7]);
    if length >= MAX_FRAME {
        return Err(format!("frame of {length} bytes"));
    }
    if buf.len() < 8 + length {
        return Ok(None);
    }
    let head: Vec<u8> = buf.drain(..8).collect();
    let payload: Vec<u8> = buf.drain(..length).collect();
    let flags = head[4];
    if head[0] & 0x80 != 0 {
        let version = u16::from_be_bytes([head[0] & 0x7f, head[1]]);
        if version != VERSION {
            return Err(format!("SPDY version {version}, expected {VERSION}"));
        }
        let kind = u16::from_be_bytes([head[2], head[3]]);
        Ok(Some(Frame::Control {
            kind,
            flags,
            payload,
        }))
    } else {
        let stream = u32::from_be_bytes([head[0], head[1], head[2], head[3]]);
        Ok(Some(Frame::Data {
            stream,
            flags,
            payload,
        }))
    }
}

fn length_bytes(length: usize) -> [u8; 3] {
    let l = u32::try_from(length.min(MAX_FRAME - 1))
        .unwrap_or(0)
        .to_be_bytes();
    [l[1], l[2], l[3]]
}

/// A control frame's bytes.
pub fn control(kind: u16, flags: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 + payload.len());
    out.extend_from_slice(&(0x8000 | VERSION).to_be_bytes());
    out.extend_from_slice(&kind.to_be_bytes());
    out.push(flags);
    out.extend_from_slice(&length_bytes(payload.len()));
    out.extend_from_slice(payload);
    out
}

/// A data frame's bytes.
pub fn data(stream: u32, flags: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 + payload.len());
    out.extend_from_slice(&(stream & 0x7fff_ffff).to_be_bytes());
    out.push(flags);
    out.extend_from_slice(&length_bytes(payload.len()));
    out.extend_from_slice(payload);
    out
}

/// The first 31-bit stream id of a control frame's payload.
pub fn stream_id(payload: &[u8]) -> Option<u32> {
    let bytes: [u8; 4] = payload.get(..4)?.try_into().ok()?;
    Some(u32::from_be_bytes(bytes) & 0x7fff_ffff)
}

/// Header names of the SPDY/3 compression dictionary, each written with its 32-bit length.
const DICTIONARY_NAMES: [&str; 65] = [
    "options",
    "head",
    "post",
    "put",
    "delete",
    "trace",
    "accept",
    "accept-charset",
    "accept-encoding",
    "accept-language",
    "accept-ranges",
    "age",
    "allow",
    "authorization",
    "cache-control",
    "connection",
    "content-base",
    "content-encoding",
    "content-language",
    "content-length",
    "content-location",
    "content-md5",
    "content-range",
    "content-type",
    "date",
    "etag",
    "expect",
    "expires",
    "from",
    "host",
    "if-match",
    "if-modified-since",
    "if-none-match",
    "if-range",
    "if-unmodified-since",
    "last-modified",
    "location",
    "max-forwards",
    "pragma",
    "proxy-authenticate",
    "proxy-authorization",
    "range",
    "referer",
    "retry-after",
    "server",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "user-agent",
    "vary",
    "via",
    "warning",
    "www-authenticate",
    "method",
    "get",
    "status",
    "200 OK",
    "version",
    "HTTP/1.1",
    "url",
    "public",
    "set-cookie",
    "keep-alive",
    "origin",
];

/// The rest of the dictionary: status codes and phrases, dates, content types, as one string.
const DICTIONARY_TAIL: &str = concat!(
    "100101201202205206300302303304305306307402405406407408409410411412413414415416417502504505",
    "203 Non-Authoritative Information204 No Content301 Moved Permanently400 Bad Request",
    "401 Unauthorized403 Forbidden404 Not Found500 Internal Server Error501 Not Implemented",
    "503 Service UnavailableJan Feb Mar Apr May Jun Jul Aug Sept Oct Nov Dec 00:00:00 ",
    "Mon, Tue, Wed, Thu, Fri, Sat, Sun, GMTchunked,text/html,image/png,image/jpg,image/gif,",
    "application/xml,application/xhtml+xml,text/plain,text/javascript,publicprivatemax-age=",
    "gzip,deflate,sdchcharset=utf-8charset=iso-8859-1,utf-,*,enq=0.",
);

/// The preset dictionary of SPDY/3 header compression (1423 bytes).
pub fn dictionary() -> Vec<u8> {
    let mut out = Vec::with_capacity(1423);
    for name in DICTIONARY_NAMES {
        let length = u32::try_from(name.len()).unwrap_or(0);
        out.extend_from_slice(&length.to_be_bytes());
        out.extend_from_slice(name.as_bytes());
    }
    out.extend_from_slice(DICTIONARY_TAIL.as_bytes());
    out
}

/// Inflates the client's header blocks: one zlib stream across all of a connection's
/// frames, started with the preset dictionary.
pub struct HeaderReader {
    inflater: Box<DecompressorOxide>,
    /// The dictionary, then everything inflated so far (back-references reach into both).
    history: Vec<u8>,
    started: bool,
}

impl HeaderReader {
    pub fn new() -> HeaderReader {
        HeaderReader {
            inflater: Box::default(),
            history: dictionary(),
            started: false,
        }
    }

    /// The name/value pairs of one header block.
    pub fn read(&mut self, block: &[u8]) -> Result<Vec<(String, String)>, String> {
        let raw = self.inflate(block)?;
        parse_pairs(&raw)
    }

    fn inflate(&mut self, mut block: &[u8]) -> Result<Vec<u8>, String> {
        if !self.started {
            let [cmf, flg, ..] = *block else {
                return Err("header block shorter than a zlib header".into());
            };
            if cmf & 0x0f != 8 || (u16::from(cmf) << 8 | u16::from(flg)) % 31 != 0 {
                return Err("header block is not a zlib stream".into());
            }
            let skip = if flg & 0x20 != 0 { 6 } else { 2 };
            block = block.get(skip..).ok_or("zlib header cut short")?;
            self.started = true;
        }
        let start = self.history.len();
        let mut filled = start;
        loop {
            if self.history.len() < filled + 4096 {
                self.history.resize(filled + 4096, 0);
            }
            let flags = TINFL_FLAG_USING_NON_WRAPPING_OUTPUT_BUF | TINFL_FLAG_HAS_MORE_INPUT;
            let (status, read, written) =
                decompress(&mut self.inflater, block, &mut self.history, filled, flags);
            block = &block[read..];
            filled += written;
            match status {
                TINFLStatus::HasMoreOutput => {}
                TINFLStatus::NeedsMoreInput | TINFLStatus::Done if block.is_empty() => break,
                TINFLStatus::NeedsMoreInput | TINFLStatus::Done => {}
                other => return Err(format!("cannot inflate a header block: {other:?}")),
            }
        }
        self.history.truncate(filled);
        Ok(self.history[start..].to_vec())
    }
}

fn parse_pairs(raw: &[u8]) -> Result<Vec<(String, String)>, String> {
    let mut cursor = Cursor { raw, at: 0 };
    let count = cursor.word()?;
    let mut pairs = Vec::new();
    for _ in 0..count {
        let name = cursor.text()?;
        let value = cursor.text()?;
        pairs.push((name, value));
    }
    Ok(pairs)
}

struct Cursor<'a> {
    raw: &'a [u8],
    at: usize,
}

impl Cursor<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8], String> {
        let part = self
            .raw
            .get(self.at..self.at.saturating_add(n))
            .ok_or("header block cut short")?;
        self.at += n;
        Ok(part)
    }

    fn word(&mut self) -> Result<usize, String> {
        let bytes: [u8; 4] = self
            .take(4)?
            .try_into()
            .map_err(|_| "header block cut short")?;
        Ok(u32::from_be_bytes(bytes) as usize)
    }

    fn text(&mut self) -> Result<String, String> {
        let n = self.word()?;
        Ok(String::from_utf8_lossy(self.take(n)?).into_owned())
    }
}

/// Writes our header blocks: a zlib stream without dictionary made of stored blocks, each
/// block ending as a sync flush does.
#[derive(Default)]
pub struct HeaderWriter {
    started: bool,
}

impl HeaderWriter {
    pub fn write(&mut self, pairs: &[(&str, &str)]) -> Vec<u8> {
        let mut raw = Vec::new();
        let word = |raw: &mut Vec<u8>, n: usize| {
            raw.extend_from_slice(&u32::try_from(n).unwrap_or(0).to_be_bytes());
        };
        word(&mut raw, pairs.len());
        for (name, value) in pairs {
            word(&mut raw, name.len());
            raw.extend_from_slice(name.as_bytes());
            word(&mut raw, value.len());
            raw.extend_from_slice(value.as_bytes());
        }
        let mut out = Vec::with_capacity(raw.len() + 7);
        if !self.started {
            out.extend_from_slice(&[0x78, 0x01]);
            self.started = true;
        }
        for chunk in raw.chunks(0xffff) {
            let length = u16::try_from(chunk.len()).unwrap_or(0);
            out.push(0x00);
            out.extend_from_slice(&length.to_le_bytes());
            out.extend_from_slice(&(!length).to_le_bytes());
            out.extend_from_slice(chunk);
        }
        // An empty stored block, as zlib's sync flush writes: a reader (Go's flate) hands
        // out what it inflated once it has read it, without reading past this frame.
        out.extend_from_slice(&[0x00, 0x00, 0x00, 0xff, 0xff]);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_dictionary_is_the_protocols() {
        let dictionary = dictionary();
        assert_eq!(dictionary.len(), 1423);
        // The dictionary id SPDY/3 clients put in their zlib header: Adler-32 of it.
        let (mut a, mut b) = (1u32, 0u32);
        for byte in &dictionary {
            a = (a + u32::from(*byte)) % 65521;
            b = (b + a) % 65521;
        }
        assert_eq!(b << 16 | a, 0xe3c6_a7c2);
    }

    #[test]
    fn frames_round_trip_through_the_parser() {
        let mut buf = control(PING, 0, &7u32.to_be_bytes());
        buf.extend(data(5, FLAG_FIN, b"hello"));
        buf.extend_from_slice(&[0x80, 0x03]);
        assert_eq!(
            next_frame(&mut buf).unwrap(),
            Some(Frame::Control {
                kind: PING,
                flags: 0,
                payload: 7u32.to_be_bytes().to_vec()
            })
        );
        assert_eq!(
            next_frame(&mut buf).unwrap(),
            Some(Frame::Data {
                stream: 5,
                flags: FLAG_FIN,
                payload: b"hello".to_vec()
            })
        );
        assert_eq!(next_frame(&mut buf).unwrap(), None);
        assert_eq!(buf, [0x80, 0x03]);
    }

    #[test]
    fn our_header_blocks_are_read_back() {
        let mut writer = HeaderWriter::default();
        let mut reader = HeaderReader::new();
        // Our blocks carry no dictionary: read them with a reader started without one.
        reader.history.clear();
        let first = writer.write(&[("streamtype", "data"), ("port", "8080")]);
        assert_eq!(
            reader.read(&first).unwrap(),
            [
                ("streamtype".to_owned(), "data".to_owned()),
                ("port".to_owned(), "8080".to_owned())
            ]
        );
        let second = writer.write(&[]);
        assert_eq!(reader.read(&second).unwrap(), []);
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        let mut reader = HeaderReader::new();
        assert!(reader.read(&[0x12]).is_err());
        assert!(
            reader
                .read(&[0x78, 0xbb, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff])
                .is_err()
        );
        let mut buf = vec![0x80, 0x02, 0, 1, 0, 0, 0, 0];
        assert!(next_frame(&mut buf).is_err());
    }
}
