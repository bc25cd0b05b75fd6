use sessionvault::flask::decode_unverified;

use crate::exit;
use crate::input::cookie_value;

pub(crate) fn run(cookie: &str, raw: bool) -> anyhow::Result<u8> {
    let cookie = cookie_value(cookie)?;
    let decoded = match decode_unverified(&cookie) {
        Ok(decoded) => decoded,
        Err(err) => {
            eprintln!("sessionvault: {err}");
            return Ok(exit::NEGATIVE);
        }
    };
    eprintln!(
        "note: signature NOT verified. Anyone holding this cookie can read it: signing is not \
         encryption."
    );
    if raw {
        println!("{}", crate::escape::for_stdout(&decoded.raw_json));
        return Ok(exit::OK);
    }
    match decoded.value {
        Ok(value) => super::print_session(&value)?,
        Err(err) => {
            eprintln!("sessionvault: {err}");
            return Ok(exit::NEGATIVE);
        }
    }
    Ok(exit::OK)
}
