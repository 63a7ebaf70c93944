//! Known secret strings put into configs and changed never appear anywhere in
//! what qa-reload outputs: patches (changes, JSON Patch, text diff), errors,
//! and the `diff` command's text and JSON.

use std::collections::BTreeMap;

use qa_reload::api::wire;
use qa_reload::cli::{self, Format};
use qa_reload::diff::files::diff_files;
use qa_reload::secret::MASK;

use crate::cli::{FORMATS, check, diff};
use crate::util::TestRepo;

const SECRETS: [&str; 6] = [
    "literal-token-AAAA1111",
    "literal-token-BBBB2222",
    "env-key-CCCC3333",
    "env-key-DDDD4444",
    "broken-file-EEEE5555",
    "nested-pass-FFFF6666",
];

fn env(name: &str) -> Option<String> {
    match name {
        "QA_TEST_PM_KEY_OLD" => Some(SECRETS[2].to_string()),
        "QA_TEST_PM_KEY_NEW" => Some(SECRETS[3].to_string()),
        _ => None,
    }
}

fn files(entries: &[(&str, String)]) -> BTreeMap<String, Vec<u8>> {
    entries
        .iter()
        .map(|(p, c)| (p.to_string(), c.clone().into_bytes()))
        .collect()
}

fn assert_clean(output: &str) {
    for s in SECRETS {
        assert!(!output.contains(s), "secret {s} leaked in:\n{output}");
    }
}

#[test]
fn secrets_never_appear_in_patches_or_errors() {
    let jira = |token: &str| {
        format!(
            "enabled: true\nbase_url: https://jira.example\nemail: qa@example.com\napi_token: {token}\n"
        )
    };
    let postman = |var: &str| format!("base_url: https://api.example\napi_key: ${{{var}}}\n");
    let old = files(&[
        ("config/jira_config.yaml", jira(SECRETS[0])),
        ("config/postman_config.yaml", postman("QA_TEST_PM_KEY_OLD")),
        (
            "config/testmo_config.yaml",
            format!("base_url: https://t.example\napi_token: {}\n", SECRETS[5]),
        ),
    ]);
    let new = files(&[
        ("config/jira_config.yaml", jira(SECRETS[1])),
        ("config/postman_config.yaml", postman("QA_TEST_PM_KEY_NEW")),
        (
            "config/testmo_config.yaml",
            format!(
                "base_url: https://t.example\napi_token: {}\nproject_id: [unclosed\n",
                SECRETS[4]
            ),
        ),
    ]);
    let (patches, errors) = diff_files(&old, &new, &env);
    // The broken testmo file is an error; its old entity stays unchanged.
    assert_eq!(patches.len(), 2, "{patches:#?}");
    assert!(errors.iter().any(|e| e.file == "config/testmo_config.yaml"));
    let mut output = String::new();
    for p in &patches {
        output.push_str(&wire::patch(p).to_string());
        output.push_str(&format!("{p:?}"));
    }
    for e in &errors {
        output.push_str(&wire::config_error(e).to_string());
        output.push_str(&e.to_string());
    }
    assert_clean(&output);
    // The change is still visible: the token changed, shown as two different masks.
    let jira_patch = patches.iter().find(|p| p.id == "jira").unwrap();
    let change = jira_patch
        .changes
        .iter()
        .find(|c| c.path == "api_token")
        .unwrap();
    let (old, new) = (change.old.as_ref().unwrap(), change.new.as_ref().unwrap());
    assert!(old.as_str().unwrap().starts_with(MASK) && new.as_str().unwrap().starts_with(MASK));
    assert_ne!(old, new);
    assert!(!jira_patch.json_patch.is_empty());
    assert!(jira_patch.text.unified.contains(MASK));
}

#[test]
fn the_diff_command_masks_secrets() {
    let repo = TestRepo::new();
    let cfg = |token: &str| {
        format!(
            "enabled: false\nbase_url: https://jira.example\nemail: qa@example.com\napi_token: {token}\n"
        )
    };
    repo.commit(&[("config/jira_config.yaml", &cfg(SECRETS[0]))], "first");
    repo.commit(&[("config/jira_config.yaml", &cfg(SECRETS[1]))], "second");
    for format in [Format::Text, Format::Json] {
        let (code, out) = diff(&repo.root, Some("HEAD~1"), Some("HEAD"), format);
        assert_eq!(code, cli::EXIT_OK, "{out}");
        assert!(out.contains(MASK), "{out}");
        assert_clean(&out);
    }
}

#[test]
fn the_ci_formats_mask_secrets_in_messages_and_excerpts() {
    let repo = TestRepo::new();
    let cfg = |token: &str| {
        format!(
            "enabled: true\nbase_url: https://jira.example\nemail: qa@example.com\napi_token: {token}\n"
        )
    };
    repo.commit(&[("config/jira_config.yaml", &cfg(SECRETS[0]))], "first");
    // A misspelt secret key: the error's excerpt is the secret's line.
    repo.write(
        "config/jira_config.yaml",
        &cfg(SECRETS[1]).replace("api_token:", "api_tokn:"),
    );
    for format in [Format::Github, Format::Sarif, Format::Junit] {
        let (code, checked) = check(&repo.root, format);
        assert_eq!(code, cli::EXIT_INVALID, "{checked}");
        let (code, diffed) = diff(&repo.root, None, None, format);
        assert_eq!(code, cli::EXIT_OK, "{diffed}");
        let out = checked + &diffed;
        assert!(out.contains("api_tokn"), "{out}");
        if format != Format::Github {
            // SARIF and JUnit carry the excerpt, masked.
            assert!(out.contains(MASK), "{out}");
        }
        assert_clean(&out);
    }
}

/// A secret key misspelt by one letter (`api_kee`, `pasword`) is still a
/// secret key: its value is masked in every output format of `check`.
#[test]
fn a_secret_key_misspelt_by_one_letter_is_masked_in_every_format() {
    for (key, typo) in [("api_key", "api_kee"), ("api_key", "apikye")] {
        let repo = TestRepo::new();
        let text = format!(
            "enabled: true\nbase_url: https://api.getpostman.example\n{typo}: {}\n",
            SECRETS[1]
        );
        repo.write("config/postman_config.yaml", &text);
        for format in FORMATS {
            let (code, out) = check(&repo.root, format);
            assert_eq!(
                code,
                cli::EXIT_INVALID,
                "{key} misspelt {typo} is an unknown key"
            );
            assert!(out.contains(typo), "{format:?}: {out}");
            assert_clean(&out);
        }
    }
}

/// Secrets the rules left visible: keys named `passphrase`, `pass`,
/// `access_key`, `bearer`, `ssh_key`, `webhook_url`; an old token in a
/// comment on a secret's line; a secret URL query parameter; the default
/// of `${VAR:-default}`. Each is masked in every output: patches (changes,
/// JSON Patch, text diff), `check` in every format, `diff` in every format.
#[test]
fn the_newer_secret_rules_hold_in_every_output() {
    const HIDDEN: [&str; 9] = [
        "np-passphrase-1111",
        "np-pass-2222",
        "np-access-3333",
        "np-bearer-4444",
        "np-ssh-5555",
        "np-webhook-6666",
        "np-comment-7777",
        "np-query-8888",
        "np-default-9999",
    ];
    let text = format!(
        "enabled: true\n\
         base_url: https://api.example/v1?api_key={}&page=2\n\
         api_key: ${{QA_TEST_UNSET_KEY:-{}}}  # old: {}\n\
         workspace_id: w1\n\
         passphrase: {}\n\
         db_pass: {}\n\
         access_key: {}\n\
         bearer: {}\n\
         ssh_key: {}\n\
         webhook_url: https://hooks.example/{}\n",
        HIDDEN[7],
        HIDDEN[8],
        HIDDEN[6],
        HIDDEN[0],
        HIDDEN[1],
        HIDDEN[2],
        HIDDEN[3],
        HIDDEN[4],
        HIDDEN[5],
    );
    let clean = |what: &str, out: &str| {
        for s in HIDDEN {
            assert!(!out.contains(s), "{what}: {s} leaked in:\n{out}");
        }
    };
    let old = "enabled: true\nbase_url: https://api.example\napi_key: k-1234\nworkspace_id: w1\n";
    let (patches, errors) = diff_files(
        &files(&[("config/postman_config.yaml", old.to_string())]),
        &files(&[("config/postman_config.yaml", text.clone())]),
        &env,
    );
    let mut output = String::new();
    for p in &patches {
        output.push_str(&wire::patch(p).to_string());
    }
    for e in &errors {
        output.push_str(&format!("{e} {:?}\n", e.excerpt));
    }
    // Every unknown key is an error whose excerpt is its masked line.
    for key in [
        "passphrase",
        "db_pass",
        "access_key",
        "bearer",
        "ssh_key",
        "webhook_url",
    ] {
        let e = errors.iter().find(|e| e.message.contains(key));
        let e = e.unwrap_or_else(|| panic!("no error for {key}: {errors:#?}"));
        assert!(
            e.excerpt.as_deref().is_some_and(|x| x.contains(MASK)),
            "{e:?}"
        );
    }
    assert!(output.contains(MASK), "{output}");
    clean("patches and errors", &output);

    let repo = TestRepo::new();
    repo.commit(&[("config/postman_config.yaml", old)], "first");
    repo.write("config/postman_config.yaml", &text);
    for format in FORMATS {
        let (code, checked) = check(&repo.root, format);
        assert_eq!(code, cli::EXIT_INVALID, "{checked}");
        let (_, diffed) = diff(&repo.root, None, None, format);
        let out = checked + &diffed;
        assert!(out.contains("passphrase"), "{format:?}: {out}");
        clean(&format!("{format:?}"), &out);
    }
}

/// A config file's token written again in a workflow (a description that
/// quotes it, say) is masked there too: in the workflow's patch (changes,
/// JSON Patch, text diff), in its errors' messages and excerpts, and in
/// `check` and `diff` in every format. The token is found as written and
/// as `${NAME}` makes it.
#[test]
fn a_config_secret_repeated_in_a_workflow_is_masked_there() {
    const LITERAL: &str = "cfg-literal-GGGG7777";
    let jira = format!(
        "enabled: false\nbase_url: https://jira.example\nemail: qa@example.com\napi_token: {LITERAL}\n"
    );
    let postman = "enabled: false\nbase_url: https://api.example\napi_key: ${QA_TEST_PM_KEY_NEW}\n";
    let workflow = |token: &str| {
        format!(
            "id: w-{}\nname: W\ndescription: \"call with {token} then\"\nsteps:\n  - {{id: s, name: \"uses {token}\", estimated_minutes: 5}}\n",
            token.len()
        )
    };
    let broken = |token: &str| {
        format!(
            "id: b-{}\nname: B\ndescription: [\"{token}\"]\nsteps: []\n",
            token.len()
        )
    };
    let clean = |what: &str, out: &str| {
        for s in [LITERAL, SECRETS[3]] {
            assert!(!out.contains(s), "{what}: {s} leaked in:\n{out}");
            assert!(
                !out.to_lowercase().contains(&s.to_lowercase()),
                "{what}: {out}"
            );
        }
    };

    // As values: the literal and the substituted token, both sides.
    let old = files(&[
        ("config/jira_config.yaml", jira.clone()),
        ("config/postman_config.yaml", postman.to_string()),
    ]);
    let new = files(&[
        ("config/jira_config.yaml", jira.clone()),
        ("config/postman_config.yaml", postman.to_string()),
        ("workflows/w.yaml", workflow(LITERAL)),
        ("workflows/e.yaml", workflow(SECRETS[3])),
        ("workflows/b.yaml", broken(LITERAL)),
        ("workflows/c.yaml", broken(SECRETS[3])),
    ]);
    let (patches, errors) = diff_files(&old, &new, &env);
    assert!(
        patches.iter().any(|p| p.file == "workflows/w.yaml"),
        "{patches:#?} {errors:#?}"
    );
    assert!(
        patches.iter().any(|p| p.file == "workflows/e.yaml"),
        "{patches:#?}"
    );
    let mut output = String::new();
    for p in &patches {
        output.push_str(&wire::patch(p).to_string());
        output.push_str(&format!("{p:?}"));
    }
    for file in ["workflows/b.yaml", "workflows/c.yaml"] {
        let e = errors.iter().find(|e| e.file == file);
        let e = e.unwrap_or_else(|| panic!("no error for {file}: {errors:#?}"));
        assert!(
            e.excerpt.as_deref().is_some_and(|x| x.contains(MASK)),
            "{e:?}"
        );
    }
    for e in &errors {
        output.push_str(&format!("{e} {:?}\n", e.excerpt));
    }
    assert!(output.contains("call with"), "{output}");
    assert!(output.contains(MASK), "{output}");
    clean("patches and errors", &output);

    // The real commands, in every format.
    let repo = TestRepo::new();
    repo.commit(&[("config/jira_config.yaml", &jira)], "first");
    repo.write("workflows/w.yaml", &workflow(LITERAL));
    repo.write("workflows/b.yaml", &broken(LITERAL));
    for format in FORMATS {
        let (code, checked) = check(&repo.root, format);
        assert_eq!(code, cli::EXIT_INVALID, "{checked}");
        let (_, diffed) = diff(&repo.root, None, None, format);
        let (out, diff) = (checked, diffed);
        assert!(out.contains("workflows/b.yaml"), "{format:?}: {out}");
        // Text and JSON show the patches; the CI formats the problems.
        let shown = match format {
            Format::Text | Format::Json => "workflows/w.yaml",
            _ => "workflows/b.yaml",
        };
        assert!(diff.contains(shown), "{format:?}: {diff}");
        clean(&format!("check {format:?}"), &out);
        clean(&format!("diff {format:?}"), &diff);
    }
}
