//! WebKitGTK settings for this window, which wry does not expose: no GPU compositing.
//!
//! The page is a text UI (lists, bubbles, a few icons) without WebGL, video or animations that
//! need a GPU. With accelerated compositing WebKitGTK loads a GL driver into the web process
//! (on a machine without a GPU, as under Xvfb, Mesa's llvmpipe with LLVM: ~40 MiB PSS) and
//! composites every frame through it; the CPU path paints the same page with less memory and,
//! in software, in less time per frame (see BENCHMARKS.md, "Desktop app"). The trade-off: on a
//! machine with a GPU, scrolling and transitions are painted by the CPU.

use tauri::{Runtime, WebviewWindow};

/// Applies the settings on the main thread (where the webview lives), as soon as the event loop
/// runs: before the page has done more than start loading.
pub fn tune<R: Runtime>(window: &WebviewWindow<R>) {
    #[cfg(target_os = "linux")]
    if let Err(e) = window.with_webview(|webview| linux::tune(&webview.inner())) {
        tracing::warn!(error = %e, "could not adjust the web view");
    }
    #[cfg(not(target_os = "linux"))]
    let _ = window;
}

#[cfg(target_os = "linux")]
mod linux {
    use webkit2gtk::{HardwareAccelerationPolicy, SettingsExt, WebViewExt};

    pub fn tune(webview: &webkit2gtk::WebView) {
        if let Some(settings) = WebViewExt::settings(webview) {
            settings.set_hardware_acceleration_policy(HardwareAccelerationPolicy::Never);
        }
    }
}
