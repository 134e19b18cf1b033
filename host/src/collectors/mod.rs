//! Manifest entries → runnable collectors on a machine.
//!
//! | module | job |
//! |---|---|
//! | `plugins` | loading each plugin once; which entries can run here |
//! | `grants` | the paths and live registry keys a collector may read |
//! | `settings` | manifest settings → the contract's settings; content capture rules |
//! | `fingerprint` | what an inventory was collected under, for re-baselining |
//! | `sandboxed` | a plugin's probe and collection, items normalised on the way out |
//! | `image_name` | a Windows image's own name, read by the registry plugin |

pub mod fingerprint;
pub mod grants;
pub mod image_name;
mod plugins;
pub mod sandboxed;
pub mod settings;

pub use plugins::{LoadedPlugins, Selection, select};
pub use sandboxed::probe;
