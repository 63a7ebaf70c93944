//! The example configuration shipped at the repository root is valid with no
//! environment variables set, so a newcomer's first run shows no errors.

use std::path::Path;

use qa_reload::load::{config, fs};

#[test]
fn example_config_is_valid_without_environment() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let (files, io_errors) = fs::read_tree(root, &|_| false);
    assert!(io_errors.is_empty(), "{io_errors:?}");
    let (config, errors) = config::build(&files, &|_| None);
    let hard: Vec<String> = errors
        .iter()
        .filter(|e| e.is_error())
        .map(ToString::to_string)
        .collect();
    assert!(hard.is_empty(), "{hard:#?}");
    assert!(config.workflows.len() >= 5);
    assert_eq!(config.integrations.len(), 3);
    // Disabled integrations name the variable they would read.
    assert!(errors.iter().any(|e| e.message.contains("JIRA_API_TOKEN")));
}
