//! The configuration tables of docs/configuration.md list exactly the keys each adapter's
//! configuration struct reads: the documentation cannot drift from the code.

use std::collections::BTreeSet;

/// The backticked names in the first column of the table rows under `heading` (up to the
/// next heading of the same or a higher level), e.g. `redirect_uri` and its alias
/// `redirect_url` in "| `redirect_uri` (alias `redirect_url`) | ...".
fn table_keys(doc: &str, heading: &str) -> BTreeSet<String> {
    let level = heading.chars().take_while(|c| *c == '#').count();
    let section = doc
        .split_once(heading)
        .unwrap_or_else(|| panic!("docs/configuration.md has no heading starting {heading:?}"))
        .1;
    let end = section
        .lines()
        .skip(1)
        .position(|line| line.starts_with('#') && line.chars().take_while(|c| *c == '#').count() <= level)
        .map_or(section.len(), |n| section.lines().take(n + 1).map(|l| l.len() + 1).sum());
    section[..end]
        .lines()
        .filter(|line| line.starts_with("| `"))
        .filter_map(|line| line[1..].split('|').next())
        .flat_map(|cell| cell.split('`').skip(1).step_by(2).map(str::to_owned).collect::<Vec<_>>())
        .collect()
}

#[test]
fn every_adapter_table_lists_exactly_the_keys_its_configuration_reads() {
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/configuration.md")).unwrap();
    let shared = table_keys(&doc, "## Settings every adapter accepts");
    let providers = oauth_link::available_providers();
    assert!(providers.len() >= 5, "run with --all-features: {providers:?}");
    for provider in providers {
        let documented: BTreeSet<String> =
            table_keys(&doc, &format!("### `{}`", provider.kind)).union(&shared).cloned().collect();
        let read: BTreeSet<String> = provider.keys.iter().map(|k| (*k).to_owned()).collect();
        assert_eq!(
            documented, read,
            "docs/configuration.md, section `{}`: documented (left) and read by the configuration (right) differ",
            provider.kind
        );
    }
}

/// The global table lists exactly the top-level keys a config file accepts (the error for an
/// unknown top-level key names them all), and each row names its env var: the key
/// upper-cased under `OAUTH_LINK_`.
#[test]
fn the_global_table_lists_exactly_the_top_level_keys() {
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/configuration.md")).unwrap();
    let documented = table_keys(&doc, "## Global settings");
    let err = oauth_link::Settings::from_toml_str("not_a_key_xyz = 1", "f.toml").unwrap_err().to_string();
    let listed = err
        .split_once("valid keys: ")
        .and_then(|(_, rest)| rest.split_once(", and one table"))
        .unwrap_or_else(|| panic!("unexpected error text: {err}"))
        .0;
    let accepted: BTreeSet<String> = listed.split(", ").map(str::to_owned).collect();
    assert_eq!(
        documented, accepted,
        "docs/configuration.md, Global settings (left) and the accepted keys (right) differ"
    );
    for key in &documented {
        let env = format!("`OAUTH_LINK_{}`", key.to_ascii_uppercase());
        let row = doc.lines().find(|l| l.starts_with(&format!("| `{key}` |"))).unwrap();
        assert!(row.contains(&env), "the row of `{key}` names {env}: {row}");
    }
}
