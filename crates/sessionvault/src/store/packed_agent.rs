//! A browser's User-Agent as the compact encoding keeps it: the fragments every browser repeats
//! (`Mozilla/5.0 (`, `AppleWebKit/537.36 (KHTML, like Gecko)`, ...) each written as `~` and one
//! letter, a `~` of the text itself as `~~`. A desktop Chrome's 101 bytes take 15, so the record
//! of a small browser session takes half the room (98 bytes, not 207); the text comes back
//! exactly as it was.
//!
//! Stores persist it: a letter, once given a fragment, keeps it. The 26 letters are all taken;
//! a fragment added later needs a code of its own after them (`fragment` counts from `A`, and
//! [`STARTS`] has room for 31 fragments beside the escape), and only versions that know it may
//! write it.

/// The fragments, by letter: `~A` is the first. Where several start at one place (one may be a
/// prefix of another), the longest that matches is taken (see [`pack`]).
const FRAGMENTS: [&str; 26] = [
    "Mozilla/5.0 (",
    ") AppleWebKit/537.36 (KHTML, like Gecko) ",
    "Chrome/",
    ".0.0.0",
    " Safari/537.36",
    "Windows NT 10.0; Win64; x64",
    "Macintosh; Intel Mac OS X 10_15_7",
    "X11; Linux x86_64",
    "Linux; Android 10; K",
    " Mobile",
    "; rv:",
    ") Gecko/20100101 Firefox/",
    " Edg/",
    ") AppleWebKit/605.1.15 (KHTML, like Gecko) ",
    "Version/",
    " Mobile/15E148 Safari/604.1",
    "iPhone; CPU iPhone OS ",
    " like Mac OS X",
    " Safari/605.1.15",
    "Macintosh; Intel Mac OS X 10.15",
    "iPad; CPU OS ",
    " CriOS/",
    "X11; Ubuntu; Linux x86_64",
    "Windows NT 10.0",
    "Linux; Android ",
    " OPR/",
];

const ESCAPE: u8 = b'~';

/// For each byte, the fragments that start with it, one bit each (bit `i` for `FRAGMENTS[i]`);
/// the escape's own entry is bit 31, so that one look-up finds every place that is not plain
/// text. Most places of a User-Agent start nothing and are passed over without comparing.
const STARTS: [u32; 256] = {
    let mut starts = [0; 256];
    let mut index = 0;
    while index < FRAGMENTS.len() {
        starts[FRAGMENTS[index].as_bytes()[0] as usize] |= 1 << index;
        index += 1;
    }
    starts[ESCAPE as usize] |= 1 << 31;
    starts
};

/// The letter that names `FRAGMENTS[index]`; `index` is a bit of [`STARTS`], below 32.
fn letter(index: usize) -> u8 {
    b'A' + index as u8
}

/// The fragment that `letter` names.
fn fragment(letter: u8) -> Option<&'static str> {
    FRAGMENTS
        .get(usize::from(letter.checked_sub(b'A')?))
        .copied()
}

/// The longest of the fragments in `candidates` (bits of [`STARTS`]) that `text` starts with,
/// and its index.
fn longest_at(text: &str, mut candidates: u32) -> Option<(&'static str, usize)> {
    let mut longest: Option<(&'static str, usize)> = None;
    while candidates != 0 {
        let index = candidates.trailing_zeros() as usize;
        candidates &= candidates - 1;
        if let Some(fragment) = FRAGMENTS.get(index)
            && text.starts_with(fragment)
            && longest.is_none_or(|(taken, _)| fragment.len() > taken.len())
        {
            longest = Some((fragment, index));
        }
    }
    longest
}

/// `user_agent` packed. At each place the longest fragment that starts there is taken.
pub(crate) fn pack(user_agent: &str) -> String {
    let mut packed = String::with_capacity(user_agent.len().min(64));
    let mut rest = user_agent;
    loop {
        // Text up to the next place a fragment or a `~` may start is copied as it is. Those
        // places are ASCII, so the cut falls between characters.
        let Some(run) = rest.bytes().position(|byte| STARTS[usize::from(byte)] != 0) else {
            packed.push_str(rest);
            return packed;
        };
        packed.push_str(&rest[..run]);
        rest = &rest[run..];
        let first = rest.as_bytes()[0];
        if let Some((fragment, index)) = longest_at(rest, STARTS[usize::from(first)]) {
            packed.push(char::from(ESCAPE));
            packed.push(char::from(letter(index)));
            rest = &rest[fragment.len()..];
        } else {
            if first == ESCAPE {
                packed.push(char::from(ESCAPE));
            }
            packed.push(char::from(first));
            rest = &rest[1..];
        }
    }
}

/// The User-Agent that `packed` holds, or `None` when it is malformed: a `~` at the end, or
/// before anything but `~` or a fragment's letter. (Text that [`pack`] would have written
/// otherwise, such as a fragment left unpacked, still reads as what it says.)
pub(crate) fn unpack(packed: &str) -> Option<String> {
    // Room for a browser's, which packs to about a sixth.
    let mut user_agent = String::with_capacity(packed.len() + 112);
    let bytes = packed.as_bytes();
    // Where the text not yet copied starts, and the place looked at. The byte after a `~` is
    // ASCII or the text is refused, so both fall between characters.
    let (mut copied, mut at) = (0, 0);
    while let Some(&byte) = bytes.get(at) {
        if byte != ESCAPE {
            at += 1;
            continue;
        }
        user_agent.push_str(&packed[copied..at]);
        match *bytes.get(at + 1)? {
            ESCAPE => user_agent.push(char::from(ESCAPE)),
            letter => user_agent.push_str(fragment(letter)?),
        }
        at += 2;
        copied = at;
    }
    user_agent.push_str(&packed[copied..]);
    Some(user_agent)
}

#[cfg(test)]
mod tests {
    use super::*;

    const BROWSERS: [&str; 11] = [
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) \
         Chrome/131.0.0.0 Safari/537.36",
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) \
         Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0",
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like \
         Gecko) Chrome/131.0.0.0 Safari/537.36",
        "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) \
         Chrome/131.0.0.0 Mobile Safari/537.36",
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0",
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10.15; rv:133.0) Gecko/20100101 Firefox/133.0",
        "Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like \
         Gecko) Version/18.1 Safari/605.1.15",
        "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, \
         like Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
        "Mozilla/5.0 (iPad; CPU OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like \
         Gecko) CriOS/131.0.6778.73 Mobile/15E148 Safari/604.1",
        "Mozilla/5.0 (Linux; Android 14; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) \
         Chrome/131.0.0.0 Mobile Safari/537.36 OPR/86.0.0.0",
    ];

    #[test]
    fn browsers_pack_to_a_fraction_and_come_back_as_they_were() {
        for browser in BROWSERS {
            let packed = pack(browser);
            assert_eq!(unpack(&packed).as_deref(), Some(browser), "{packed}");
            assert!(packed.len() * 2 < browser.len(), "{packed} for {browser}");
        }
        assert_eq!(pack(BROWSERS[0]), "~A~H~B~C131~D~E");
        // Where fragments start alike, the longest that matches is taken.
        for (text, packed) in [
            ("Linux; Android 10; K)", "~I)"),
            ("Linux; Android 14; K)", "~Y14; K)"),
            ("Windows NT 10.0; Win64; x64)", "~F)"),
            ("Windows NT 10.0; WOW64)", "~X; WOW64)"),
            ("X11; Ubuntu; Linux x86_64)", "~W)"),
            (" Mobile/15E148 Safari/604.1", "~P"),
            (" Mobile Safari/537.36", "~J~E"),
            ("Macintosh; Intel Mac OS X 10.15;", "~T;"),
        ] {
            assert_eq!(pack(text), packed, "{text}");
        }
    }

    #[test]
    fn any_text_comes_back_as_it_was() {
        for text in [
            "",
            "Mozilla/5.0 (Windows NT 10.0; WOW64; Trident/7.0; rv:11.0) like Gecko",
            "~",
            "~~",
            "~A",
            "a~b~~c~",
            "curl/8.5.0",
            "Mozilla/5.0 (~Chrome/~~",
            "Ünïcödé ~ Chrome/1 ~",
            ".0.0.0.0.0.0",
        ] {
            assert_eq!(unpack(&pack(text)).as_deref(), Some(text), "{text:?}");
        }
    }

    #[test]
    fn what_pack_never_writes_is_refused() {
        for packed in ["~", "a~", "~a", "~[", "~Z~", "x~~~", "~\u{e9}"] {
            assert_eq!(unpack(packed), None, "{packed:?}");
        }
    }

    #[test]
    fn every_letter_names_its_fragment_and_none_is_empty() {
        for (index, text) in FRAGMENTS.iter().enumerate() {
            let letter = letter(index);
            assert!(!text.is_empty() && !text.contains(char::from(ESCAPE)));
            assert_eq!(fragment(letter), Some(*text));
        }
        assert_eq!(fragment(b'A' + 26), None);
        assert_eq!(fragment(b'@'), None);
    }
}
