//! The browser tests' kit: headless Chromium through chromedriver (Debian's `chromium` and
//! `chromium-driver`), a real `kiln server` with jobs from a git repository made here, and
//! waits bounded in time.

use crate::support::{Server, TOKEN, git};
use fantoccini::{Client, ClientBuilder, Locator};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// One browser at a time: the machine's cores are shared with the servers and builds.
static ONE_BROWSER: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// How long a wait for the page may take before the test fails (a bound, not a timing check).
const PATIENCE: Duration = Duration::from_secs(30);

/// A chromedriver process with one headless Chromium session; both end when dropped.
pub struct Browser {
    pub client: Client,
    driver: Child,
    _turn: tokio::sync::MutexGuard<'static, ()>,
}

/// The path of `tool` on PATH; a missing tool fails the test, saying how to install it.
fn require(tool: &str, package: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|dir| dir.join(tool))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!(
                "`{tool}` is not installed: the browser tests need it (apt-get install {package})"
            )
        })
}

fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

impl Browser {
    /// A desktop browser (1280x900).
    pub async fn start() -> Browser {
        Browser::start_as(serde_json::json!(null)).await
    }

    /// A phone: Chromium's mobile emulation at 390x844 CSS pixels (touch, overlay scrollbars,
    /// a phone's pixel ratio).
    pub async fn start_phone() -> Browser {
        let metrics = serde_json::json!({
            "deviceMetrics": { "width": 390, "height": 844, "pixelRatio": 3.0, "touch": true, "mobile": true },
        });
        Browser::start_as(metrics).await
    }

    async fn start_as(mobile: serde_json::Value) -> Browser {
        let turn = ONE_BROWSER.lock().await;
        let driver_path = require("chromedriver", "chromium-driver");
        let chromium = require("chromium", "chromium");
        let port = free_port();
        let driver = Command::new(driver_path)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut caps = serde_json::json!({
            "goog:chromeOptions": {
                "binary": chromium,
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                         "--disable-dev-shm-usage", "--window-size=1280,900"],
            }
        });
        if !mobile.is_null() {
            caps["goog:chromeOptions"]["mobileEmulation"] = mobile;
        }
        let serde_json::Value::Object(caps) = caps else {
            unreachable!()
        };
        let url = format!("http://127.0.0.1:{port}");
        let started = Instant::now();
        let client = loop {
            let connector = hyper_util::client::legacy::connect::HttpConnector::new();
            match ClientBuilder::new(connector)
                .capabilities(caps.clone())
                .connect(&url)
                .await
            {
                Ok(client) => break client,
                Err(e) if started.elapsed() > PATIENCE => {
                    panic!("chromedriver on {url} gave no session: {e}")
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        };
        Browser {
            client,
            driver,
            _turn: turn,
        }
    }

    pub async fn goto(&self, url: &str) {
        self.client.goto(url).await.unwrap();
    }

    /// The first element matching the CSS selector, waiting for it to appear.
    pub async fn find(&self, css: &str) -> fantoccini::elements::Element {
        self.client
            .wait()
            .at_most(PATIENCE)
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no element `{css}` on the page: {e}"))
    }

    /// Runs `act` on the first element matching `css`, finding it again when the page
    /// replaced it in between (live pages re-render rows from the event stream, so an element
    /// found a moment ago can be gone: a user would simply click the new one).
    async fn on_element<T, F, Fut>(&self, css: &str, act: F) -> T
    where
        F: Fn(fantoccini::elements::Element) -> Fut,
        Fut: std::future::Future<Output = Result<T, fantoccini::error::CmdError>>,
    {
        let started = Instant::now();
        loop {
            match act(self.find(css).await).await {
                Ok(value) => return value,
                Err(e) if e.is_stale_element_reference() && started.elapsed() < PATIENCE => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Err(e) => panic!("`{css}`: {e}"),
            }
        }
    }

    pub async fn click(&self, css: &str) {
        self.on_element(css, |e| async move { e.click().await.map(|_| ()) })
            .await
    }

    pub async fn fill(&self, css: &str, text: &str) {
        self.on_element(css, |field| async move {
            field.clear().await?;
            field.send_keys(text).await
        })
        .await
    }

    pub async fn text(&self, css: &str) -> String {
        self.on_element(css, |e| async move { e.text().await })
            .await
    }

    /// Whether an element matches the selector now (no waiting).
    pub async fn has(&self, css: &str) -> bool {
        !self
            .client
            .find_all(Locator::Css(css))
            .await
            .unwrap()
            .is_empty()
    }

    /// Waits until the page's script `js` (an expression) is true; the page's text and the
    /// server's log tell why when it never is.
    pub async fn until(&self, what: &str, js: &str) {
        let started = Instant::now();
        let script = format!("return !!({js});");
        loop {
            let ok = self.client.execute(&script, vec![]).await.unwrap();
            if ok.as_bool() == Some(true) {
                return;
            }
            if started.elapsed() > PATIENCE {
                let body = self.text("body").await;
                panic!("gave up waiting for {what} ({js})\npage:\n{body}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Writes a PNG of the page to `$KILN_SCREENSHOTS/NAME.png` when that is set (by
    /// `scripts/screenshots.sh`); nothing otherwise.
    pub async fn screenshot(&self, name: &str) {
        let Some(dir) = std::env::var_os("KILN_SCREENSHOTS") else {
            return;
        };
        let png = self.client.screenshot().await.unwrap();
        let dir = Path::new(&dir);
        std::fs::create_dir_all(dir).unwrap();
        std::fs::write(dir.join(format!("{name}.png")), png).unwrap();
    }

    /// Ends the browser session; dropping the browser then stops chromedriver.
    pub async fn close(self) {
        let _ = self.client.clone().close().await;
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// A server with the jobs of `pipelines` (name, Jenkinsfile) from one git repository, and
/// the tokens `TOKEN` (admin) and `view-only` (read).
pub struct Site {
    pub server: Server,
    _dir: tempfile::TempDir,
}

impl Site {
    pub fn start(pipelines: &[(&str, &str)]) -> Site {
        Site::start_with(|repo| {
            let mut jobs = String::new();
            for (job, text) in pipelines {
                std::fs::write(repo.join(format!("{job}.Jenkinsfile")), text).unwrap();
                jobs.push_str(&format!(
                    "  - name: {job}\n    repo: file://{}\n    jenkinsfile: {job}.Jenkinsfile\n",
                    repo.display()
                ));
            }
            jobs
        })
    }

    /// A server whose `jobs:` are the lines `jobs` returns, given the git repository made
    /// here; what `jobs` writes in the repository is committed on `main` first.
    pub fn start_with(jobs: impl FnOnce(&Path) -> String) -> Site {
        let dir = tempfile::Builder::new()
            .prefix("kiln-ui-")
            .tempdir()
            .unwrap();
        let root = dir.path().to_path_buf();
        let repo = root.join("repo");
        std::fs::create_dir_all(&repo).unwrap();
        git(&repo, &["init", "-q", "-b", "main"]);
        let mut yaml = format!(
            "server:\n  tokens:\n    - {{name: admin, token: {TOKEN}, role: admin}}\n    - {{name: viewer, token: view-only, role: read}}\n    - {{name: bob, token: bob-token, role: trigger}}\njobs:\n"
        );
        yaml.push_str(&jobs(&repo));
        git(&repo, &["add", "."]);
        git(&repo, &["commit", "-q", "-m", "pipelines"]);
        let config = root.join("kiln.yaml");
        std::fs::write(&config, yaml).unwrap();
        let server = Server::start(&root, &config, "127.0.0.1:0", [("KILN_LOG", "info")]);
        Site { server, _dir: dir }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.server.url)
    }
}

/// Logs `browser` in with `token` through the login form.
pub async fn log_in(browser: &Browser, site: &Site, token: &str) {
    browser.goto(&site.url("/login")).await;
    browser.fill("input[name=token]", token).await;
    browser.click("form#login button").await;
    browser
        .until(
            "the dashboard after logging in",
            "document.querySelector('#jobs')",
        )
        .await;
}
