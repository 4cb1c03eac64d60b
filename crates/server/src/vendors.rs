//! The vendors the node knows: the embedded blueprints, plus the `*.json` files of
//! `SIGNAL_BLUEPRINT_DIR` (a vendor described only as data, with no rebuild), and where each
//! vendor's region is (`SIGNAL_<VENDOR>_BASE_URL_<REGION>` points one elsewhere, e.g. at a
//! sandbox). Blueprints are read once, when the settings are; core does no I/O, so the files are
//! read here and handed to `signal_core::install_catalog`.

use crate::settings::SettingsError;
use signal_core::{Blueprint, catalog, install_catalog};
use std::collections::BTreeMap;
use std::path::Path;

/// The setting that names the directory of extra blueprint files.
pub(crate) const BLUEPRINT_DIR: &str = "SIGNAL_BLUEPRINT_DIR";

/// Reads every `*.json` file of `dir` (sorted by name) as a blueprint and adds them to the
/// catalog. A file that does not load stops the start, naming the file, the path inside it and
/// the rule.
///
/// # Errors
///
/// The directory cannot be read, a file does not load, or the catalog was already in use
/// without these blueprints (a second node in one process with another directory).
pub(crate) fn install_dir(dir: &Path) -> Result<Vec<String>, SettingsError> {
    let err = |why: String| SettingsError {
        setting: BLUEPRINT_DIR.into(),
        why,
    };
    let entries =
        std::fs::read_dir(dir).map_err(|e| err(format!("cannot read {}: {e}", dir.display())))?;
    let mut files: Vec<_> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    let mut loaded = Vec::with_capacity(files.len());
    for path in &files {
        let text = std::fs::read_to_string(path)
            .map_err(|e| err(format!("cannot read {}: {e}", path.display())))?;
        let name = path.display().to_string();
        loaded.push(Blueprint::parse(&name, &text).map_err(|e| err(e.to_string()))?);
    }
    let keys: Vec<String> = loaded.iter().map(|b| b.key.clone()).collect();
    if !install_catalog(loaded) && keys.iter().any(|k| Blueprint::get(k).is_none()) {
        return Err(err(
            "the vendor catalog was already in use; blueprint files are read at start".into(),
        ));
    }
    Ok(keys)
}

/// Every region base URL set in the environment, by variable name
/// (`SIGNAL_PENDO_BASE_URL_EU` -> `http://127.0.0.1:9000`), for every vendor in the catalog;
/// each must be an http(s) URL.
///
/// # Errors
///
/// The first variable that is not an http(s) URL, named.
pub(crate) fn base_urls(
    env: &impl Fn(&str) -> Option<String>,
) -> Result<BTreeMap<String, String>, SettingsError> {
    let mut urls = BTreeMap::new();
    for bp in catalog() {
        for region in bp.regions.keys() {
            let var = bp.base_url_env(region);
            let Some(url) = env(&var).filter(|v| !v.is_empty()) else {
                continue;
            };
            let ok = (url.starts_with("http://") || url.starts_with("https://"))
                && url.parse::<hyper::Uri>().is_ok_and(|u| u.host().is_some());
            if !ok {
                return Err(SettingsError {
                    setting: var,
                    why: format!("`{url}` is not an http(s) URL"),
                });
            }
            urls.insert(var, url.trim_end_matches('/').to_owned());
        }
    }
    Ok(urls)
}
