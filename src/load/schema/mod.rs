//! Stage `load`: positioned YAML trees to model entities, one file at a time.
//!
//! Which keys each kind has, and the ranges of its numbers, come from the
//! tables of `shape` (the same ones the JSON Schemas are written from).
//! Every problem is collected, not just the first, each pointing at the exact
//! key or value. An entity with any error is `None` (its last good version
//! stays in force); warnings do not stop it. Pure: the environment is passed
//! in as a function, no I/O, never panics.

use crate::diagnostic::{ConfigError, EntityKind, ErrorKind, Pos};
use crate::load::mask;
use crate::load::node::{Node, Value};
use crate::load::shape::{self, Range};
use crate::model::{
    Integration, IntegrationFields, IntegrationKind, JiraDeployment, Setting, Settings, Workflow,
};

mod reader;
mod substitute;

use reader::{Reader, get};

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

#[cfg(test)]
mod tests;
