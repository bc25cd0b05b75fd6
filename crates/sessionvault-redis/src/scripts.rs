//! The Lua scripts that make each write one atomic step on one key (so one cluster slot).
//!
//! A session's hash holds `d` (the record, see [`crate::encoding`]), `v` its version, `l` live
//! (`1`) or not and `u` its user, which the scripts read without decoding the record; `ls` and
//! `id` hold the last-seen time and idle deadline a touch moved since the last save, and `r`
//! the record of a session last saved in the earlier full-JSON encoding.

use redis::Script;

/// Creates the record unless the key exists, live or tombstone.
const CREATE: &str = r"
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'd', ARGV[1], 'v', ARGV[2], 'l', ARGV[3], 'u', ARGV[4])
redis.call('PEXPIREAT', KEYS[1], ARGV[5])
return 1
";

/// Compare-and-set on the version of a live record. Returns nil on a conflict, else the
/// previous user (for the index). The fields a touch or the earlier encoding left are dropped
/// only when there are any: the hash has exactly the four this writes otherwise.
const SAVE_IF: &str = r"
local cur = redis.call('HMGET', KEYS[1], 'v', 'l', 'u')
if cur[1] ~= ARGV[5] or cur[2] ~= '1' then return false end
redis.call('HSET', KEYS[1], 'd', ARGV[1], 'v', ARGV[2], 'l', ARGV[3], 'u', ARGV[4])
if redis.call('HLEN', KEYS[1]) > 4 then redis.call('HDEL', KEYS[1], 'r', 'ls', 'id') end
redis.call('PEXPIREAT', KEYS[1], ARGV[6])
return cur[3] or ''
";

/// Moves a live record's last-seen time and idle deadline.
const TOUCH: &str = r"
if redis.call('HGET', KEYS[1], 'l') ~= '1' then return 0 end
redis.call('HSET', KEYS[1], 'ls', ARGV[1], 'id', ARGV[2])
return 1
";

/// Adds a session to its user's set, and keeps the set as long as its longest session.
const INDEX: &str = r"
redis.call('SADD', KEYS[1], ARGV[1])
redis.call('PEXPIREAT', KEYS[1], ARGV[2], 'NX')
redis.call('PEXPIREAT', KEYS[1], ARGV[2], 'GT')
return 1
";

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
