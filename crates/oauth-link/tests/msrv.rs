//! The declared minimum Rust version is honoured by the lock file: no locked package asks
//! for a newer compiler than the workspace's `rust-version` (the workspace uses resolver 3,
//! which picks such versions on `cargo update`; this test catches a hand-made bump).

use std::cmp::Ordering;
use std::process::Command;

use serde_json::Value;

/// `1.88`, `1.88.0` → `[1, 88, 0]`.
fn version(text: &str) -> Option<[u64; 3]> {
    let mut parts = text.split('.').map(|p| p.parse::<u64>().ok());
    let major = parts.next()??;
    let minor = parts.next().unwrap_or(Some(0))?;
    let patch = parts.next().unwrap_or(Some(0))?;
    Some([major, minor, patch])
}

#[test]
fn every_locked_dependency_builds_on_the_declared_rust_version() {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let manifest = concat!(env!("CARGO_MANIFEST_DIR"), "/../../Cargo.toml");
    let output = Command::new(cargo)
        .args(["metadata", "--format-version", "1", "--locked", "--manifest-path", manifest])
        .output()
        .expect("run cargo metadata");
    assert!(
        output.status.success(),
        "cargo metadata --locked failed (is Cargo.lock stale? run `cargo update -w`):\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let metadata: Value = serde_json::from_slice(&output.stdout).expect("cargo metadata prints JSON");
    let packages = metadata["packages"].as_array().expect("packages");

    let own: Vec<&Value> = packages.iter().filter(|p| p["source"].is_null()).collect();
    let declared = own
        .iter()
        .find(|p| p["name"] == "oauth-link")
        .and_then(|p| p["rust_version"].as_str())
        .expect("the facade declares rust-version");
    let msrv = version(declared).expect("a numeric rust-version");
    for p in &own {
        assert_eq!(p["rust_version"].as_str(), Some(declared), "{} declares another rust-version", p["name"]);
    }

    let mut checked = 0;
    let mut newer = Vec::new();
    for p in packages.iter().filter(|p| !p["source"].is_null()) {
        let Some(required) = p["rust_version"].as_str() else { continue };
        checked += 1;
        let required_version = version(required).unwrap_or([u64::MAX; 3]);
        if required_version.cmp(&msrv) == Ordering::Greater {
            newer.push(format!("{} {} needs Rust {required}", p["name"].as_str().unwrap_or("?"), p["version"]));
        }
    }
    assert!(checked > 50, "only {checked} locked packages declare a rust-version: is this the workspace's metadata?");
    assert!(
        newer.is_empty(),
        "locked dependencies need a newer Rust than the declared rust-version {declared}; pin an older \
         version (`cargo update -p NAME --precise VERSION`) or raise rust-version deliberately:\n{}",
        newer.join("\n")
    );
}

#[test]
fn versions_parse_like_cargo_writes_them() {
    assert_eq!(version("1.88"), Some([1, 88, 0]));
    assert_eq!(version("1.89.1"), Some([1, 89, 1]));
    assert_eq!(version("x"), None);
    assert!(version("1.89").unwrap() > version("1.88.9").unwrap());
}
