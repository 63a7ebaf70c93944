//! Stage `load`: positioned YAML trees to model entities, one file at a time.
//!
//! Which keys each kind has, and the ranges of its numbers, come from the
//! tables of `shape` (the same ones the JSON Schemas are written from).
//! Every problem is collected, not just the first, each pointing at the exact
//! key or value. An entity with any error is `None` (its last good version
//! stays in force); warnings do not stop it. Pure: the environment is passed
//! in as a function, no I/O, never panics.

use crate::diagnostic::{ConfigError, EntityKind, EntityRef, ErrorKind, Pos};
use crate::load::mask;
use crate::load::node::{Entry, Node, Value};
use crate::load::shape::{self, Range};
use crate::model::{
    Integration, IntegrationFields, IntegrationKind, JiraDeployment, Setting, Settings, Step,
    Workflow,
};
use crate::secret;

/// Looks up an environment variable.
pub type Env<'a> = &'a dyn Fn(&str) -> Option<String>;

/// Reads one workflow file. `file` is its repository-relative path; the id
/// defaults to the file stem.
pub fn workflow(root: Option<&Node>, file: &str) -> (Option<Workflow>, Vec<ConfigError>) {
    let stem = file_stem(file);
    let mut r = Reader::new(file, EntityKind::Workflow, stem);
    let Some(root) = root else {
        r.error(
            Pos::START,
            ErrorKind::Schema,
            "file is empty (no YAML content, only blank lines or comments); a workflow needs at least `name` and `steps`",
        );
        return (None, r.errors);
    };
    let Some(entries) = r.mapping(root, "a workflow") else {
        return (None, r.errors);
    };
    r.unknown_keys(entries, &shape::WORKFLOW.keys(), "a workflow");

    let (id, id_pos) = match get(entries, "id") {
        Some(e) => match r.string(&e.value, "id") {
            Some(id) => {
                r.set_entity_id(&id);
                if !is_valid_id(&id) {
                    r.error(
                        e.value.pos,
                        ErrorKind::Schema,
                        format!("`id` is not a valid workflow id: {ID_RULE}"),
                    );
                }
                (Some(id), e.value.pos)
            }
            None => (None, e.value.pos),
        },
        None => {
            if !is_valid_id(stem) {
                r.error(
                    Pos::START,
                    ErrorKind::Schema,
                    format!("the file name gives the workflow id `{stem}`, which is not valid: {ID_RULE}; rename the file or set `id:`"),
                );
            }
            (Some(stem.to_string()), root.pos)
        }
    };
    let name = r
        .required(root, entries, "name")
        .and_then(|n| r.string(n, "name"));
    let description = r
        .optional(entries, "description")
        .and_then(|n| r.string(n, "description"));
    let ticket_types = r
        .optional(entries, "ticket_types")
        .and_then(|n| r.string_list(n, "ticket_types"))
        .unwrap_or_default();
    let steps = r.required(root, entries, "steps").and_then(|n| r.steps(n));

    match (id, name, steps, r.has_errors()) {
        (Some(id), Some(name), Some(steps), false) => (
            Some(Workflow {
                id,
                name,
                description,
                ticket_types,
                steps,
                id_pos,
            }),
            r.errors,
        ),
        _ => (None, r.errors),
    }
}

/// Reads one integration file (`config/<kind>_config.yaml`).
pub fn integration(
    kind: IntegrationKind,
    root: Option<&Node>,
    file: &str,
    env: Env<'_>,
) -> (Option<Integration>, Vec<ConfigError>) {
    let mut r = Reader::new(file, EntityKind::Integration, kind.as_str());
    let Some(root) = root else {
        r.error(
            Pos::START,
            ErrorKind::Schema,
            format!("file is empty; the {kind} integration needs at least `base_url`, or delete the file"),
        );
        return (None, r.errors);
    };
    let Some(entries) = r.mapping(root, "an integration") else {
        return (None, r.errors);
    };
    r.unknown_keys(
        entries,
        &shape::integration(kind).keys(),
        &format!("the {kind} integration"),
    );

    let enabled = match r.optional(entries, "enabled") {
        Some(n) => match n.value {
            Value::Bool(b) => Some(b),
            _ => {
                r.type_error(n, "enabled", "true or false");
                None
            }
        },
        None => Some(true),
    };
    // A missing variable only matters when the integration is switched on.
    let strict = enabled.unwrap_or(true);
    let setting = |r: &mut Reader, key: &str, required: bool| -> Option<Option<Setting>> {
        let node = if required {
            r.required(root, entries, key)
        } else {
            r.optional(entries, key)
        };
        match node {
            None if required => None,
            None => Some(None),
            Some(n) => r.setting(n, key, env, strict).map(Some),
        }
    };
    let base_url = setting(&mut r, "base_url", true).flatten();
    if let (Some(url), Some(e)) = (&base_url, get(entries, "base_url"))
        && let Some(v) = url.expose()
        && let Err(why) = check_url(v)
    {
        r.error(
            e.value.pos,
            ErrorKind::Schema,
            format!("`base_url` is not a valid URL: {why}"),
        );
    }
    let timeout_ms = match r.optional(entries, "timeout_ms") {
        Some(n) => r
            .int_in(n, "timeout_ms", shape::TIMEOUT_MS)
            .map(|v| v as u64),
        None => Some(5_000),
    };
    let retest_minutes = match r.optional(entries, "retest_minutes") {
        Some(n) => r
            .int_in(n, "retest_minutes", shape::RETEST_MINUTES)
            .map(|v| v as u64),
        None => Some(60),
    };
    let fields = match kind {
        IntegrationKind::Jira => {
            let deployment = match r.optional(entries, "deployment") {
                Some(n) => r
                    .one_of(n, "deployment", shape::JIRA_DEPLOYMENTS)
                    .and_then(|name| name.parse::<JiraDeployment>().ok()),
                None => Some(JiraDeployment::Cloud),
            };
            // Data Center authenticates with the token alone; a key that
            // does not parse is reported already, and `email` then follows
            // the default.
            let needs_email = deployment != Some(JiraDeployment::DataCenter);
            let email = setting(&mut r, "email", needs_email);
            let api_token = setting(&mut r, "api_token", true).flatten();
            let project_key = setting(&mut r, "project_key", false);
            match (deployment, email, api_token, project_key) {
                (Some(deployment), Some(email), Some(api_token), Some(project_key)) => {
                    Some(IntegrationFields::Jira {
                        deployment,
                        email,
                        api_token,
                        project_key,
                    })
                }
                _ => None,
            }
        }
        IntegrationKind::Postman => {
            let api_key = setting(&mut r, "api_key", true).flatten();
            let workspace_id = setting(&mut r, "workspace_id", false);
            match (api_key, workspace_id) {
                (Some(api_key), Some(workspace_id)) => Some(IntegrationFields::Postman {
                    api_key,
                    workspace_id,
                }),
                _ => None,
            }
        }
        IntegrationKind::Testmo => {
            let api_token = setting(&mut r, "api_token", true).flatten();
            let project_id = setting(&mut r, "project_id", false);
            match (api_token, project_id) {
                (Some(api_token), Some(project_id)) => Some(IntegrationFields::Testmo {
                    api_token,
                    project_id,
                }),
                _ => None,
            }
        }
    };
    match (
        enabled,
        base_url,
        timeout_ms.zip(retest_minutes),
        fields,
        r.has_errors(),
    ) {
        (
            Some(enabled),
            Some(base_url),
            Some((timeout_ms, retest_minutes)),
            Some(fields),
            false,
        ) => {
            let mut integration = Integration {
                id: kind,
                enabled,
                base_url,
                timeout_ms,
                retest_minutes,
                fields,
            };
            mask_settings_holding_secrets(&mut integration, &mask::secret_values(root));
            (Some(integration), r.errors)
        }
        _ => (None, r.errors),
    }
}

/// Marks as masked every setting whose value holds a secret value of the
/// same file (an alias of a secret under an ordinary key, say): a secret's
/// value is secret wherever it is written.
fn mask_settings_holding_secrets(integration: &mut Integration, secrets: &[String]) {
    let holds_secret = |s: &Setting| {
        s.expose()
            .is_some_and(|v| secrets.iter().any(|secret| v.contains(secret.as_str())))
    };
    let mut settings: Vec<&mut Setting> = vec![&mut integration.base_url];
    match &mut integration.fields {
        IntegrationFields::Jira {
            email, project_key, ..
        } => {
            settings.extend(email.as_mut());
            settings.extend(project_key.as_mut());
        }
        IntegrationFields::Postman { workspace_id, .. } => settings.extend(workspace_id.as_mut()),
        IntegrationFields::Testmo { project_id, .. } => settings.extend(project_id.as_mut()),
    }
    for s in settings {
        if !s.masked && holds_secret(s) {
            s.masked = true;
        }
    }
}

/// Reads `config/hot_reload.yaml`. An empty file means all defaults.
pub fn settings(root: Option<&Node>, file: &str) -> (Option<Settings>, Vec<ConfigError>) {
    let mut r = Reader::new(file, EntityKind::Settings, "hot_reload");
    let defaults = Settings::default();
    let Some(root) = root else {
        return (Some(defaults), r.errors);
    };
    let Some(entries) = r.mapping(root, "the hot reload settings") else {
        return (None, r.errors);
    };
    r.unknown_keys(entries, &shape::SETTINGS.keys(), "the hot reload settings");
    let int = |r: &mut Reader, key: &str, range: Range, default: u64| match r.optional(entries, key)
    {
        Some(n) => r.int_in(n, key, range).map(|v| v as u64),
        None => Some(default),
    };
    let debounce_ms = int(
        &mut r,
        "debounce_ms",
        shape::DEBOUNCE_MS,
        defaults.debounce_ms,
    );
    let max_wait_ms = int(
        &mut r,
        "max_wait_ms",
        shape::MAX_WAIT_MS,
        defaults.max_wait_ms,
    );
    let complete_write_ms = match r.optional(entries, "complete_write_ms") {
        Some(n) => r.millis_in(n, "complete_write_ms", shape::COMPLETE_WRITE_MS),
        None => Some(defaults.complete_write_ms),
    };
    let history = int(&mut r, "history", shape::HISTORY, defaults.history as u64);
    let history_bytes = int(
        &mut r,
        "history_bytes",
        shape::HISTORY_BYTES,
        defaults.history_bytes as u64,
    );
    if let (Some(d), Some(m), Some(e)) = (debounce_ms, max_wait_ms, get(entries, "max_wait_ms"))
        && m < d
    {
        r.error(
            e.value.pos,
            ErrorKind::Schema,
            "`max_wait_ms` must not be less than `debounce_ms`",
        );
    }
    let globs = |r: &mut Reader, key: &str, default: Vec<String>| match r.optional(entries, key) {
        Some(n) => {
            let list = r.string_list(n, key)?;
            let Value::Seq(items) = &n.value else {
                return Some(list);
            };
            let mut ok = true;
            for (glob, item) in list.iter().zip(items) {
                if let Err(e) = globset::Glob::new(glob) {
                    r.error(
                        item.pos,
                        ErrorKind::Schema,
                        format!("an item of `{key}` is not a valid glob: {}", e.kind()),
                    );
                    ok = false;
                }
            }
            ok.then_some(list)
        }
        None => Some(default),
    };
    let watch = globs(&mut r, "watch", defaults.watch.clone());
    let ignore = globs(&mut r, "ignore", Vec::new());
    match (
        debounce_ms.zip(complete_write_ms),
        max_wait_ms,
        history.zip(history_bytes),
        watch,
        ignore,
        r.has_errors(),
    ) {
        (
            Some((debounce_ms, complete_write_ms)),
            Some(max_wait_ms),
            Some((history, history_bytes)),
            Some(watch),
            Some(ignore),
            false,
        ) => (
            Some(Settings {
                debounce_ms,
                max_wait_ms,
                complete_write_ms,
                watch,
                ignore,
                history: usize::try_from(history).unwrap_or(defaults.history),
                history_bytes: usize::try_from(history_bytes).unwrap_or(defaults.history_bytes),
            }),
            r.errors,
        ),
        _ => (None, r.errors),
    }
}

const ID_RULE: &str = "use lower-case letters, digits and `-`, starting with a letter or digit";

/// [`shape::ID_PATTERN`], at most [`shape::ID_MAX_LEN`] characters.
pub fn is_valid_id(id: &str) -> bool {
    let mut bytes = id.bytes();
    id.len() <= shape::ID_MAX_LEN
        && bytes
            .next()
            .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        && bytes.all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// The file name without folders and extension.
pub fn file_stem(file: &str) -> &str {
    let name = file.rsplit('/').next().unwrap_or(file);
    name.rsplit_once('.').map_or(name, |(stem, _)| stem)
}

fn check_url(url: &str) -> Result<(), &'static str> {
    // Schemes are case-insensitive (`HTTPS://` is an https URL).
    let scheme_end = url
        .find("://")
        .ok_or("it must start with http:// or https://")?;
    if !["http", "https"].contains(&url[..scheme_end].to_ascii_lowercase().as_str()) {
        return Err("it must start with http:// or https://");
    }
    let rest = &url[scheme_end + 3..];
    let host = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host = host.rsplit('@').next().unwrap_or(host);
    if host.is_empty() || host.starts_with(':') {
        return Err("it has no host name");
    }
    if url.chars().any(char::is_whitespace) {
        return Err("it contains spaces");
    }
    Ok(())
}

fn get<'n>(entries: &'n [Entry], key: &str) -> Option<&'n Entry> {
    entries
        .iter()
        .find(|e| matches!(&e.key.value, Value::Str(k) if k == key))
}

/// Collects diagnostics for one entity while its file is read.
struct Reader<'f> {
    file: &'f str,
    entity: EntityRef,
    errors: Vec<ConfigError>,
}

impl<'f> Reader<'f> {
    fn new(file: &'f str, kind: EntityKind, id: &str) -> Self {
        Reader {
            file,
            entity: EntityRef {
                kind,
                id: id.to_string(),
            },
            errors: Vec::new(),
        }
    }

    fn set_entity_id(&mut self, id: &str) {
        self.entity.id = id.to_string();
        for e in &mut self.errors {
            e.entity = Some(self.entity.clone());
        }
    }

    fn has_errors(&self) -> bool {
        self.errors.iter().any(ConfigError::is_error)
    }

    fn error(&mut self, pos: Pos, kind: ErrorKind, message: impl Into<String>) {
        let mut e = ConfigError::new(self.file, pos, kind, message);
        e.entity = Some(self.entity.clone());
        self.errors.push(e);
    }

    fn type_error(&mut self, node: &Node, key: &str, expected: &str) {
        let hint = match (&node.value, expected) {
            (Value::Int(_) | Value::Float(_) | Value::Bool(_), "a string") => "; put it in quotes",
            (Value::Str(_), "a whole number") => "; remove the quotes",
            _ => "",
        };
        self.error(
            node.pos,
            ErrorKind::Schema,
            format!(
                "`{key}` must be {expected}, found {}{hint}",
                node.value.type_name()
            ),
        );
    }

    fn mapping<'n>(&mut self, node: &'n Node, what: &str) -> Option<&'n [Entry]> {
        match &node.value {
            Value::Map(entries) => Some(entries),
            other => {
                self.error(
                    node.pos,
                    ErrorKind::Schema,
                    format!(
                        "{what} must be a mapping of keys to values, found {}",
                        other.type_name()
                    ),
                );
                None
            }
        }
    }

    fn unknown_keys(&mut self, entries: &[Entry], allowed: &[&str], context: &str) {
        let known =
            |e: &Entry| matches!(&e.key.value, Value::Str(k) if allowed.contains(&k.as_str()));
        let unknown = entries.iter().filter(|e| !known(e)).count();
        if unknown == 0 {
            return;
        }
        // A file of thousands of unknown keys: room for their errors at
        // once, and the hint that does not depend on the key written once.
        self.errors.reserve(unknown);
        let expected = format!("; expected one of: {}", allowed.join(", "));
        for e in entries.iter().filter(|e| !known(e)) {
            let text;
            let key = match &e.key.value {
                Value::Str(k) => k.as_str(),
                _ => {
                    text = e.key.scalar_text().unwrap_or_default();
                    text.as_str()
                }
            };
            let suggestion = suggest(key, allowed);
            let mut message = String::with_capacity(
                key.len() + context.len() + 20 + suggestion.map_or(expected.len(), str::len),
            );
            message.push_str("unknown key `");
            message.push_str(key);
            message.push_str("` in ");
            message.push_str(context);
            match suggestion {
                Some(s) => {
                    message.push_str("; did you mean `");
                    message.push_str(s);
                    message.push_str("`?");
                }
                None => message.push_str(&expected),
            }
            self.error(e.key.pos, ErrorKind::Schema, message);
        }
    }

    /// A present, non-null value; `null` counts as absent for optional keys.
    fn optional<'n>(&mut self, entries: &'n [Entry], key: &str) -> Option<&'n Node> {
        get(entries, key)
            .map(|e| &e.value)
            .filter(|n| !matches!(n.value, Value::Null))
    }

    fn required<'n>(&mut self, map: &Node, entries: &'n [Entry], key: &str) -> Option<&'n Node> {
        let found = get(entries, key).map(|e| &e.value);
        if found.is_none() {
            self.error(
                map.pos,
                ErrorKind::Schema,
                format!("missing required key `{key}`"),
            );
        }
        found
    }

    /// A non-empty string. A URL's userinfo in it is masked here, so the
    /// entity never holds it (workflow text is shown as it is kept).
    fn string(&mut self, node: &Node, key: &str) -> Option<String> {
        match &node.value {
            Value::Str(s) if !s.trim().is_empty() => Some(secret::mask_url_secrets(s)),
            Value::Str(_) => {
                self.error(
                    node.pos,
                    ErrorKind::Schema,
                    format!("`{key}` must not be empty"),
                );
                None
            }
            _ => {
                self.type_error(node, key, "a string");
                None
            }
        }
    }

    /// One of `names`, as written.
    fn one_of(&mut self, node: &Node, key: &str, names: &[&'static str]) -> Option<&'static str> {
        let found = match &node.value {
            Value::Str(s) => names.iter().find(|n| **n == s.as_str()).copied(),
            _ => None,
        };
        if found.is_none() {
            let list: Vec<String> = names.iter().map(|n| format!("`{n}`")).collect();
            self.error(
                node.pos,
                ErrorKind::Schema,
                format!("`{key}` must be one of {}", list.join(", ")),
            );
        }
        found
    }

    fn string_list(&mut self, node: &Node, key: &str) -> Option<Vec<String>> {
        let Value::Seq(items) = &node.value else {
            self.type_error(node, key, "a list of strings");
            return None;
        };
        let mut out = Vec::with_capacity(items.len());
        let mut ok = true;
        for item in items {
            match self.string(item, &format!("{key} item")) {
                Some(s) => out.push(s),
                None => ok = false,
            }
        }
        ok.then_some(out)
    }

    /// A whole number in `range`. A float with no fraction (`5.0`,
    /// `1.0e+3`) is that whole number, as the JSON Schema of the file kind
    /// (draft-07: an `integer` is any number with a zero fraction) says.
    fn int_in(&mut self, node: &Node, key: &str, range: Range) -> Option<i64> {
        let value = match node.value {
            Value::Int(i) => i,
            Value::Float(f) if whole(f) => f as i64,
            Value::Float(f) => {
                let found = if f.is_finite() {
                    "a number with a fraction"
                } else {
                    not_a_finite_number(f)
                };
                self.error(
                    node.pos,
                    ErrorKind::Schema,
                    format!("`{key}` must be a whole number, found {found}"),
                );
                return None;
            }
            _ => {
                self.type_error(node, key, "a whole number");
                return None;
            }
        };
        if range.contains(value) {
            Some(value)
        } else {
            self.out_of_range(node, key, range);
            None
        }
    }

    fn out_of_range(&mut self, node: &Node, key: &str, Range { min, max }: Range) {
        self.error(
            node.pos,
            ErrorKind::Schema,
            format!("`{key}` must be between {min} and {max}"),
        );
    }

    /// Milliseconds in `range`, whole or with a fraction, rounded to the
    /// microsecond.
    fn millis_in(&mut self, node: &Node, key: &str, range: Range) -> Option<f64> {
        let ms = match node.value {
            Value::Int(i) => i as f64,
            Value::Float(f) if f.is_finite() => f,
            Value::Float(f) => {
                self.error(
                    node.pos,
                    ErrorKind::Schema,
                    format!(
                        "`{key}` must be a number of milliseconds between {} and {}, found {}",
                        range.min,
                        range.max,
                        not_a_finite_number(f)
                    ),
                );
                return None;
            }
            _ => {
                self.type_error(node, key, "a number of milliseconds");
                return None;
            }
        };
        if ms < range.min as f64 || ms > range.max as f64 {
            self.out_of_range(node, key, range);
            return None;
        }
        Some((ms * 1000.0).round() / 1000.0)
    }

    fn steps(&mut self, node: &Node) -> Option<Vec<Step>> {
        let Value::Seq(items) = &node.value else {
            self.type_error(node, "steps", "a list of steps");
            return None;
        };
        if items.is_empty() {
            self.error(
                node.pos,
                ErrorKind::Schema,
                "`steps` must list at least one step",
            );
            return None;
        }
        let mut steps = Vec::with_capacity(items.len());
        // Step id → where it first appeared (a map: a scan is quadratic).
        let mut seen: std::collections::HashMap<String, Pos> = std::collections::HashMap::new();
        let mut ok = true;
        for item in items {
            match self.step(item, &mut seen) {
                Some(step) => steps.push(step),
                None => ok = false,
            }
        }
        ok.then_some(steps)
    }

    fn step(
        &mut self,
        node: &Node,
        seen: &mut std::collections::HashMap<String, Pos>,
    ) -> Option<Step> {
        let entries = self.mapping(node, "a step")?;
        let errors_before = self.errors.len();
        self.unknown_keys(entries, &shape::STEP.keys(), "a step");
        let id = self.required(node, entries, "id").and_then(|n| {
            let id = self.string(n, "id")?;
            if !is_valid_id(&id) {
                self.error(
                    n.pos,
                    ErrorKind::Schema,
                    format!("`id` is not a valid step id: {ID_RULE}"),
                );
            } else if let Some(first) = seen.get(&id) {
                let line = first.line;
                self.error(
                    n.pos,
                    ErrorKind::Schema,
                    format!("duplicate step id `{id}` (first at line {line}); step ids must be unique within a workflow"),
                );
            } else {
                seen.insert(id.clone(), n.pos);
            }
            Some(id)
        });
        let name = self
            .required(node, entries, "name")
            .and_then(|n| self.string(n, "name"));
        let minutes = self
            .required(node, entries, "estimated_minutes")
            .and_then(|n| self.int_in(n, "estimated_minutes", shape::ESTIMATED_MINUTES));
        let (integration, integration_pos) = match self.optional(entries, "integration") {
            Some(n) => (self.string(n, "integration"), n.pos),
            None => (None, node.pos),
        };
        let checklist = self
            .optional(entries, "checklist")
            .and_then(|n| self.string_list(n, "checklist"));
        let failed = self.errors[errors_before..]
            .iter()
            .any(ConfigError::is_error);
        if failed {
            return None;
        }
        Some(Step {
            id: id?,
            name: name?,
            estimated_minutes: u32::try_from(minutes?).ok()?,
            integration,
            checklist: checklist.unwrap_or_default(),
            integration_pos,
        })
    }

    /// A string setting, with `${VAR}` read from the environment.
    fn setting(&mut self, node: &Node, key: &str, env: Env<'_>, strict: bool) -> Option<Setting> {
        let raw = match &node.value {
            Value::Str(s) => s.clone(),
            // Ids are often written as bare numbers (`project_id: 42`).
            Value::Int(i) => i.to_string(),
            _ => {
                self.type_error(node, key, "a string");
                return None;
            }
        };
        let Substituted {
            value,
            vars,
            missing,
            bad,
        } = substitute(&raw, env);
        if let Some((at, why)) = bad {
            // At the reference itself where the text is the scalar's own
            // (a plain or quoted scalar on one line); else at the value.
            let pos = match (node.source, raw[..at].contains('\n')) {
                (Some(src), false) if src.start.0 == src.end.0 => Pos {
                    line: node.pos.line,
                    col: node.pos.col
                        + u32::from(src.quote.is_some())
                        + raw[..at].chars().count() as u32,
                },
                _ => node.pos,
            };
            self.error(pos, ErrorKind::Schema, format!("`{key}`: {why}"));
            return None;
        }
        let masked = secret::is_secret_key(key) || !vars.is_empty();
        if let Some(var) = missing.first() {
            let e = ConfigError::new(
                self.file,
                node.pos,
                ErrorKind::Schema,
                if strict {
                    format!("environment variable `{var}` (for `{key}`) is not set; export it, or set `enabled: false`")
                } else {
                    format!("environment variable `{var}` (for `{key}`) is not set; the integration is disabled, so this is only a warning")
                },
            )
            .for_entity(self.entity.kind, self.entity.id.clone());
            self.errors.push(if strict { e } else { e.warning() });
            return Some(Setting::new(None, vars, masked));
        }
        if value.trim().is_empty() {
            self.error(
                node.pos,
                ErrorKind::Schema,
                format!("`{key}` must not be empty"),
            );
            return None;
        }
        Some(Setting::new(Some(value), vars, masked))
    }
}

/// What [`substitute`] made of a raw value.
#[derive(Debug, Default, PartialEq)]
struct Substituted {
    value: String,
    /// Every variable named.
    vars: Vec<String>,
    /// Those not set and with no default.
    missing: Vec<String>,
    /// The first reference that is neither `${NAME}` nor
    /// `${NAME:-default}`: its byte offset in the raw value, and why.
    bad: Option<(usize, &'static str)>,
}

/// Replaces every `${NAME}` with the variable's value, and every
/// `${NAME:-default}` with the variable's value when it is set and not
/// empty, else with `default` (as a shell does). Any other `${…}` is
/// refused rather than passed on as literal text.
fn substitute(raw: &str, env: Env<'_>) -> Substituted {
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

/// The allowed key closest to a typo, when one is close enough.
fn suggest<'a>(key: &str, allowed: &[&'a str]) -> Option<&'a str> {
    let len = key.chars().count();
    allowed
        .iter()
        // The distance is at least the difference in length: most keys of
        // a file full of unknown ones need no table at all.
        .filter(|a| len.abs_diff(a.len()) <= 2.max(a.len() / 4))
        .map(|a| (levenshtein(key, a), *a))
        .filter(|(d, a)| *d <= 2.max(a.len() / 4) && *d < a.len())
        .min_by_key(|(d, _)| *d)
        .map(|(_, a)| a)
}

fn levenshtein(a: &str, b: &str) -> usize {
    // Two rows, reused, on the stack for the short keys of the key tables:
    // a file of 95,000 unknown keys asks this for each of them.
    const ON_STACK: usize = 32;
    let n = b.chars().count();
    if n < ON_STACK {
        let (mut prev, mut cur) = ([0; ON_STACK], [0; ON_STACK]);
        edit_distance(a, b, &mut prev[..=n], &mut cur[..=n])
    } else {
        edit_distance(a, b, &mut vec![0; n + 1], &mut vec![0; n + 1])
    }
}

/// The Levenshtein distance of `a` and `b` with two rows of `b`'s length
/// in characters, plus one.
fn edit_distance<'r>(
    a: &str,
    b: &str,
    mut prev: &'r mut [usize],
    mut cur: &'r mut [usize],
) -> usize {
    for (j, p) in prev.iter_mut().enumerate() {
        *p = j;
    }
    for (i, ca) in a.chars().enumerate() {
        cur[0] = i + 1;
        for (j, cb) in b.chars().enumerate() {
            let cost = usize::from(ca != cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[prev.len() - 1]
}

/// Whether `f` is a whole number an `i64` holds exactly.
fn whole(f: f64) -> bool {
    // 2^63 is the first float past `i64::MAX`.
    f.is_finite() && f.fract() == 0.0 && f.abs() < 9_223_372_036_854_775_808.0
}

/// `.nan` or `.inf` as an error names it: the YAML spells them as
/// numbers, but neither is a number in any range.
fn not_a_finite_number(f: f64) -> &'static str {
    if f.is_nan() {
        "`.nan`, which is not a number"
    } else {
        "an infinite number"
    }
}

#[cfg(test)]
mod tests;
