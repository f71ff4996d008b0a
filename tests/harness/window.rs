//! The real Sotto app window, driven through WebDriver: `tauri-driver` (which starts
//! WebKitWebDriver, which starts the app binary) on free ports, with the app's data, config and
//! cache directories private to the test. Screenshots go to `target/test-output/app/<test>/`.
//!
//! Needs a display (`DISPLAY`, Xvfb in CI), `tauri-driver` and `WebKitWebDriver` on `PATH`, and
//! the app built with its UI (`npm --prefix ui run build && cargo build -p sotto-app`).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::elements::Element;
use fantoccini::key::Key;
use fantoccini::{Client, ClientBuilder, Locator};
use tempfile::TempDir;

use crate::{binary, free_port};

/// How long an element may take to appear (a cold WebKit start is slow on 2 shared cores).
const WAIT: Duration = Duration::from_secs(30);

pub struct AppWindow {
    pub client: Client,
    driver: Child,
    /// The app's process (below WebKitWebDriver, below the driver).
    app_pid: Option<u32>,
    shots: PathBuf,
    shot_count: std::sync::atomic::AtomicUsize,
}

/// Data directories that outlive one window, so a test can close the app and start it again:
/// one "computer". Its own server (if a test asks for one) listens on a loopback port chosen
/// once, so it comes back at the same address after a restart, as on a real computer.
pub struct AppData {
    dir: TempDir,
    local_server_port: u16,
    own_home: bool,
    extra_env: Vec<(&'static str, std::ffi::OsString)>,
}

impl AppData {
    pub fn new() -> AppData {
        AppData {
            dir: tempfile::Builder::new().prefix("sotto-app-").tempdir().unwrap(),
            local_server_port: free_port(),
            own_home: false,
            extra_env: Vec::new(),
        }
    }

    /// The app also gets `key=value` in its environment (an update source for a debug build,
    /// a certificate authority in `SSL_CERT_FILE`).
    pub fn with_env(mut self, key: &'static str, value: impl Into<std::ffi::OsString>) -> AppData {
        self.extra_env.push((key, value.into()));
        self
    }

    /// The app also gets a `HOME` of its own ([`AppData::home`]), for what it writes there
    /// whatever the XDG variables say (the autostart entry).
    pub fn with_own_home(mut self) -> AppData {
        self.own_home = true;
        std::fs::create_dir_all(self.home()).unwrap();
        self
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// The app's `HOME` when [`AppData::with_own_home`] was asked for.
    pub fn home(&self) -> PathBuf {
        self.dir.path().join("home")
    }

    /// The environment every process of the app gets on this "computer".
    fn env(&self) -> Vec<(&'static str, std::ffi::OsString)> {
        let mut env = vec![
            ("XDG_DATA_HOME", self.path().join("data").into_os_string()),
            ("XDG_CONFIG_HOME", self.path().join("config").into_os_string()),
            ("XDG_CACHE_HOME", self.path().join("cache").into_os_string()),
            // The app's own server (if a test asks for one) must not take a shared port.
            ("SOTTO_LOCAL_SERVER_PORT", self.local_server_port.to_string().into()),
        ];
        if self.own_home {
            env.push(("HOME", self.home().into_os_string()));
        }
        env.extend(self.extra_env.iter().cloned());
        env
    }

    /// Start the app binary again, as a person does from their desktop's menu while it runs:
    /// the second instance hands over to the running one (which shows its window) and ends.
    pub async fn launch_second_instance(&self) {
        let mut second = Command::new(binary("sotto-app"))
            .envs(self.env())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(status) = second.try_wait().unwrap() {
                assert!(status.success(), "the second launch ended with {status}");
                return;
            }
            if Instant::now() > deadline {
                let _ = second.kill();
                let _ = second.wait();
                panic!("the second launch did not hand over to the running app and end");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Default for AppData {
    fn default() -> Self {
        Self::new()
    }
}

fn css(testid: &str) -> String {
    format!("[data-testid='{testid}']")
}

impl AppWindow {
    /// Start the app (as a new window) over `data`; `test` names the screenshot folder.
    pub async fn launch(test: &str, data: &AppData) -> AppWindow {
        Self::launch_binary(test, data, &binary("sotto-app")).await
    }

    /// The same with the app binary at `app` (e.g. a release build).
    pub async fn launch_binary(test: &str, data: &AppData, app: &Path) -> AppWindow {
        let shots = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/test-output/app").join(test);
        // Screenshots of an earlier run would be mistaken for this one's.
        let _ = std::fs::remove_dir_all(&shots);
        std::fs::create_dir_all(&shots).unwrap();
        let port = free_port();
        let native_port = free_port();
        let log = std::fs::File::create(shots.join("driver.log")).unwrap();
        let mut cmd = Command::new(std::env::var("TAURI_DRIVER").unwrap_or_else(|_| "tauri-driver".into()));
        cmd.args(["--port", &port.to_string(), "--native-port", &native_port.to_string()])
            .envs(data.env())
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log);
        let driver = cmd.spawn().unwrap_or_else(|e| {
            panic!("cannot start tauri-driver ({e}); install it with `cargo install tauri-driver --locked`")
        });
        let deadline = Instant::now() + WAIT;
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "tauri-driver did not listen on {port}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let mut caps = serde_json::Map::new();
        caps.insert("browserName".into(), "wry".into());
        caps.insert("tauri:options".into(), serde_json::json!({ "application": app.display().to_string() }));
        let client = ClientBuilder::native()
            .capabilities(caps)
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
            .unwrap_or_else(|e| panic!("no WebDriver session with the app: {e}"));
        let app_pid = process_below(driver.id(), app);
        AppWindow { client, driver, app_pid, shots, shot_count: std::sync::atomic::AtomicUsize::new(0) }
    }

    /// What the app (and the driver) wrote to stderr so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.shots.join("driver.log")).unwrap_or_default()
    }

    /// The app's process id.
    pub fn app_pid(&self) -> Option<u32> {
        self.app_pid
    }

    /// The environment the window's web content process (WebKitGTK's `WebKitWebProcess`, a
    /// child of the app) started with, as `NAME=value` entries.
    pub fn web_process_environment(&self) -> Option<Vec<String>> {
        let app = self.app_pid?;
        let web = pids().into_iter().find(|&pid| {
            parent_of(pid) == Some(app)
                && std::fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|c| c.trim() == "WebKitWebProces")
        })?;
        let raw = std::fs::read(format!("/proc/{web}/environ")).ok()?;
        Some(
            raw.split(|b| *b == 0).filter(|s| !s.is_empty()).map(|s| String::from_utf8_lossy(s).into_owned()).collect(),
        )
    }

    /// The element with `data-testid=testid`, once it exists.
    pub async fn find(&self, testid: &str) -> Element {
        self.find_css(&css(testid)).await
    }

    pub async fn find_css(&self, selector: &str) -> Element {
        match self.client.wait().at_most(WAIT).for_element(Locator::Css(selector)).await {
            Ok(e) => e,
            Err(e) => {
                let html = self.client.source().await.unwrap_or_default();
                panic!("{selector} did not appear ({e}); the page was:\n{html}")
            }
        }
    }

    /// Every element matching `selector` now. WebKitWebDriver answers "stale element" when the
    /// list re-renders while it makes the elements' handles: that is asked again.
    pub async fn all(&self, selector: &str) -> Vec<Element> {
        let mut tries = 0;
        loop {
            match self.client.find_all(Locator::Css(selector)).await {
                Ok(elements) => return elements,
                Err(e) if e.is_stale_element_reference() && tries < 20 => {
                    tries += 1;
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Err(e) => panic!("finding {selector}: {e}"),
            }
        }
    }

    /// The text content of every element matching `selector`, read in one script (so a list
    /// re-rendering in between cannot leave a stale element reference).
    pub async fn texts(&self, selector: &str) -> Vec<String> {
        let value = self
            .client
            .execute(
                "return Array.from(document.querySelectorAll(arguments[0])).map(e => e.textContent.trim())",
                vec![serde_json::Value::from(selector)],
            )
            .await
            .unwrap();
        serde_json::from_value(value).unwrap()
    }

    /// The natural width of the first `<img>` matching `selector` that has loaded a picture
    /// (complete, and decoded to a width), if one has; read in one script, like [`Self::texts`].
    pub async fn loaded_image_width(&self, selector: &str) -> Option<u32> {
        let value = self
            .client
            .execute(
                "const img = Array.from(document.querySelectorAll(arguments[0]))
                   .find(i => i.complete && i.naturalWidth > 0);
                 return img ? img.naturalWidth : null",
                vec![serde_json::Value::from(selector)],
            )
            .await
            .unwrap();
        value.as_u64().and_then(|w| u32::try_from(w).ok())
    }

    /// Click the element, scrolled into view first (WebKitWebDriver does not scroll inside a
    /// scrolling panel such as a tall dialog, and refuses elements outside it), once it has
    /// stopped moving: WebDriver clicks at the point where the element was, so a section above
    /// it that finishes loading in between (the devices in Settings, say) would move the
    /// button away and the click would land on nothing.
    pub async fn click(&self, testid: &str) {
        self.click_css(&css(testid)).await;
    }

    /// [`Self::click`] for the first element matching a CSS selector (one message's button, say).
    pub async fn click_css(&self, selector: &str) {
        let element = self.find_css(selector).await;
        let arg = vec![serde_json::to_value(&element).unwrap()];
        let place = |value: serde_json::Value| value.as_str().map(str::to_owned);
        let script = "arguments[0].scrollIntoView({block: 'center'});
                      const r = arguments[0].getBoundingClientRect();
                      return [r.x, r.y, r.width, r.height].join(',')";
        let mut last = place(self.client.execute(script, arg.clone()).await.unwrap());
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(60)).await;
            let now = place(self.client.execute(script, arg.clone()).await.unwrap());
            if now == last {
                break;
            }
            last = now;
        }
        element.click().await.unwrap();
    }

    pub async fn type_into(&self, testid: &str, text: &str) {
        let field = self.find(testid).await;
        field.clear().await.unwrap();
        field.send_keys(text).await.unwrap();
    }

    /// Replace what a field holds (a suggested value, say) the way a person does: select all, type.
    pub async fn replace_text(&self, testid: &str, text: &str) {
        let field = self.find(testid).await;
        field.click().await.unwrap();
        let select_all = format!("{}a{}", char::from(Key::Control), char::from(Key::Null));
        field.send_keys(&select_all).await.unwrap();
        field.send_keys(text).await.unwrap();
        let value = field.prop("value").await.unwrap().unwrap_or_default();
        assert_eq!(value, text, "{testid} holds what was typed");
    }

    /// Wait until `check` (over the texts of the elements matching `selector`) holds.
    pub async fn wait_for_texts(&self, selector: &str, what: &str, check: impl Fn(&[String]) -> bool) -> Vec<String> {
        let deadline = Instant::now() + WAIT;
        loop {
            let texts = self.texts(selector).await;
            if check(&texts) {
                return texts;
            }
            if Instant::now() > deadline {
                self.screenshot("timeout").await;
                panic!("timed out waiting for {what}; {selector} had {texts:?}");
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Save a PNG of the window under the test's output folder.
    pub async fn screenshot(&self, name: &str) -> PathBuf {
        let n = self.shot_count.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
        let path = self.shots.join(format!("{n:02}-{name}.png"));
        // WebKit answers a screenshot after the page's next frame. With GPU compositing off (the
        // app's choice on a machine without a GPU, as here) a page that has finished drawing makes
        // no further frame, and the screenshot would wait for ever: give it frames, by repainting
        // a transparent pixel until the screenshot is taken.
        self.client
            .execute(
                "const dot = document.createElement('div');
                 dot.style.cssText = 'position:fixed;left:0;top:0;width:1px;height:1px;pointer-events:none;';
                 dot.setAttribute('aria-hidden', 'true');
                 document.body.appendChild(dot);
                 let n = 0;
                 const stop = () => { clearInterval(tick); dot.remove(); };
                 const tick = setInterval(() => {
                   dot.style.backgroundColor = n++ % 2 ? 'rgba(0,0,0,0)' : 'rgba(0,0,0,0.004)';
                   if (n > 500) stop();
                 }, 16);
                 window.__sottoStopRepaint = stop;",
                vec![],
            )
            .await
            .unwrap();
        let png = self.client.screenshot().await.unwrap();
        let _ = self.client.execute("window.__sottoStopRepaint?.()", vec![]).await;
        assert!(png.starts_with(b"\x89PNG"), "not a PNG");
        std::fs::write(&path, png).unwrap();
        path
    }

    /// Close the window, wait for the app to exit (a new launch while it is still shutting down
    /// would hand over to it as the single instance, and end), and stop the driver (SIGTERM: a
    /// killed driver leaves WebKitWebDriver behind).
    pub async fn close(mut self) {
        let _ = self.client.clone().close().await;
        if let Some(pid) = self.app_pid {
            let deadline = Instant::now() + WAIT;
            while Path::new(&format!("/proc/{pid}")).exists() && Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            if !Path::new(&format!("/proc/{pid}")).exists() {
                // Gone: `Drop` must not signal whatever process gets this id next.
                self.app_pid = None;
            }
        }
        self.stop_driver();
    }

    fn stop_driver(&mut self) {
        let _ = Command::new("kill").arg("-TERM").arg(self.driver.id().to_string()).status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.driver.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// A native dialog of the app (the system's file chooser), driven with `xdotool` on the X
/// display the app runs on: WebDriver only reaches the web page.
pub struct NativeDialog {
    window: String,
}

impl NativeDialog {
    /// The app's window titled exactly `title`, once it is shown.
    pub async fn wait(title: &str) -> NativeDialog {
        let deadline = Instant::now() + WAIT;
        loop {
            let found = Command::new("xdotool")
                .args(["search", "--onlyvisible", "--name", &format!("^{title}$")])
                .output()
                .unwrap_or_else(|e| panic!("cannot run xdotool ({e}); install it (scripts/setup-debian.sh does)"));
            let ids = String::from_utf8_lossy(&found.stdout);
            if let Some(window) = ids.lines().next() {
                return NativeDialog { window: window.to_owned() };
            }
            assert!(Instant::now() < deadline, "no window titled {title:?} appeared");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    fn xdotool(&self, args: &[&str]) {
        let status = Command::new("xdotool").args(args).status().unwrap();
        assert!(status.success(), "xdotool {args:?} failed");
    }

    /// Type `path` into the chooser's name field (which takes a full path) and press Enter.
    pub async fn choose(self, path: &Path) {
        self.xdotool(&["windowfocus", "--sync", &self.window]);
        self.xdotool(&["key", "--clearmodifiers", "ctrl+a"]);
        self.xdotool(&["type", "--delay", "20", &path.display().to_string()]);
        tokio::time::sleep(Duration::from_millis(300)).await;
        self.xdotool(&["key", "Return"]);
    }

    /// In an open dialog: the location field (Ctrl+L; typing a `/` into the file list only opens
    /// it when the list already has the keyboard's focus), then `path` and Enter.
    pub async fn open(self, path: &Path) {
        self.xdotool(&["windowfocus", "--sync", &self.window]);
        tokio::time::sleep(Duration::from_millis(300)).await;
        self.xdotool(&["key", "--clearmodifiers", "ctrl+l"]);
        tokio::time::sleep(Duration::from_millis(300)).await;
        self.xdotool(&["type", "--delay", "20", &path.display().to_string()]);
        tokio::time::sleep(Duration::from_millis(300)).await;
        self.xdotool(&["key", "Return"]);
    }

    /// Close it without choosing, and wait until it is gone. The key goes only once the dialog
    /// has had time to take the keyboard (a loaded machine maps it before its widgets are ready,
    /// and a key pressed then reaches the app's own window instead).
    pub async fn dismiss(self) {
        self.xdotool(&["windowfocus", "--sync", &self.window]);
        tokio::time::sleep(Duration::from_millis(300)).await;
        self.xdotool(&["key", "Escape"]);
        let deadline = Instant::now() + WAIT;
        while self.visible() {
            assert!(Instant::now() < deadline, "the dialog did not close");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    fn visible(&self) -> bool {
        Command::new("xdotool")
            .args(["search", "--onlyvisible", "--name", ".*"])
            .output()
            .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).lines().any(|id| id == self.window))
    }
}

impl Drop for AppWindow {
    /// A window dropped without `close` (a failed assertion unwinding) still ends its app: an app
    /// left running would keep the single-instance name, and the next test's launch would hand
    /// over to it and wait for a window that never comes.
    fn drop(&mut self) {
        if let Some(pid) = self.app_pid {
            stop_process(pid);
        }
        if let Ok(None) = self.driver.try_wait() {
            self.stop_driver();
        }
    }
}

/// SIGTERM, up to 5 s to exit, then SIGKILL.
fn stop_process(pid: u32) {
    let alive = || Path::new(&format!("/proc/{pid}")).exists();
    if !alive() {
        return;
    }
    let _ = Command::new("kill").arg("-TERM").arg(pid.to_string()).status();
    let deadline = Instant::now() + Duration::from_secs(5);
    while alive() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    if alive() {
        let _ = Command::new("kill").arg("-KILL").arg(pid.to_string()).status();
    }
}

/// The process below `root` (children, grandchildren, ...) that runs `exe`, from `/proc`.
fn process_below(root: u32, exe: &Path) -> Option<u32> {
    let exe = exe.canonicalize().ok()?;
    pids().into_iter().find(|&pid| {
        std::fs::read_link(format!("/proc/{pid}/exe")).ok().as_deref() == Some(exe.as_path()) && {
            // Walk up to the root (or to init).
            let mut p = pid;
            let mut found = false;
            for _ in 0..8 {
                match parent_of(p) {
                    Some(pp) if pp == root => {
                        found = true;
                        break;
                    }
                    Some(pp) if pp > 1 => p = pp,
                    _ => break,
                }
            }
            found
        }
    })
}

/// Every process id in `/proc`.
fn pids() -> Vec<u32> {
    let Ok(dir) = std::fs::read_dir("/proc") else { return Vec::new() };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok()).collect()
}

/// The parent of `pid`, from `/proc/<pid>/stat` (the field after the command name).
fn parent_of(pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.get(stat.rfind(')')? + 1..)?.split_whitespace().nth(1)?.parse().ok()
}
