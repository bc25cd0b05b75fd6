//! The Lua scripts that make each write one atomic step on one key (so one cluster slot).
//!
//! A session is one string ([`crate::layout`]): `VERSION|LIVE|TOUCH|USERLEN|USER` then the
//! record, a header the scripts read without decoding the record. A session saved by an
//! earlier version is a hash (`v` version, `l` live, `u` user, `d` or `r` the record, `ls` and
//! `id` a touch's times): `GET` on it is an error, which `redis.pcall` returns as a table, and
//! the scripts then read the hash; a save replaces it with the string.

use redis::{Cmd, Script};
use sessionvault::store::StoreError;

/// Creates the record unless the key exists, live or tombstone, in either layout. Only the
/// key named: a new session's key is fresh, so no record an earlier version kept under the
/// longer name is in the way; a denylist tombstone filed here for a session still under the
/// longer name is what loads find first, and it ends that session.
const CREATE: &str = r"
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PXAT', ARGV[2]) then return 1 end
return 0
";

/// Compare-and-set on the version of a live record: `ARGV[1]` the value, `ARGV[2]` the
/// version expected, `ARGV[3]` the retention (Unix milliseconds). Returns 0 when nothing is
/// under the key; on a conflict the value it lost to, in a table of one (for the retry to
/// replay on without a load), or nil for an earlier version's hash; else the previous user
/// (for the index).
const SAVE_IF: &str = r"
local cur = redis.pcall('GET', KEYS[1])
local user
if type(cur) == 'table' then
  local h = redis.call('HMGET', KEYS[1], 'v', 'l', 'u')
  if h[1] ~= ARGV[2] or h[2] ~= '1' then return nil end
  redis.call('DEL', KEYS[1])
  user = h[3] or ''
else
  if not cur then return 0 end
  local v, l, n, at = string.match(cur, '^(%d+)|([01])|[^|]*|(%d+)|()')
  if v ~= ARGV[2] or l ~= '1' then return {cur} end
  user = string.sub(cur, at, at + tonumber(n) - 1)
end
redis.call('SET', KEYS[1], ARGV[1], 'PXAT', ARGV[3])
return user
";

/// Moves a live record's last-seen time and idle deadline: `ARGV[1]` the header's touch field,
/// `ARGV[2]` and `ARGV[3]` the two times as an earlier version's hash keeps them. Returns 1
/// when moved, 0 when the record is ended, -1 when nothing is under the key.
const TOUCH: &str = r"
local cur = redis.pcall('GET', KEYS[1])
if type(cur) == 'table' then
  if redis.call('HGET', KEYS[1], 'l') ~= '1' then return 0 end
  redis.call('HSET', KEYS[1], 'ls', ARGV[2], 'id', ARGV[3])
  return 1
end
if not cur then return -1 end
local head, rest = string.match(cur, '^(%d+|1|)[^|]*(|.*)$')
if not head then return 0 end
redis.call('SET', KEYS[1], head .. ARGV[1] .. rest, 'KEEPTTL')
return 1
";

/// Adds a session to its user's set, and keeps the set as long as its longest session.
const INDEX: &str = r"
redis.call('SADD', KEYS[1], ARGV[1])
redis.call('PEXPIREAT', KEYS[1], ARGV[2], 'NX')
redis.call('PEXPIREAT', KEYS[1], ARGV[2], 'GT')
return 1
";

/// What the compare-and-set script answers.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Saved {
    /// Saved, over a record of `previous_user` (empty for none).
    Over { previous_user: String },
    /// Not saved: the record is of another version, or ended. With the value it lost to,
    /// unless that is an earlier version's hash.
    Conflict(Option<Vec<u8>>),
    /// Not saved: nothing under the name.
    Missing,
}

impl Saved {
    pub(crate) fn from_answer(answer: redis::Value) -> Result<Self, StoreError> {
        match answer {
            redis::Value::BulkString(user) => String::from_utf8(user)
                .map(|previous_user| Self::Over { previous_user })
                .map_err(|_| StoreError::new("a stored session's user is not UTF-8")),
            redis::Value::Nil => Ok(Self::Conflict(None)),
            redis::Value::Array(mut lost) if lost.len() == 1 => match lost.pop() {
                Some(redis::Value::BulkString(value)) => Ok(Self::Conflict(Some(value))),
                _ => Err(StoreError::new("unexpected answer from the save script")),
            },
            redis::Value::Int(0) => Ok(Self::Missing),
            _ => Err(StoreError::new("unexpected answer from the save script")),
        }
    }
}

/// What the touch script answers when nothing is under the name.
pub(crate) const TOUCH_MISSING: i64 = -1;

/// A script and its source, for `EVALSHA` or, in a pipeline with `WAIT`, `EVAL`.
pub(crate) struct Lua {
    pub(crate) script: Script,
    pub(crate) source: &'static str,
}

impl Lua {
    fn new(source: &'static str) -> Self {
        Self {
            script: Script::new(source),
            source,
        }
    }

    /// `EVALSHA` of this script on one key, with the arguments `args` adds (`args_len` bytes
    /// of them, near enough). Built here rather than through redis-rs's `ScriptInvocation`,
    /// which copies every argument into a vector of its own before copying it again into the
    /// command.
    pub(crate) fn evalsha(&self, key: &str, args_len: usize, args: impl FnOnce(&mut Cmd)) -> Cmd {
        self.command("EVALSHA", self.script.get_hash(), key, args_len, args)
    }

    /// `EVAL` of this script's source, for a pipeline (where a `NOSCRIPT` cannot be answered
    /// by loading the script and trying again).
    pub(crate) fn eval(&self, key: &str, args_len: usize, args: impl FnOnce(&mut Cmd)) -> Cmd {
        self.command("EVAL", self.source, key, args_len, args)
    }

    fn command(
        &self,
        name: &str,
        script: &str,
        key: &str,
        args_len: usize,
        args: impl FnOnce(&mut Cmd),
    ) -> Cmd {
        // Room for the arguments' bytes and, per argument, the length prefix redis-rs keeps.
        let mut cmd = Cmd::with_capacity(8, name.len() + script.len() + key.len() + args_len + 8);
        cmd.arg(name).arg(script).arg(1).arg(key);
        args(&mut cmd);
        cmd
    }
}

/// Every script the store runs, hashed once.
pub(crate) struct Scripts {
    pub(crate) create: Lua,
    pub(crate) save_if: Lua,
    pub(crate) touch: Lua,
    pub(crate) index: Lua,
}

impl Default for Scripts {
    fn default() -> Self {
        Self {
            create: Lua::new(CREATE),
            save_if: Lua::new(SAVE_IF),
            touch: Lua::new(TOUCH),
            index: Lua::new(INDEX),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use redis::Value;

    #[test]
    fn the_save_scripts_answers_are_told_apart_and_anything_else_is_an_error() {
        let over = |user: &str| Saved::Over {
            previous_user: user.to_owned(),
        };
        for (answer, expected) in [
            (Value::BulkString(b"alice".to_vec()), over("alice")),
            (Value::BulkString(Vec::new()), over("")),
            (Value::Nil, Saved::Conflict(None)),
            (
                Value::Array(vec![Value::BulkString(b"2|1||0|{}".to_vec())]),
                Saved::Conflict(Some(b"2|1||0|{}".to_vec())),
            ),
            (Value::Int(0), Saved::Missing),
        ] {
            assert_eq!(Saved::from_answer(answer).expect("an answer"), expected);
        }
        for answer in [
            Value::BulkString(vec![0xff, 0xfe]),
            Value::Int(1),
            Value::Okay,
            Value::Array(Vec::new()),
            Value::Array(vec![Value::Int(1)]),
            Value::Array(vec![Value::Nil, Value::Nil]),
        ] {
            assert!(Saved::from_answer(answer.clone()).is_err(), "{answer:?}");
        }
    }
}
