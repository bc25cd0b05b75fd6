//! Python values to and from Flask's tagged JSON, the form sessions are stored in: the same
//! JSON a Flask cookie holds, so a Rust service reading the store sees what Flask would.
//!
//! Tags, checked in Flask's order: `" di"` (a one-key dict whose key is a tag), dicts, `" t"`
//! tuples, lists, `" b"` bytes, `" m"` anything with `__html__` (`Markup`), `" u"` UUIDs, `" d"`
//! datetimes (UTC, whole seconds, as Flask keeps them). Anything else is refused: no pickle,
//! and no silent conversion that would not come back as it went in.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use jiff::Timestamp;
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBool, PyBytes, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple};
use serde_json::{Map, Value};

/// The tags Flask registers by default.
const TAGS: [&str; 6] = [" di", " t", " b", " m", " u", " d"];

/// Nesting deeper than this is refused rather than risk the stack.
const MAX_DEPTH: usize = 128;

/// The Python classes the tags stand for, imported on first use.
struct Classes {
    uuid: Py<PyAny>,
    datetime: Py<PyAny>,
    date: Py<PyAny>,
    utc: Py<PyAny>,
    markup: Py<PyAny>,
}

static CLASSES: PyOnceLock<Classes> = PyOnceLock::new();

fn classes(py: Python<'_>) -> PyResult<&Classes> {
    CLASSES.get_or_try_init(py, || {
        let datetime = py.import("datetime")?;
        Ok(Classes {
            uuid: py.import("uuid")?.getattr("UUID")?.unbind(),
            datetime: datetime.getattr("datetime")?.unbind(),
            date: datetime.getattr("date")?.unbind(),
            utc: datetime.getattr("timezone")?.getattr("utc")?.unbind(),
            markup: py.import("markupsafe")?.getattr("Markup")?.unbind(),
        })
    })
}

/// `value`, stored under `key`, as tagged JSON.
///
/// # Errors
///
/// `TypeError` naming the key for a value Flask's tagged JSON cannot hold as it is.
pub(crate) fn to_tagged(key: &str, value: &Bound<'_, PyAny>) -> PyResult<Value> {
    let classes = classes(value.py())?;
    tag(value, classes, 0).map_err(|what| {
        PyTypeError::new_err(format!(
            "session value {key:?} cannot be stored: {what}. Sessions hold what Flask's tagged \
             JSON keeps exactly: None, bool, int, float, str, dict with str keys, list, tuple, \
             bytes, Markup, UUID and datetime"
        ))
    })
}

fn tag(value: &Bound<'_, PyAny>, classes: &Classes, depth: usize) -> Result<Value, String> {
    if depth > MAX_DEPTH {
        return Err(format!("nested more than {MAX_DEPTH} levels deep"));
    }
    let py = value.py();
    if value.is_none() {
        return Ok(Value::Null);
    }
    if let Ok(b) = value.cast::<PyBool>() {
        return Ok(Value::Bool(b.is_true()));
    }
    if value.is_instance_of::<PyInt>() {
        if let Ok(i) = value.extract::<i64>() {
            return Ok(Value::from(i));
        }
        if let Ok(u) = value.extract::<u64>() {
            return Ok(Value::from(u));
        }
        return Err("an int outside the 64-bit range".into());
    }
    if let Ok(f) = value.cast::<PyFloat>() {
        let f = f.value();
        return serde_json::Number::from_f64(f)
            .map(Value::Number)
            .ok_or_else(|| format!("the float {f} (NaN and infinities have no JSON form)"));
    }
    if let Ok(dict) = value.cast::<PyDict>() {
        let mut map = Map::new();
        for (k, v) in dict.iter() {
            let Ok(k) = k.cast::<PyString>() else {
                return Err(format!(
                    "a dict key of type {} (keys must be str)",
                    type_name(&k)
                ));
            };
            let k = k.to_cow().map_err(|e| e.to_string())?.into_owned();
            map.insert(k, tag(&v, classes, depth + 1)?);
        }
        if map.len() == 1
            && let Some((k, v)) = map.iter().next()
            && TAGS.contains(&k.as_str())
        {
            let mut escaped = Map::new();
            escaped.insert(format!("{k}__"), v.clone());
            return Ok(tagged(" di", Value::Object(escaped)));
        }
        return Ok(Value::Object(map));
    }
    if let Ok(tuple) = value.cast::<PyTuple>() {
        let items = tuple
            .iter()
            .map(|item| tag(&item, classes, depth + 1))
            .collect::<Result<_, _>>()?;
        return Ok(tagged(" t", Value::Array(items)));
    }
    if let Ok(list) = value.cast::<PyList>() {
        let items = list
            .iter()
            .map(|item| tag(&item, classes, depth + 1))
            .collect::<Result<_, _>>()?;
        return Ok(Value::Array(items));
    }
    if let Ok(bytes) = value.cast::<PyBytes>() {
        return Ok(tagged(
            " b",
            Value::String(STANDARD.encode(bytes.as_bytes())),
        ));
    }
    if value.hasattr("__html__").unwrap_or(false) {
        let html = value
            .call_method0("__html__")
            .and_then(|h| h.str())
            .map_err(|e| format!("its __html__ failed: {e}"))?;
        let html = html.to_cow().map_err(|e| e.to_string())?.into_owned();
        return Ok(tagged(" m", Value::String(html)));
    }
    if let Ok(s) = value.cast::<PyString>() {
        return Ok(Value::String(
            s.to_cow().map_err(|e| e.to_string())?.into_owned(),
        ));
    }
    if value.is_instance(classes.uuid.bind(py)).unwrap_or(false) {
        let hex: String = value
            .getattr("hex")
            .and_then(|h| h.extract())
            .map_err(|e| e.to_string())?;
        return Ok(tagged(" u", Value::String(hex)));
    }
    if value
        .is_instance(classes.datetime.bind(py))
        .unwrap_or(false)
    {
        return Ok(tagged(" d", Value::String(http_date(value, classes)?)));
    }
    if value.is_instance(classes.date.bind(py)).unwrap_or(false) {
        return Err("a date (store a datetime, or the date's isoformat())".into());
    }
    Err(format!("a value of type {}", type_name(value)))
}

fn tagged(tag: &str, inner: Value) -> Value {
    let mut map = Map::new();
    map.insert(tag.to_owned(), inner);
    Value::Object(map)
}

fn type_name(value: &Bound<'_, PyAny>) -> String {
    value
        .get_type()
        .name()
        .map(|n| n.to_string())
        .unwrap_or_else(|_| "?".into())
}

/// A datetime as Flask writes it: in UTC (a naive one is taken as UTC), whole seconds,
/// `Tue, 02 Jan 2024 01:04:05 GMT`.
fn http_date(value: &Bound<'_, PyAny>, classes: &Classes) -> Result<String, String> {
    let py = value.py();
    let aware = if value
        .getattr("tzinfo")
        .map(|tz| tz.is_none())
        .unwrap_or(true)
    {
        let kwargs = PyDict::new(py);
        kwargs
            .set_item("tzinfo", classes.utc.bind(py))
            .map_err(|e| e.to_string())?;
        value
            .call_method("replace", (), Some(&kwargs))
            .map_err(|e| e.to_string())?
    } else {
        value.clone()
    };
    let seconds: f64 = aware
        .call_method0("timestamp")
        .and_then(|t| t.extract())
        .map_err(|e| e.to_string())?;
    let ts = Timestamp::from_second(seconds.floor() as i64)
        .map_err(|_| "a datetime outside the years 1 to 9999".to_owned())?;
    Ok(ts.strftime("%a, %d %b %Y %H:%M:%S GMT").to_string())
}

/// Tagged JSON back to Python: tags are undone bottom-up, as Flask does.
///
/// # Errors
///
/// `ValueError` when a tag holds something of the wrong shape (a store written by hand, or
/// by something other than Flask or sessionvault).
pub(crate) fn from_tagged<'py>(py: Python<'py>, value: &Value) -> PyResult<Bound<'py, PyAny>> {
    let classes = classes(py)?;
    untag(py, value, classes)
}

fn untag<'py>(py: Python<'py>, value: &Value, classes: &Classes) -> PyResult<Bound<'py, PyAny>> {
    Ok(match value {
        Value::Null => py.None().into_bound(py),
        Value::Bool(b) => PyBool::new(py, *b).to_owned().into_any(),
        Value::Number(n) => match (n.as_i64(), n.as_u64()) {
            (Some(i), _) => i.into_pyobject(py)?.into_any(),
            (None, Some(u)) => u.into_pyobject(py)?.into_any(),
            _ => n.as_f64().unwrap_or(f64::NAN).into_pyobject(py)?.into_any(),
        },
        Value::String(s) => PyString::new(py, s).into_any(),
        Value::Array(items) => {
            let list = PyList::empty(py);
            for item in items {
                list.append(untag(py, item, classes)?)?;
            }
            list.into_any()
        }
        Value::Object(map) => {
            if map.len() == 1
                && let Some((k, inner)) = map.iter().next()
                && TAGS.contains(&k.as_str())
            {
                return untag_one(py, k, inner, classes);
            }
            let dict = PyDict::new(py);
            for (k, v) in map {
                dict.set_item(k, untag(py, v, classes)?)?;
            }
            dict.into_any()
        }
    })
}

fn untag_one<'py>(
    py: Python<'py>,
    tag: &str,
    inner: &Value,
    classes: &Classes,
) -> PyResult<Bound<'py, PyAny>> {
    let bad = || PyValueError::new_err(format!("stored session value: tag {tag:?} is malformed"));
    match (tag, inner) {
        (" di", Value::Object(map)) if map.len() == 1 => {
            let (k, v) = map.iter().next().ok_or_else(bad)?;
            let key = k.strip_suffix("__").ok_or_else(bad)?;
            let dict = PyDict::new(py);
            dict.set_item(key, untag(py, v, classes)?)?;
            Ok(dict.into_any())
        }
        (" t", Value::Array(items)) => {
            let items = items
                .iter()
                .map(|item| untag(py, item, classes))
                .collect::<PyResult<Vec<_>>>()?;
            Ok(PyTuple::new(py, items)?.into_any())
        }
        (" b", Value::String(s)) => {
            let bytes = STANDARD.decode(s).map_err(|_| bad())?;
            Ok(PyBytes::new(py, &bytes).into_any())
        }
        (" m", Value::String(s)) => classes.markup.bind(py).call1((s,)),
        (" u", Value::String(s)) => classes.uuid.bind(py).call1((s,)),
        (" d", Value::String(s)) => {
            let seconds = parse_http_date(s).ok_or_else(bad)?;
            classes
                .datetime
                .bind(py)
                .call_method1("fromtimestamp", (seconds, classes.utc.bind(py)))
        }
        _ => Err(bad()),
    }
}

fn parse_http_date(s: &str) -> Option<i64> {
    let without_weekday = match s.split_once(',') {
        Some((weekday, rest)) if weekday.trim().chars().all(|c| c.is_ascii_alphabetic()) => rest,
        _ => s,
    };
    jiff::fmt::rfc2822::DateTimeParser::new()
        .parse_timestamp(without_weekday.trim().as_bytes())
        .ok()
        .map(Timestamp::as_second)
}
