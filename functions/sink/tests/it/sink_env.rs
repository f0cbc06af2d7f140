//! The sample `sink.env` at the repository root (for `cargo lambda watch --env-file sink.env`
//! against `make emulate`): every variable it sets, commented-out ones included, is one the sink
//! reads, and the settings parse. That they point at the emulator's defaults is checked by the
//! `emulator` crate, which owns those defaults.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;

use sink::config::Config;

const SINK_ENV: &str = include_str!("../../../../sink.env");

/// `NAME=value` lines, in order; with `commented`, also `# NAME=value` lines (the optional
/// settings the file offers). Other comments and blank lines are skipped; anything else fails.
fn assignments(commented: bool) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for line in SINK_ENV.lines() {
        let line = line.trim();
        let assignment = match line.strip_prefix('#') {
            Some(rest) if commented => rest.trim(),
            Some(_) => continue,
            None => line,
        };
        if assignment.is_empty() {
            continue;
        }
        match assignment.split_once('=') {
            Some((name, value))
                if !name.is_empty()
                    && name
                        .bytes()
                        .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_') =>
            {
                out.push((name.to_owned(), value.to_owned()));
            }
            // A comment in prose.
            _ if line.starts_with('#') => {}
            _ => panic!("sink.env: `{line}` is neither NAME=value nor a comment"),
        }
    }
    out
}

/// Reads a configuration from the assignments and returns it with the names the sink asked for.
fn read(vars: &[(String, String)]) -> (Config, BTreeSet<String>) {
    let values: BTreeMap<&str, &str> = vars.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let asked = Mutex::new(BTreeSet::new());
    let config = Config::from_lookup(|name| {
        asked.lock().unwrap().insert(name.to_owned());
        values.get(name).map(|v| (*v).to_owned())
    })
    .unwrap_or_else(|e| panic!("sink.env does not configure the sink: {e}"));
    (config, asked.into_inner().unwrap())
}

#[test]
fn every_variable_of_sink_env_is_one_the_sink_reads() {
    for commented in [false, true] {
        let vars = assignments(commented);
        let names: Vec<&str> = vars.iter().map(|(k, _)| k.as_str()).collect();
        let unique: BTreeSet<&str> = names.iter().copied().collect();
        assert_eq!(unique.len(), names.len(), "a name is set twice: {names:?}");
        let (_, asked) = read(&vars);
        let unread: Vec<&&str> = names.iter().filter(|n| !asked.contains(**n)).collect();
        assert!(
            unread.is_empty(),
            "sink.env sets {unread:?}, which the sink never reads (it reads {asked:?})"
        );
    }
    // The optional lines are there to be uncommented: the check above saw them.
    assert!(assignments(true).len() > assignments(false).len());
}
