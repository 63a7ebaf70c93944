//! Stage `load`: `${NAME}` and `${NAME:-default}` in a setting's raw
//! value, replaced from the environment as a shell would.
//!
//! May not: read the environment itself (it is passed in as `Env`).

use super::Env;

/// What [`substitute`] made of a raw value.
#[derive(Debug, Default, PartialEq)]
pub(super) struct Substituted {
    pub(super) value: String,
    /// Every variable named.
    pub(super) vars: Vec<String>,
    /// Those not set and with no default.
    pub(super) missing: Vec<String>,
    /// The first reference that is neither `${NAME}` nor
    /// `${NAME:-default}`: its byte offset in the raw value, and why.
    pub(super) bad: Option<(usize, &'static str)>,
}

/// Replaces every `${NAME}` with the variable's value, and every
/// `${NAME:-default}` with the variable's value when it is set and not
/// empty, else with `default` (as a shell does). Any other `${…}` is
/// refused rather than passed on as literal text.
pub(super) fn substitute(raw: &str, env: Env<'_>) -> Substituted {
    let mut out = Substituted {
        value: String::with_capacity(raw.len()),
        ..Substituted::default()
    };
    let mut rest = raw;
    while let Some(start) = rest.find("${") {
        let at = raw.len() - rest.len() + start;
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else {
            out.bad = Some((at, "`${` is not closed by `}`"));
            break;
        };
        let inner = &after[..end];
        let (name, default) = match inner.split_once(":-") {
            Some((name, default)) => (name, Some(default)),
            None => (inner, None),
        };
        let valid = !name.is_empty()
            && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
            && !name.as_bytes()[0].is_ascii_digit();
        out.value.push_str(&rest[..start]);
        if !valid {
            out.bad = Some((
                at,
                "only `${NAME}` and `${NAME:-default}` are read from the environment (a name of letters, digits and `_`)",
            ));
            break;
        }
        if default.is_some_and(|d| d.contains("${")) {
            out.bad = Some((at, "a default may not hold another `${` reference"));
            break;
        }
        out.vars.push(name.to_string());
        match (env(name), default) {
            (Some(v), Some(d)) if v.is_empty() => out.value.push_str(d),
            (Some(v), _) => out.value.push_str(&v),
            (None, Some(d)) => out.value.push_str(d),
            (None, None) => out.missing.push(name.to_string()),
        }
        rest = &after[end + 1..];
    }
    out.value.push_str(rest);
    out
}
