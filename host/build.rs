//! Builds the bundled collector plugins for wasm32-wasip2 and embeds them in
//! the `driftwatch` binary, so it runs from anywhere with its plugins.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// The built-in manifest: the plugins it names are the ones shipped inside
/// the binary (each a crate in `plugins/`), so that bundling a plugin is
/// giving it an entry there.
const BUILTIN_MANIFEST: &str = "src/manifest/defaults/builtin.toml";

/// The plugins the built-in manifest names, in its order.
fn bundled(manifest_dir: &Path) -> Vec<String> {
    let path = manifest_dir.join(BUILTIN_MANIFEST);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let manifest: toml::Table = text
        .parse()
        .unwrap_or_else(|e| panic!("{} is not TOML: {e}", path.display()));
    let mut names: Vec<String> = Vec::new();
    let collectors = manifest
        .get("collector")
        .and_then(|c| c.as_array())
        .cloned()
        .unwrap_or_default();
    for collector in &collectors {
        let Some(plugin) = collector.get("plugin").and_then(|p| p.as_str()) else {
            panic!("{}: a collector without a `plugin`", path.display());
        };
        if !names.iter().any(|n| n == plugin) {
            names.push(plugin.to_string());
        }
    }
    names
}

fn main() {
    let manifest_dir = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let workspace = manifest_dir
        .parent()
        .expect("host/ is inside the workspace")
        .to_path_buf();
    let out_dir = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    println!(
        "cargo:rerun-if-changed={}",
        manifest_dir.join(BUILTIN_MANIFEST).display()
    );
    for watched in ["plugins", "wit", "Cargo.lock"] {
        println!("cargo:rerun-if-changed={}", workspace.join(watched).display());
    }

    let build = driftwatch_plugin_builder::PluginBuild {
        target_dir: plugin_target_dir(&out_dir, &workspace),
        workspace,
        packages: bundled(&manifest_dir),
    };
    let built = match build.run() {
        Ok(built) => built,
        Err(error) => {
            // A plain panic message is what cargo shows for a failed build script.
            eprintln!("error: {error}");
            panic!("cannot build the bundled plugins: {error}");
        }
    };

    let mut index = String::from("/// Plugins built with this binary.\npub static BUNDLED: &[BundledPlugin] = &[\n");
    for plugin in built {
        let embedded = out_dir.join(format!("{}.wasm", plugin.name));
        std::fs::copy(&plugin.wasm, &embedded).expect("copy built plugin into OUT_DIR");
        writeln!(
            index,
            "    BundledPlugin {{ name: {:?}, wasm: include_bytes!({:?}) }},",
            plugin.name,
            embedded.display().to_string()
        )
        .expect("write to string");
    }
    index.push_str("];\n");
    std::fs::write(out_dir.join("bundled_plugins.rs"), index).expect("write bundled_plugins.rs");
}

/// `target/plugins` beside the outer build's profile directories, found from
/// OUT_DIR (`target/<profile>/build/<crate>/out`), unless the target dir is set.
fn plugin_target_dir(out_dir: &Path, workspace: &Path) -> PathBuf {
    if let Some(dir) = std::env::var_os("CARGO_TARGET_DIR") {
        let dir = PathBuf::from(dir);
        return if dir.is_absolute() { dir } else { workspace.join(dir) }.join("plugins");
    }
    out_dir
        .ancestors()
        .nth(4)
        .map(|target| target.join("plugins"))
        .unwrap_or_else(|| workspace.join("target").join("plugins"))
}
