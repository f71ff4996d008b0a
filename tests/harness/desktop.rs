//! The desktop around the app window, as the app sees it on a real X session: its top-level X
//! window (found by the app's process id), closed the way a window manager closes it
//! (`WM_PROTOCOLS`/`WM_DELETE_WINDOW`), its map state and title; a real system tray (`trayer`,
//! an XEmbed panel, which shows the app's icon through libappindicator's fallback); and a real
//! notification server (`dunst`) on the test's D-Bus session, driven with `dunstctl`; another
//! application holding a picture on the clipboard (`xclip`); and one dragging files onto a window
//! (an XDND source).
//!
//! Needs `DISPLAY` (Xvfb in CI) and the `trayer`, `dunst` and `xclip` packages
//! (scripts/setup-debian.sh installs them).

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;
use x11rb::connection::Connection as _;
use x11rb::protocol::xproto::{AtomEnum, ClientMessageEvent, ConnectionExt as _, EventMask, MapState, Window};
use x11rb::rust_connection::RustConnection;

const WAIT: Duration = Duration::from_secs(30);

/// A connection to the X display the app runs on.
pub struct XDisplay {
    conn: RustConnection,
    root: Window,
}

impl XDisplay {
    pub fn connect() -> XDisplay {
        let (conn, screen) =
            x11rb::connect(None).unwrap_or_else(|e| panic!("cannot connect to the X display (DISPLAY): {e}"));
        let root = conn.setup().roots[screen].root;
        XDisplay { conn, root }
    }

    fn atom(&self, name: &str) -> u32 {
        self.conn.intern_atom(false, name.as_bytes()).unwrap().reply().unwrap().atom
    }

    /// The app's main window: a top-level window of process `pid` with a title (GTK's other
    /// top-level window, the client leader, has none).
    pub async fn app_window(&self, pid: u32) -> Window {
        let net_wm_pid = self.atom("_NET_WM_PID");
        let deadline = Instant::now() + WAIT;
        loop {
            let children = self.conn.query_tree(self.root).unwrap().reply().unwrap().children;
            let found = children.into_iter().find(|&w| {
                let owner = self
                    .conn
                    .get_property(false, w, net_wm_pid, AtomEnum::CARDINAL, 0, 1)
                    .ok()
                    .and_then(|c| c.reply().ok())
                    .and_then(|p| p.value32().and_then(|mut v| v.next()));
                owner == Some(pid) && self.title(w).is_some_and(|t| t.starts_with("Sotto"))
            });
            if let Some(w) = found {
                return w;
            }
            assert!(Instant::now() < deadline, "no top-level X window of the app (pid {pid}) appeared");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The window's title (`_NET_WM_NAME`), as the desktop shows it.
    pub fn title(&self, window: Window) -> Option<String> {
        let (name, utf8) = (self.atom("_NET_WM_NAME"), self.atom("UTF8_STRING"));
        let reply = self.conn.get_property(false, window, name, utf8, 0, 1024).ok()?.reply().ok()?;
        if reply.value.is_empty() {
            return None;
        }
        String::from_utf8(reply.value).ok()
    }

    /// Whether the window is shown (mapped, with its ancestors): hidden windows are not.
    pub fn is_viewable(&self, window: Window) -> bool {
        self.conn.get_window_attributes(window).unwrap().reply().unwrap().map_state == MapState::VIEWABLE
    }

    /// Wait until the window is shown (`true`) or hidden (`false`).
    pub async fn wait_viewable(&self, window: Window, viewable: bool) {
        let deadline = Instant::now() + WAIT;
        while self.is_viewable(window) != viewable {
            assert!(
                Instant::now() < deadline,
                "the app window did not become {}",
                if viewable { "shown" } else { "hidden" }
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    fn pid_of(&self, window: Window) -> Option<u32> {
        let net_wm_pid = self.atom("_NET_WM_PID");
        self.conn
            .get_property(false, window, net_wm_pid, AtomEnum::CARDINAL, 0, 1)
            .ok()?
            .reply()
            .ok()?
            .value32()?
            .next()
    }

    /// The app's icon in the tray: a window of process `pid` embedded in another window (the
    /// tray's), not a top-level one.
    pub async fn tray_icon(&self, pid: u32) -> Window {
        let deadline = Instant::now() + WAIT;
        loop {
            let mut below_top: Vec<Window> = Vec::new();
            for top in self.conn.query_tree(self.root).unwrap().reply().unwrap().children {
                below_top.extend(self.descendants(top));
            }
            if let Some(icon) = below_top.into_iter().find(|&w| self.pid_of(w) == Some(pid) && self.is_viewable(w)) {
                return icon;
            }
            assert!(Instant::now() < deadline, "the app's icon (pid {pid}) did not appear in the tray");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    fn descendants(&self, window: Window) -> Vec<Window> {
        let mut all = Vec::new();
        let Ok(Ok(tree)) = self.conn.query_tree(window).map(|c| c.reply()) else { return all };
        for child in tree.children {
            all.push(child);
            all.extend(self.descendants(child));
        }
        all
    }

    /// Click the tray icon and choose item `index` (0: the first) of the menu it opens, with the
    /// keyboard, as a person can.
    pub async fn choose_in_tray_menu(&self, icon: Window, index: usize) {
        let xdotool = |args: &[&str]| {
            let status = Command::new("xdotool")
                .args(args)
                .status()
                .unwrap_or_else(|e| panic!("cannot run xdotool ({e}); install it (scripts/setup-debian.sh does)"));
            assert!(status.success(), "xdotool {args:?} failed");
        };
        let pid = self.pid_of(icon).unwrap();
        xdotool(&["mousemove", "--window", &icon.to_string(), "5", "5", "click", "1"]);
        // The menu: a pop-up (override-redirect) window of the app, shown.
        let deadline = Instant::now() + WAIT;
        loop {
            let children = self.conn.query_tree(self.root).unwrap().reply().unwrap().children;
            let menu = children.into_iter().any(|w| {
                self.pid_of(w) == Some(pid)
                    && self
                        .conn
                        .get_window_attributes(w)
                        .unwrap()
                        .reply()
                        .is_ok_and(|a| a.override_redirect && a.map_state == MapState::VIEWABLE)
            });
            if menu {
                break;
            }
            assert!(Instant::now() < deadline, "clicking the tray icon opened no menu");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let mut keys = vec!["key"];
        keys.extend(std::iter::repeat_n("Down", index + 1));
        keys.push("Return");
        xdotool(&keys);
    }

    /// Whether an XEmbed tray manager runs on this screen (owns `_NET_SYSTEM_TRAY_S0`).
    pub fn tray_manager_present(&self) -> bool {
        let atom = self.atom("_NET_SYSTEM_TRAY_S0");
        self.conn.get_selection_owner(atom).unwrap().reply().unwrap().owner != x11rb::NONE
    }

    /// Ask the window to close the way a window manager does when its close button is clicked:
    /// a `WM_PROTOCOLS` client message carrying `WM_DELETE_WINDOW`, sent to the window.
    pub fn request_close(&self, window: Window) {
        let (protocols, delete) = (self.atom("WM_PROTOCOLS"), self.atom("WM_DELETE_WINDOW"));
        let message = ClientMessageEvent::new(32, window, protocols, [delete, x11rb::CURRENT_TIME, 0, 0, 0]);
        self.conn.send_event(false, window, EventMask::NO_EVENT, message).unwrap();
        self.conn.flush().unwrap();
    }
}

/// A real system tray on the display: `trayer`, a panel with an XEmbed notification area.
/// Stopped (SIGTERM) when dropped.
pub struct TrayPanel {
    child: Child,
}

impl TrayPanel {
    pub async fn start() -> TrayPanel {
        let x = XDisplay::connect();
        assert!(!x.tray_manager_present(), "a system tray already runs on this display");
        let child = Command::new("trayer")
            .args(["--edge", "top", "--align", "right", "--widthtype", "request", "--height", "24"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot start the system tray trayer ({e}); install the `trayer` package \
                     (scripts/setup-debian.sh does)"
                )
            });
        let panel = TrayPanel { child };
        let deadline = Instant::now() + WAIT;
        while !x.tray_manager_present() {
            assert!(Instant::now() < deadline, "trayer did not take the system tray selection");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panel
    }
}

impl Drop for TrayPanel {
    fn drop(&mut self) {
        let _ = Command::new("kill").arg("-TERM").arg(self.child.id().to_string()).status();
        let _ = self.child.wait();
    }
}

/// Whether the process `pid` still exists (and is not a zombie waiting to be reaped).
pub fn process_alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| s.get(s.rfind(')')? + 2..).map(|rest| !rest.starts_with('Z')))
        .unwrap_or(false)
}

/// Wait until process `pid` has ended.
pub async fn wait_exit(pid: u32, within: Duration) {
    let deadline = Instant::now() + within;
    while process_alive(pid) {
        assert!(Instant::now() < deadline, "process {pid} is still running after {within:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A real notification server: `dunst` on this test's display and D-Bus session, keeping every
/// notification on screen until it is acted on (so a slow machine cannot miss one). Stopped
/// (SIGTERM) when dropped.
pub struct Dunst {
    child: Option<Child>,
    _dir: TempDir,
}

impl Dunst {
    pub async fn start() -> Dunst {
        let dir = tempfile::Builder::new().prefix("sotto-dunst-").tempdir().unwrap();
        let config = dir.path().join("dunstrc");
        std::fs::write(
            &config,
            "[global]\n    follow = none\n\
             [urgency_low]\n    timeout = 0\n[urgency_normal]\n    timeout = 0\n[urgency_critical]\n    timeout = 0\n",
        )
        .unwrap();
        let log = std::fs::File::create(dir.path().join("dunst.log")).unwrap();
        let mut child = Command::new("dunst")
            .arg("-config")
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot start the notification server dunst ({e}); install the `dunst` package \
                     (scripts/setup-debian.sh does)"
                )
            });
        // Only once it owns the name: a dunstctl call before that would have D-Bus start
        // another dunst (the package's activation file), with its default settings.
        let deadline = Instant::now() + WAIT;
        let owner = loop {
            if let Some(owner) = notifications_owner() {
                break owner;
            }
            if let Ok(Some(status)) = child.try_wait() {
                panic!("dunst exited ({status}) before taking the notification service: {}", dunst_log(dir.path()));
            }
            assert!(
                Instant::now() < deadline,
                "dunst did not take the notification service: {}",
                dunst_log(dir.path())
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        // A dunst started earlier in this D-Bus session (by activation) keeps the name; ours then
        // exits. Use it only if it is dunst, and clear what it shows.
        if owner != child.id() {
            let comm = std::fs::read_to_string(format!("/proc/{owner}/comm")).unwrap_or_default();
            assert_eq!(comm.trim(), "dunst", "another notification server (pid {owner}) runs in this D-Bus session");
            eprintln!("note: using the dunst (pid {owner}) already running in this D-Bus session");
            let _ = child.kill();
            let _ = child.wait();
            let dunst = Dunst { child: None, _dir: dir };
            dunst.ctl(&["close-all"]);
            return dunst;
        }
        Dunst { child: Some(child), _dir: dir }
    }

    fn ctl(&self, args: &[&str]) -> String {
        let out = Command::new("dunstctl").args(args).output().unwrap();
        assert!(out.status.success(), "dunstctl {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// How many notifications are on screen.
    pub fn displayed(&self) -> usize {
        self.ctl(&["count", "displayed"]).trim().parse().unwrap()
    }

    /// Wait until `n` notifications are on screen.
    pub async fn wait_displayed(&self, n: usize) {
        let deadline = Instant::now() + WAIT;
        loop {
            let shown = self.displayed();
            if shown == n {
                return;
            }
            assert!(Instant::now() < deadline, "dunst shows {shown} notifications, not {n}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Close every notification on screen (they go to the history).
    pub fn close_all(&self) {
        self.ctl(&["close-all"]);
    }

    /// A click on the notification at `position` (0: the top one): its default action.
    pub fn click(&self, position: usize) {
        self.ctl(&["action", &position.to_string()]);
    }

    /// The (summary, body) of every notification in the history, newest first.
    pub fn history(&self) -> Vec<(String, String)> {
        let json: serde_json::Value = serde_json::from_str(&self.ctl(&["history"])).unwrap();
        let text = |n: &serde_json::Value, key: &str| n[key]["data"].as_str().unwrap_or_default().to_owned();
        json["data"][0].as_array().unwrap().iter().map(|n| (text(n, "summary"), text(n, "body"))).collect()
    }
}

/// The process that owns `org.freedesktop.Notifications` on the session bus, if any (asked
/// without starting one).
fn notifications_owner() -> Option<u32> {
    let out = Command::new("dbus-send")
        .args([
            "--session",
            "--print-reply=literal",
            "--dest=org.freedesktop.DBus",
            "/org/freedesktop/DBus",
            "org.freedesktop.DBus.GetConnectionUnixProcessID",
            "string:org.freedesktop.Notifications",
        ])
        .stderr(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run dbus-send ({e})"));
    // "   uint32 1234" once owned; an error (no owner) otherwise.
    String::from_utf8_lossy(&out.stdout).split_whitespace().last()?.parse().ok().filter(|_| out.status.success())
}

fn dunst_log(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("dunst.log")).unwrap_or_default()
}

impl Drop for Dunst {
    fn drop(&mut self) {
        if let Some(child) = &mut self.child {
            let _ = Command::new("kill").arg("-TERM").arg(child.id().to_string()).status();
            let _ = child.wait();
        }
    }
}

/// Another application that copied a picture: `xclip` owns the X clipboard and serves the PNG
/// file's bytes as `image/png` to whoever pastes, until it is dropped.
pub struct CopiedImage {
    child: Child,
}

impl CopiedImage {
    pub async fn png(path: &Path) -> CopiedImage {
        let child = Command::new("xclip")
            // In the foreground, so this handle owns the process.
            .args(["-quiet", "-selection", "clipboard", "-t", "image/png", "-i"])
            .arg(path)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run xclip ({e}); install it (scripts/setup-debian.sh does)"));
        // Owned before any assertion, so a failure below still ends it.
        let copied = CopiedImage { child };
        // xclip takes the selection right after it starts; ask until it answers.
        let deadline = Instant::now() + WAIT;
        loop {
            let targets = Command::new("xclip").args(["-o", "-selection", "clipboard", "-t", "TARGETS"]).output();
            if targets.is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("image/png")) {
                return copied;
            }
            assert!(Instant::now() < deadline, "xclip never offered the picture");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl CopiedImage {
    /// Paste into the app's window as a person does: Ctrl+V on the keyboard (xdotool, a real X key
    /// event; WebDriver's synthesized keys do not run the editor's paste command).
    pub async fn paste_into(&self, display: &XDisplay, app_pid: u32) {
        let window = display.app_window(app_pid).await.to_string();
        for args in [&["windowfocus", "--sync", window.as_str()][..], &["key", "--clearmodifiers", "ctrl+v"]] {
            let status = Command::new("xdotool").args(args).status().unwrap();
            assert!(status.success(), "xdotool {args:?} failed");
        }
    }
}

impl Drop for CopiedImage {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Another application dragging files onto a window and dropping them: an XDND source (the X
/// drag-and-drop protocol GTK speaks) on its own connection, offering the files as
/// `text/uri-list`. Returns once the target says it finished, or panics after [`WAIT`].
pub async fn drop_files(target: Window, paths: &[&Path]) {
    let uris: String = paths.iter().map(|p| format!("file://{}\r\n", p.display())).collect();
    tokio::task::spawn_blocking(move || XdndSource::new().drop_on(target, uris.as_bytes())).await.unwrap();
}

struct XdndSource {
    conn: RustConnection,
    root: Window,
    window: Window,
}

impl XdndSource {
    fn new() -> XdndSource {
        let (conn, screen) = x11rb::connect(None).unwrap();
        let root = conn.setup().roots[screen].root;
        let window = conn.generate_id().unwrap();
        conn.create_window(
            x11rb::COPY_DEPTH_FROM_PARENT,
            window,
            root,
            -10,
            -10,
            1,
            1,
            0,
            x11rb::protocol::xproto::WindowClass::INPUT_ONLY,
            x11rb::COPY_FROM_PARENT,
            &x11rb::protocol::xproto::CreateWindowAux::new().override_redirect(1),
        )
        .unwrap();
        XdndSource { conn, root, window }
    }

    fn atom(&self, name: &str) -> u32 {
        self.conn.intern_atom(false, name.as_bytes()).unwrap().reply().unwrap().atom
    }

    fn send(&self, target: Window, kind: &str, data: [u32; 5]) {
        let message = ClientMessageEvent::new(32, target, self.atom(kind), data);
        self.conn.send_event(false, target, EventMask::NO_EVENT, message).unwrap();
        self.conn.flush().unwrap();
    }

    /// Answer the target's requests for the dragged data until `done` accepts an XDND message
    /// sent to this source; false when [`WAIT`] passed first.
    fn serve_until(&self, uris: &[u8], mut done: impl FnMut(u32, [u32; 5]) -> bool) -> bool {
        use x11rb::protocol::Event;
        use x11rb::protocol::xproto::{PropMode, SelectionNotifyEvent};
        use x11rb::wrapper::ConnectionExt as _;
        let (uri_list, targets) = (self.atom("text/uri-list"), self.atom("TARGETS"));
        let deadline = Instant::now() + WAIT;
        while Instant::now() < deadline {
            let Some(event) = self.conn.poll_for_event().unwrap() else {
                std::thread::sleep(Duration::from_millis(10));
                continue;
            };
            match event {
                Event::SelectionRequest(request) => {
                    let property = if request.target == uri_list {
                        self.conn
                            .change_property8(PropMode::REPLACE, request.requestor, request.property, uri_list, uris)
                            .unwrap();
                        request.property
                    } else if request.target == targets {
                        self.conn
                            .change_property32(
                                PropMode::REPLACE,
                                request.requestor,
                                request.property,
                                AtomEnum::ATOM,
                                &[targets, uri_list],
                            )
                            .unwrap();
                        request.property
                    } else {
                        x11rb::NONE
                    };
                    let notify = SelectionNotifyEvent {
                        response_type: x11rb::protocol::xproto::SELECTION_NOTIFY_EVENT,
                        sequence: 0,
                        time: request.time,
                        requestor: request.requestor,
                        selection: request.selection,
                        target: request.target,
                        property,
                    };
                    self.conn.send_event(false, request.requestor, EventMask::NO_EVENT, notify).unwrap();
                    self.conn.flush().unwrap();
                }
                Event::ClientMessage(message) if done(message.type_, message.data.as_data32()) => return true,
                _ => {}
            }
        }
        false
    }

    fn drop_on(&self, target: Window, uris: &[u8]) {
        let (status, finished) = (self.atom("XdndStatus"), self.atom("XdndFinished"));
        let (selection, uri_list, copy) =
            (self.atom("XdndSelection"), self.atom("text/uri-list"), self.atom("XdndActionCopy"));
        let aware = self
            .conn
            .get_property(false, target, self.atom("XdndAware"), AtomEnum::ATOM, 0, 1)
            .unwrap()
            .reply()
            .unwrap()
            .value32()
            .and_then(|mut v| v.next())
            .expect("the window takes no drops (no XdndAware)");
        let version = aware.min(5);
        self.conn.set_selection_owner(self.window, selection, x11rb::CURRENT_TIME).unwrap();
        // The middle of the window, in root coordinates.
        let geometry = self.conn.get_geometry(target).unwrap().reply().unwrap();
        let at = self
            .conn
            .translate_coordinates(target, self.root, (geometry.width / 2) as i16, (geometry.height / 2) as i16)
            .unwrap()
            .reply()
            .unwrap();
        let position = ((at.dst_x as u32) << 16) | (at.dst_y as u16 as u32);
        self.send(target, "XdndEnter", [self.window, version << 24, uri_list, 0, 0]);
        // Move until the target accepts (GTK may first fetch the data to decide).
        let mut accepted = false;
        for _ in 0..5 {
            self.send(target, "XdndPosition", [self.window, 0, position, x11rb::CURRENT_TIME, copy]);
            let mut answered = None;
            let got = self.serve_until(uris, |kind, data| {
                if kind == status {
                    answered = Some(data[1] & 1 == 1);
                    true
                } else {
                    false
                }
            });
            assert!(got, "the window never answered the drag");
            if answered == Some(true) {
                accepted = true;
                break;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        assert!(accepted, "the window refused the dragged files");
        self.send(target, "XdndDrop", [self.window, 0, x11rb::CURRENT_TIME, 0, 0]);
        assert!(self.serve_until(uris, |kind, _| kind == finished), "the window never finished the drop");
    }
}
