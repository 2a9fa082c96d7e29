//! Plugin version information (commit id and release date) for the plugin's metadata.

fn main() {
    gst_plugin_version_helper::info();
}
