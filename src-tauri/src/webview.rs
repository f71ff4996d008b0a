//! WebKitGTK settings wry does not expose: no GPU compositing on a machine without a GPU, and
//! no DMA-BUF renderer, GTK OpenGL or GPU device probing there either.
//!
//! With accelerated compositing, WebKitGTK renders the page's layers through OpenGL in the web
//! process. Without a GPU (a virtual machine, a remote desktop, Xvfb) that OpenGL is Mesa's
//! llvmpipe: the CPU rasterises, then the same CPU composites through an emulated GPU, with LLVM
//! and its buffers loaded into the web process. For this page (lists, bubbles, a few icons; no
//! WebGL or video) the plain CPU path paints the same pixels with ~90–130 MiB less memory and in
//! less time per frame (BENCHMARKS.md, "Desktop app"). With a GPU, compositing stays on: there it
//! is what makes scrolling cheap.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use tauri::{Runtime, WebviewWindow};

/// Whether OpenGL here can only be software: Mesa told so (`LIBGL_ALWAYS_SOFTWARE`), or the
/// kernel offers no render node (`/dev/dri/renderD*`), the device any GPU driver renders through.
pub fn software_rendering() -> bool {
    let forced = std::env::var_os("LIBGL_ALWAYS_SOFTWARE").is_some_and(|v| !v.is_empty() && v != "0" && v != "false");
    forced || render_node().is_none()
}

/// The kernel's first render node, looked for once per process: [`prepare_process`] and
/// [`tune`] both ask.
fn render_node() -> Option<&'static Path> {
    static NODE: OnceLock<Option<PathBuf>> = OnceLock::new();
    NODE.get_or_init(|| first_render_node(Path::new("/dev/dri"))).as_deref()
}

/// What the window's process and the web processes are told when nothing here can render on a
/// GPU, each only if the person has not set it: `(variable, value)`.
///
/// - `WEBKIT_DISABLE_DMABUF_RENDERER=1`: the page is painted by the CPU into shared memory (see
///   [`tune`]), so WebKitGTK's DMA-BUF renderer (which hands GPU buffers from the web process to
///   the window) has nothing to carry, but WebKit would still set it up.
/// - `GDK_GL=disable`: nothing in the window's process draws with OpenGL then, but GTK probes
///   GLX when it opens the display, which loads Mesa's software driver and its LLVM.
/// - `WEBKIT_WEB_RENDER_DEVICE_FILE`: WebKit finds the GPU device to tell its web processes by
///   creating an EGL display in the window's process, again loading Mesa and LLVM (~20 MiB) for
///   a device it then finds absent. Named here: the render node when the kernel has one
///   (software rendering forced), and `/dev/null`, no device, when it has none.
///
/// Measured: without Mesa the window's process is ~50 MiB smaller resident, ~23 MiB in PSS (the
/// web process maps the same LLVM pages; BENCHMARKS.md, "Desktop app"). The web process still
/// loads Mesa: WebKitGTK needs an EGL display there.
#[cfg(target_os = "linux")]
fn software_environment() -> [(&'static str, std::ffi::OsString); 3] {
    let device = render_node().unwrap_or(Path::new("/dev/null"));
    [
        ("WEBKIT_DISABLE_DMABUF_RENDERER", "1".into()),
        ("GDK_GL", "disable".into()),
        ("WEBKIT_WEB_RENDER_DEVICE_FILE", device.into()),
    ]
}

fn first_render_node(dri: &Path) -> Option<PathBuf> {
    let entries = std::fs::read_dir(dri).ok()?;
    let mut nodes: Vec<_> = entries
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().starts_with("renderD"))
        .map(|e| e.path())
        .collect();
    nodes.sort();
    nodes.into_iter().next()
}

/// Run first thing in `main`, before any thread exists: without a GPU, sets
/// [`software_environment`]. The web processes inherit it. A value the person set themselves is
/// left alone.
pub fn prepare_process() {
    #[cfg(target_os = "linux")]
    if software_rendering() {
        for (name, value) in software_environment() {
            if std::env::var_os(name).is_none() {
                // SAFETY: called at the start of `main`, before the app, its runtime or any
                // other code that could start a thread: nothing reads the environment
                // concurrently.
                #[allow(unsafe_code)]
                unsafe {
                    std::env::set_var(name, value);
                }
            }
        }
    }
}

/// Applies the settings on the main thread (where the web view lives), as soon as the event loop
/// runs: before the page has done more than start loading.
pub fn tune<R: Runtime>(window: &WebviewWindow<R>) {
    #[cfg(target_os = "linux")]
    if software_rendering() {
        tracing::info!("no GPU: the web view paints without GPU compositing");
        if let Err(e) = window.with_webview(|webview| linux::no_compositing(&webview.inner())) {
            tracing::warn!(error = %e, "could not adjust the web view");
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = window;
}

#[cfg(target_os = "linux")]
mod linux {
    use webkit2gtk::{HardwareAccelerationPolicy, SettingsExt, WebViewExt};

    pub fn no_compositing(webview: &webkit2gtk::WebView) {
        if let Some(settings) = WebViewExt::settings(webview) {
            settings.set_hardware_acceleration_policy(HardwareAccelerationPolicy::Never);
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]
    use super::first_render_node;

    #[test]
    fn a_render_node_means_a_gpu_and_a_card_alone_does_not() {
        let dri = tempfile::tempdir().unwrap();
        assert_eq!(first_render_node(dri.path()), None);
        assert_eq!(first_render_node(&dri.path().join("missing")), None);
        std::fs::write(dri.path().join("card0"), b"").unwrap();
        assert_eq!(first_render_node(dri.path()), None, "a display-only card renders nothing");
        std::fs::write(dri.path().join("renderD129"), b"").unwrap();
        std::fs::write(dri.path().join("renderD128"), b"").unwrap();
        assert_eq!(
            first_render_node(dri.path()),
            Some(dri.path().join("renderD128")),
            "the first, as the kernel numbers them"
        );
    }
}
