//! `tsdev serve --config FILE` (or `TSDEV_CONFIG`): serve's settings from a TOML file whose
//! keys are the long flags (`listen = "0.0.0.0:3000"`, `retain-executions = "7d"`,
//! `cors-origin = ["https://app.example"]`). A flag on the command line wins over its
//! `TSDEV_*` variable, which wins over the file, which wins over the default: the file's
//! settings are put on the command line before the given ones, unless the variable or the
//! flag is there.

use std::ffi::OsString;
use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::CommandFactory;

/// The flag naming the file.
const CONFIG_FLAG: &str = "config";
/// Its variable.
const CONFIG_ENV: &str = "TSDEV_CONFIG";
/// Settings that are not taken from a file: the file itself, and what only prints.
const NOT_IN_FILE: &[&str] = &[CONFIG_FLAG, "print-config", "help"];

/// `args` with the settings of serve's configuration file, if one is named, put in; other
/// commands' arguments as they are.
pub(super) fn with_config_file(args: Vec<OsString>) -> anyhow::Result<Vec<OsString>> {
    if args.get(1).and_then(|a| a.to_str()) != Some("serve") {
        return Ok(args);
    }
    let Some(path) = named_file(&args) else {
        return Ok(args);
    };
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("reading the configuration file {}", path.display()))?;
    let table: toml::Table = toml::from_str(&text)
        .with_context(|| format!("reading the configuration file {}", path.display()))?;
    let command = super::Cli::command();
    let Some(serve) = command.find_subcommand("serve") else {
        return Ok(args);
    };
    let given: Vec<&str> = args.iter().skip(2).filter_map(|a| a.to_str()).collect();
    let mut from_file = Vec::new();
    for (key, value) in &table {
        let Some(arg) = serve
            .get_arguments()
            .find(|a| a.get_long() == Some(key.as_str()) && !NOT_IN_FILE.contains(&key.as_str()))
        else {
            let known: Vec<&str> = serve
                .get_arguments()
                .filter(|a| !a.is_hide_set())
                .filter_map(|a| a.get_long())
                .filter(|l| !NOT_IN_FILE.contains(l))
                .collect();
            bail!(
                "{}: unknown setting {key:?}; the settings are serve's flags: {}",
                path.display(),
                known.join(", ")
            );
        };
        let flag = format!("--{key}");
        let on_command_line = given
            .iter()
            .any(|a| *a == flag || a.starts_with(&format!("{flag}=")));
        let in_environment = arg.get_env().is_some_and(|e| std::env::var_os(e).is_some());
        if on_command_line || in_environment {
            continue;
        }
        match value {
            toml::Value::Boolean(true) => from_file.push(flag.into()),
            toml::Value::Boolean(false) => {}
            toml::Value::Array(values) => {
                for value in values {
                    from_file.push(flag.clone().into());
                    from_file.push(scalar(&path, key, value)?.into());
                }
            }
            value => {
                from_file.push(flag.into());
                from_file.push(scalar(&path, key, value)?.into());
            }
        }
    }
    let mut merged = args[..2].to_vec();
    merged.extend(from_file);
    merged.extend(args[2..].iter().cloned());
    Ok(merged)
}

/// The file named by `--config PATH`, `--config=PATH` or `TSDEV_CONFIG`.
fn named_file(args: &[OsString]) -> Option<PathBuf> {
    let flag = format!("--{CONFIG_FLAG}");
    let mut args = args.iter().skip(2);
    while let Some(arg) = args.next() {
        let Some(text) = arg.to_str() else { continue };
        if text == flag {
            return args.next().map(PathBuf::from);
        }
        if let Some(path) = text.strip_prefix(&format!("{flag}=")) {
            return Some(PathBuf::from(path));
        }
    }
    std::env::var_os(CONFIG_ENV).map(PathBuf::from)
}

/// A setting's value as a flag's text.
fn scalar(path: &std::path::Path, key: &str, value: &toml::Value) -> anyhow::Result<String> {
    match value {
        toml::Value::String(s) => Ok(s.clone()),
        toml::Value::Integer(i) => Ok(i.to_string()),
        toml::Value::Float(f) => Ok(f.to_string()),
        toml::Value::Boolean(b) => Ok(b.to_string()),
        _ => bail!(
            "{}: setting {key:?} must be a string, a number or a boolean (or a list of them)",
            path.display()
        ),
    }
}
