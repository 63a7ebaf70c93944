//! Tests of `load::schema`: documents in, entities and errors (with their
//! positions and messages) out. No I/O.
#![allow(clippy::unwrap_used)]

use super::reader::levenshtein;
use super::*;
use crate::load::yaml::{Limits, parse};
use crate::secret;

fn load_workflow(src: &str) -> (Option<Workflow>, Vec<ConfigError>) {
    let (root, errors) = parse(src.as_bytes(), "workflows/demo.yaml", &Limits::default());
    assert!(errors.is_empty(), "{errors:?}");
    workflow(root.as_ref(), "workflows/demo.yaml")
}

#[test]
fn a_valid_workflow_defaults_its_id_to_the_stem() {
    let (w, errors) = load_workflow(
        "name: Demo\nsteps:\n  - id: a\n    name: A\n    estimated_minutes: 5\n    checklist: [x]\n",
    );
    assert!(errors.is_empty(), "{errors:?}");
    let w = w.unwrap();
    assert_eq!(w.id, "demo");
    assert_eq!(w.steps[0].checklist, vec!["x".to_string()]);
}

#[test]
fn all_errors_are_reported_not_just_the_first() {
    let (w, errors) = load_workflow(
        "titel: x\nsteps:\n  - id: a\n    name: A\n    estimated_minutes: '30'\n  - id: a\n    name: B\n    estimated_minutes: 0\n",
    );
    assert!(w.is_none());
    let shown: Vec<String> = errors.iter().map(ToString::to_string).collect();
    assert_eq!(errors.len(), 5, "{shown:#?}");
    assert!(
        shown[0].contains("1:1: schema: unknown key `titel`"),
        "{}",
        shown[0]
    );
    assert!(
        shown
            .iter()
            .any(|s| s.contains("missing required key `name`"))
    );
    assert!(
        shown
            .iter()
            .any(|s| s.contains("5:24") && s.contains("remove the quotes"))
    );
    assert!(
        shown
            .iter()
            .any(|s| s.contains("6:9") && s.contains("duplicate step id"))
    );
    assert!(
        shown
            .iter()
            .any(|s| s.contains("8:24") && s.contains("between 1 and 1440"))
    );
}

#[test]
fn whole_floats_are_whole_numbers_and_other_floats_say_what_they_are() {
    let minutes = |m: &str| {
        load_workflow(&format!(
            "name: W\nsteps:\n  - id: a\n    name: A\n    estimated_minutes: {m}\n"
        ))
    };
    for (written, value) in [("5.0", 5), ("1.0e+3", 1000), ("1440.00", 1440)] {
        let (w, errors) = minutes(written);
        assert!(errors.is_empty(), "{written}: {errors:?}");
        assert_eq!(w.unwrap().steps[0].estimated_minutes, value, "{written}");
    }
    for (written, message) in [
        (
            "5.5",
            "`estimated_minutes` must be a whole number, found a number with a fraction",
        ),
        ("2.0e+3", "`estimated_minutes` must be between 1 and 1440"),
        (
            ".nan",
            "`estimated_minutes` must be a whole number, found `.nan`, which is not a number",
        ),
        (
            "-.inf",
            "`estimated_minutes` must be a whole number, found an infinite number",
        ),
    ] {
        let (w, errors) = minutes(written);
        assert!(w.is_none(), "{written}");
        assert_eq!(errors[0].message, message, "{written}");
    }
    let (root, _) = parse(
        b"complete_write_ms: .nan\n",
        "config/hot_reload.yaml",
        &Limits::default(),
    );
    let (_, errors) = settings(root.as_ref(), "config/hot_reload.yaml");
    assert!(
        errors[0]
            .message
            .ends_with("found `.nan`, which is not a number"),
        "{}",
        errors[0].message
    );
    let (root, _) = parse(
        b"debounce_ms: 50.0\n",
        "config/hot_reload.yaml",
        &Limits::default(),
    );
    let (s, errors) = settings(root.as_ref(), "config/hot_reload.yaml");
    assert!(errors.is_empty(), "{errors:?}");
    assert!(s.is_some());
}

#[test]
fn typos_get_a_suggestion() {
    let (_, errors) = load_workflow("nmae: x\nsteps: []\n");
    assert!(
        errors[0].message.contains("did you mean `name`"),
        "{}",
        errors[0].message
    );
}

#[test]
fn unknown_keys_read_the_same_with_and_without_a_suggestion() {
    let (_, errors) = load_workflow("nmae: x\nsteps: []\nk00001: 1\n7: 1\n");
    let messages: Vec<&str> = errors.iter().map(|e| e.message.as_str()).collect();
    assert_eq!(
        messages[..3],
        [
            "unknown key `nmae` in a workflow; did you mean `name`?",
            "unknown key `k00001` in a workflow; expected one of: id, name, description, ticket_types, steps",
            "unknown key `7` in a workflow; expected one of: id, name, description, ticket_types, steps",
        ]
    );
}

#[test]
fn edit_distance_with_rows_on_the_stack_and_on_the_heap() {
    assert_eq!(levenshtein("kitten", "sitting"), 3);
    assert_eq!(levenshtein("", "abc"), 3);
    assert_eq!(levenshtein("abc", ""), 3);
    assert_eq!(levenshtein("ticket_typs", "ticket_types"), 1);
    assert_eq!(levenshtein("süß", "sus"), 2);
    // Past the rows kept on the stack (32 characters).
    let long = "a".repeat(40);
    let other = format!("{}b{}", "a".repeat(20), "a".repeat(20));
    assert_eq!(levenshtein(&other, &long), 1);
    assert_eq!(levenshtein(&long, &"a".repeat(31)), 9);
    assert_eq!(levenshtein("x", &long), 40);
}

#[test]
fn missing_variable_is_an_error_only_when_enabled() {
    let env = |_: &str| None;
    for (enabled, is_error) in [("true", true), ("false", false)] {
        let src = format!(
            "enabled: {enabled}\nbase_url: https://x.example\nemail: a@b.c\napi_token: ${{NOPE_TOKEN}}\n"
        );
        let (root, _) = parse(
            src.as_bytes(),
            "config/jira_config.yaml",
            &Limits::default(),
        );
        let (i, errors) = integration(
            IntegrationKind::Jira,
            root.as_ref(),
            "config/jira_config.yaml",
            &env,
        );
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].is_error(), is_error);
        assert!(errors[0].message.contains("NOPE_TOKEN"));
        assert_eq!((errors[0].line, errors[0].column), (4, 12));
        assert_eq!(i.is_some(), !is_error);
    }
}

#[test]
fn data_center_needs_no_email_and_cloud_does() {
    let load = |src: &str| {
        let (root, _) = parse(
            src.as_bytes(),
            "config/jira_config.yaml",
            &Limits::default(),
        );
        integration(
            IntegrationKind::Jira,
            root.as_ref(),
            "config/jira_config.yaml",
            &|_| None,
        )
    };
    let (dc, errors) = load("base_url: https://x.example\ndeployment: data_center\napi_token: t\n");
    assert!(errors.is_empty(), "{errors:?}");
    let dc = dc.expect("loads");
    assert_eq!(dc.retest_minutes, 60);
    assert!(matches!(
        dc.fields,
        IntegrationFields::Jira {
            deployment: JiraDeployment::DataCenter,
            email: None,
            ..
        }
    ));
    for src in [
        "base_url: https://x.example\napi_token: t\n",
        "base_url: https://x.example\ndeployment: cloud\napi_token: t\n",
    ] {
        let (i, errors) = load(src);
        assert!(i.is_none());
        assert_eq!(errors[0].message, "missing required key `email`");
    }
    let (i, errors) = load(
        "base_url: https://x.example\ndeployment: server\nemail: e\napi_token: t\nretest_minutes: 0\n",
    );
    assert!(i.is_none());
    assert_eq!(
        (errors[0].message.as_str(), errors[0].line, errors[0].column),
        ("`deployment` must be one of `cloud`, `data_center`", 2, 13)
    );
}

#[test]
fn secrets_from_the_environment_are_masked_when_serialised() {
    let env = |k: &str| (k == "TOK").then(|| "s3cr3t-value".to_string());
    let src = "base_url: https://x.example\napi_key: ${TOK}\n";
    let (root, _) = parse(
        src.as_bytes(),
        "config/postman_config.yaml",
        &Limits::default(),
    );
    let (i, errors) = integration(
        IntegrationKind::Postman,
        root.as_ref(),
        "config/postman_config.yaml",
        &env,
    );
    assert!(errors.is_empty(), "{errors:?}");
    let i = i.unwrap();
    let json = serde_json::to_string(&i).unwrap();
    assert!(!json.contains("s3cr3t"), "{json}");
    assert!(format!("{i:?}").contains(secret::MASK));
    let IntegrationFields::Postman { api_key, .. } = &i.fields else {
        panic!("wrong kind")
    };
    assert_eq!(api_key.expose(), Some("s3cr3t-value"));
}

fn postman(src: &str, env: Env<'_>) -> (Option<Integration>, Vec<ConfigError>) {
    let (root, _) = parse(
        src.as_bytes(),
        "config/postman_config.yaml",
        &Limits::default(),
    );
    integration(
        IntegrationKind::Postman,
        root.as_ref(),
        "config/postman_config.yaml",
        env,
    )
}

#[test]
fn a_default_after_colon_dash_stands_in_for_an_unset_or_empty_variable() {
    let set = |k: &str| match k {
        "TOK" => Some("from-env-1".to_string()),
        "EMPTY" => Some(String::new()),
        _ => None,
    };
    for (value, want) in [
        ("${TOK:-fallback-2}", "from-env-1"),
        ("${UNSET:-fallback-2}", "fallback-2"),
        ("${EMPTY:-fallback-2}", "fallback-2"),
        ("'k-${UNSET:-x y}-${TOK}'", "k-x y-from-env-1"),
    ] {
        let (i, errors) = postman(
            &format!("base_url: https://x.example\napi_key: {value}\n"),
            &set,
        );
        assert!(errors.is_empty(), "{value}: {errors:?}");
        let i = i.unwrap();
        let IntegrationFields::Postman { api_key, .. } = &i.fields else {
            panic!("wrong kind")
        };
        assert_eq!(api_key.expose(), Some(want), "{value}");
        // Read from the environment, so a secret like any `${VAR}`.
        let json = serde_json::to_string(&i).unwrap();
        assert!(
            !json.contains(want) && json.contains(secret::MASK),
            "{json}"
        );
    }
    // Under an ordinary key too: the value is masked when served.
    let (i, errors) = postman(
        "base_url: ${URL:-https://default.example}\napi_key: k-123456\n",
        &set,
    );
    assert!(errors.is_empty(), "{errors:?}");
    let json = serde_json::to_string(&i.unwrap()).unwrap();
    assert!(!json.contains("default.example"), "{json}");
}

#[test]
fn any_other_reference_form_is_an_error_at_its_position() {
    for (src, col, why) in [
        ("api_key: ${TOK:?unset}\n", 10, "only `${NAME}`"),
        ("api_key: ab${TOK-x}\n", 12, "only `${NAME}`"),
        ("api_key: \"ab${A B}\"\n", 13, "only `${NAME}`"),
        ("api_key: ${1X}\n", 10, "only `${NAME}`"),
        ("api_key: x${TOK\n", 11, "not closed"),
        ("api_key: ${A:-${B}}\n", 10, "another `${`"),
    ] {
        let (i, errors) = postman(&format!("base_url: https://x.example\n{src}"), &|_| None);
        assert!(i.is_none(), "{src}");
        let e = errors
            .iter()
            .find(|e| e.message.contains(why))
            .unwrap_or_else(|| panic!("{src}: {errors:?}"));
        assert_eq!((e.line, e.column), (2, col), "{src}: {e:?}");
        assert!(e.message.starts_with("`api_key`"), "{e:?}");
    }
}

#[test]
fn settings_default_when_empty_and_check_ranges() {
    let (s, errors) = settings(None, "config/hot_reload.yaml");
    assert!(errors.is_empty());
    assert_eq!(s.unwrap(), Settings::default());
    let (root, _) = parse(
        b"debounce_ms: 100\nmax_wait_ms: 50\n",
        "h",
        &Limits::default(),
    );
    let (s, errors) = settings(root.as_ref(), "config/hot_reload.yaml");
    assert!(s.is_none());
    assert_eq!((errors[0].line, errors[0].column), (2, 14));
}

#[test]
fn settings_read_and_bound_the_complete_write_window() {
    let read = |text: &[u8]| {
        let (root, _) = parse(text, "h", &Limits::default());
        settings(root.as_ref(), "config/hot_reload.yaml")
    };
    let (s, errors) = read(b"complete_write_ms: 0\n");
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(s.unwrap().complete_write_ms, 0.0);
    let (s, errors) = read(b"debounce_ms: 20\ncomplete_write_ms: 1001\n");
    assert!(s.is_none());
    assert_eq!((errors[0].line, errors[0].column), (2, 20));
    assert!(
        errors[0].message.contains("complete_write_ms"),
        "{errors:?}"
    );
    // A fraction, to the microsecond.
    let (s, errors) = read(b"complete_write_ms: 0.25\n");
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(s.unwrap().complete_write_ms, 0.25);
    let (s, _) = read(b"complete_write_ms: 0.0004\n");
    assert_eq!(s.unwrap().complete_write_ms, 0.0, "below a microsecond");
    for bad in [
        &b"complete_write_ms: -0.5\n"[..],
        b"complete_write_ms: .nan\n",
        b"complete_write_ms: fast\n",
    ] {
        let (s, errors) = read(bad);
        assert!(s.is_none(), "{}", String::from_utf8_lossy(bad));
        assert_eq!((errors[0].line, errors[0].column), (1, 20));
        assert!(
            errors[0].message.contains("complete_write_ms"),
            "{errors:?}"
        );
    }
    assert_eq!(Settings::default().complete_write_ms, 1.0);
}

#[test]
fn settings_refuse_an_invalid_glob_at_its_item() {
    let (root, _) = parse(
        b"watch:\n  - workflows/**/*.yaml\n  - \"workflows/[a\"\n",
        "h",
        &Limits::default(),
    );
    let (s, errors) = settings(root.as_ref(), "config/hot_reload.yaml");
    assert!(s.is_none());
    assert_eq!((errors[0].line, errors[0].column), (3, 5));
    assert!(
        errors[0].message.contains("not a valid glob"),
        "{}",
        errors[0]
    );
}

#[test]
fn the_defaults_editors_are_told_are_the_ones_an_empty_settings_file_loads() {
    let (loaded, errors) = settings(None, "config/hot_reload.yaml");
    assert!(errors.is_empty(), "{errors:?}");
    let loaded = serde_json::to_value(loaded.unwrap()).unwrap();
    let mut told = 0;
    for field in shape::SETTINGS.fields {
        let Some(default) = field.default else {
            continue;
        };
        told += 1;
        assert_eq!(loaded[field.key], default.to_json(), "{}", field.key);
        assert!(
            field.help().ends_with(&format!("Default: {default}.")),
            "{}",
            field.help()
        );
    }
    assert_eq!(told, 5, "every numeric setting names its default");
}
