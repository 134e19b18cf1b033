//! The web console in a real browser: Debian's Chromium, driven over
//! WebDriver (chromedriver) from this test, against a real server and
//! PostgreSQL holding three agents' data (Debian, RPM and Windows images).
//! Each page visited is saved as a screenshot under the target folder
//! (`console-screenshots/`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use regf::writer::{KeySpec, Options};
use serde_json::json;

use crate::console::PASSWORD;
use crate::fixtures::rpm::rpm_sqlite_database;
use crate::fixtures::windows::{IMAGE_NAME, image, uninstall};
use crate::fixtures::write;
use crate::postgres::Postgres;
use crate::support::*;

/// What a package may be called on Windows (a DisplayName is any text).
const INJECTED: &str = "<script>document.title='owned'</script>Evil Tool";

const DEBIAN_MANIFEST: &str = r#"
[[collector]]
name = "dpkg"
kind = "packages"
plugin = "packages-dpkg"
grants = ["/var/lib/dpkg"]

[[collector]]
name = "systemd"
kind = "services"
plugin = "services-systemd"
grants = ["/etc/systemd", "/lib/systemd"]

[[collector]]
name = "etc"
kind = "files"
plugin = "files-posix"
  [[collector.paths]]
  path = "/etc/*.conf"
  capture_content = true
"#;

fn debian_packages(machine: &Machine, packages: &[(&str, &str)]) {
    let status: String = packages
        .iter()
        .map(|(name, version)| {
            format!(
                "Package: {name}\nStatus: install ok installed\nMaintainer: Debian <d@debian.org>\n\
                 Architecture: amd64\nVersion: {version}\nDescription: {name}\n\n"
            )
        })
        .collect();
    machine.write("var/lib/dpkg/status", status);
}

/// Three machines with baselines and then changes of every kind but
/// registry; returns them with the changes each agent recorded.
fn three_machines(server: &Server, database: &str) -> Vec<Machine> {
    let secret = new_secret(database, &["--uses", "3"]);
    let debian = Machine::new("deb-1").with_manifest(DEBIAN_MANIFEST);
    debian_packages(&debian, &[("bash", "5.2-1"), ("openssl", "1.1.1n-0")]);
    debian.write("etc/app.conf", "port = 80\nworkers = 4\nlog = info\n");
    debian.write(
        "lib/systemd/system/cron.service",
        "[Unit]\nDescription=Regular background program processing daemon\n[Service]\nExecStart=/usr/sbin/cron\n",
    );

    let rpm = Machine::new("rpm-1");
    write(&rpm.root(), "etc/hostname", "rpm-1\n");
    rpm_sqlite_database(&rpm.root(), &[("bash", "5.2.15"), ("kernel", "6.1.0")]);

    let windows = Machine::new("win-1").named(IMAGE_NAME);
    image(&windows.root());
    let user = KeySpec::new("ROOT").key(KeySpec::new("Software").key(uninstall(vec![
        KeySpec::new("ZoomUMX").sz("DisplayName", "Zoom").sz("DisplayVersion", "5.9.3"),
        KeySpec::new("Evil").sz("DisplayName", INJECTED).sz("DisplayVersion", "1.0"),
    ])));
    write(
        &windows.root(),
        "Users/alice/NTUSER.DAT",
        regf::writer::write(&user, Options::default()),
    );

    for machine in [&debian, &rpm, &windows] {
        machine.enroll(&server.url, &secret);
        assert!(machine.scan().contains("Shipped"));
    }
    // Changes: a package upgraded, a file edited (its contents captured), a
    // daemon added; a package installed; a Windows file edited.
    debian_packages(&debian, &[("bash", "5.2-1"), ("openssl", "3.0.11-1")]);
    debian.write("etc/app.conf", "port = 8080\nworkers = 4\nlog = info\n");
    debian.write(
        "lib/systemd/system/ssh.service",
        "[Unit]\nDescription=OpenBSD Secure Shell server\n[Service]\nExecStart=/usr/sbin/sshd\n",
    );
    rpm_sqlite_database(
        &rpm.root(),
        &[("bash", "5.2.15"), ("kernel", "6.1.0"), ("kernel", "6.2.0")],
    );
    write(
        &windows.root(),
        "WINDOWS/system32/drivers/etc/hosts",
        "127.0.0.1 localhost\r\n10.0.0.5 intranet\r\n",
    );
    for machine in [&debian, &rpm, &windows] {
        let said = machine.scan();
        assert!(said.contains("Shipped"), "{said}");
    }
    vec![debian, rpm, windows]
}

fn add_user(database: &str, name: &str, role: &str) {
    let added = crate::console::add_user(database, name, role, PASSWORD);
    assert!(added.status.success(), "{}", stderr(&added));
}

/// chromedriver on a free port, stopped on drop with the Chromium it
/// started (which outlives chromedriver when a failed test left its
/// session open): Chromium's profile folder names its processes.
struct Driver {
    _process: KillOnDrop,
    url: String,
    profile: tempfile::TempDir,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = Command::new("pkill")
            .args([
                "-KILL",
                "-f",
                &format!("--user-data-dir={}", self.profile.path().display()),
            ])
            .status();
    }
}

impl Driver {
    fn start() -> Driver {
        let program = [
            "chromedriver",
            "/usr/bin/chromedriver",
            "/usr/lib/chromium/chromedriver",
        ]
        .into_iter()
        .find(|p| {
            Command::new(p)
                .arg("--version")
                .output()
                .is_ok_and(|o| o.status.success())
        })
        .expect("chromedriver is not installed (Debian: apt-get install chromium chromium-driver)");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let process = Command::new(program)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        Driver {
            _process: KillOnDrop(process),
            url: format!("http://127.0.0.1:{port}"),
            profile: tempfile::tempdir().unwrap(),
        }
    }

    /// A new headless Chromium session (chromedriver needs a moment to listen).
    async fn session(&self) -> Client {
        let mut capabilities = serde_json::Map::new();
        capabilities.insert(
            "goog:chromeOptions".to_string(),
            json!({
                "args": [
                    "--headless=new",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-dev-shm-usage",
                    "--window-size=1280,1000",
                    "--lang=en-US",
                    format!("--user-data-dir={}", self.profile.path().display()),
                ]
            }),
        );
        let started = Instant::now();
        loop {
            let connector = hyper_util::client::legacy::connect::HttpConnector::new();
            match ClientBuilder::new(connector)
                .capabilities(capabilities.clone())
                .connect(&self.url)
                .await
            {
                Ok(client) => return client,
                Err(error) if started.elapsed() < Duration::from_secs(30) => {
                    let _ = error;
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Err(error) => panic!("no WebDriver session: {error}"),
            }
        }
    }
}

/// Screenshots of the pages, as test artifacts.
struct Screenshots {
    dir: PathBuf,
    taken: Vec<String>,
}

impl Screenshots {
    fn new() -> Screenshots {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("console-screenshots");
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Screenshots { dir, taken: Vec::new() }
    }

    async fn take(&mut self, browser: &Client, name: &str) {
        let png = browser.screenshot().await.expect("a screenshot");
        assert!(png.starts_with(b"\x89PNG"), "a PNG");
        let path = self.dir.join(format!("{:02}-{name}.png", self.taken.len() + 1));
        std::fs::write(&path, png).unwrap();
        self.taken.push(path.display().to_string());
    }
}

async fn text(browser: &Client, css: &str) -> String {
    browser
        .find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("no {css}: {e}"))
        .text()
        .await
        .unwrap()
}

async fn click(browser: &Client, locator: Locator<'_>) {
    browser
        .find(locator)
        .await
        .unwrap_or_else(|e| panic!("nothing to click: {e}"))
        .click()
        .await
        .unwrap();
}

async fn texts(browser: &Client, css: &str) -> Vec<String> {
    let mut found = Vec::new();
    for element in browser.find_all(Locator::Css(css)).await.unwrap() {
        found.push(element.text().await.unwrap());
    }
    found
}

/// Waits until the browser is at a URL containing `part`.
async fn wait_for_url(browser: &Client, part: &str) {
    let started = Instant::now();
    loop {
        let url = browser.current_url().await.unwrap().to_string();
        if url.contains(part) {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "never reached {part}: at {url}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn log_in(browser: &Client, base: &str, name: &str) {
    browser.goto(&format!("{base}/login")).await.unwrap();
    browser
        .find(Locator::Css("input[name=name]"))
        .await
        .unwrap()
        .send_keys(name)
        .await
        .unwrap();
    browser
        .find(Locator::Css("input[name=password]"))
        .await
        .unwrap()
        .send_keys(PASSWORD)
        .await
        .unwrap();
    click(browser, Locator::Css("form.login button")).await;
    if let Err(error) = browser
        .wait()
        .at_most(Duration::from_secs(20))
        .for_element(Locator::Css("#machines"))
        .await
    {
        let url = browser.current_url().await.unwrap();
        panic!(
            "{name} did not reach the overview ({error}): at {url}\n{}",
            browser.source().await.unwrap()
        );
    }
}

#[test]
fn the_console_in_a_real_browser() {
    let postgres = Postgres::start();
    let database = postgres.new_database("fleet");
    let server = Server::start(&database, None);
    let base = server.url.clone();
    let machines = three_machines(&server, &database);
    add_user(&database, "ada", "admin");
    add_user(&database, "vic", "viewer");
    let rules = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(
        rules.path(),
        "[[alert]]\nname = \"ssh-config\"\nquery = 'ConfigurationChange | where FileSystemPath endswith \"sshd_config\"'\n\
         severity = \"high\"\n  [[alert.action]]\n  type = \"log\"\n",
    )
    .unwrap();
    assert!(
        server_command(&database, &["alerts", "set", rules.path().to_str().unwrap()])
            .status
            .success()
    );

    // What the agents recorded: the figures the console must show.
    let mut by_type: BTreeMap<String, usize> = BTreeMap::new();
    let mut by_machine: Vec<(String, usize)> = Vec::new();
    let mut debian_files = Vec::new();
    for machine in &machines {
        let changes = machine.changes();
        by_machine.push((machine.name.clone(), changes.len()));
        for change in changes {
            let kind = change["ConfigChangeType"].as_str().unwrap().to_string();
            if machine.name == "deb-1" && kind == "Files" {
                debian_files.push(change["FileSystemPath"].as_str().unwrap().to_string());
            }
            *by_type.entry(kind).or_default() += 1;
        }
    }
    assert_eq!(
        by_type.keys().map(String::as_str).collect::<Vec<_>>(),
        ["Daemons", "Files", "Software"],
        "{by_type:?}"
    );
    assert_eq!(debian_files, ["/etc/app.conf"]);

    let driver = Driver::start();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let mut shots = Screenshots::new();
    runtime.block_on(async {
        let browser = driver.session().await;

        // 1. Log in: the overview shows the three machines and the chart's
        // totals per type are the agents' own counts.
        browser.goto(&format!("{base}/")).await.unwrap();
        wait_for_url(&browser, "/login").await;
        shots.take(&browser, "login").await;
        log_in(&browser, &base, "ada").await;
        assert_eq!(text(&browser, "#machines").await, "3");
        for kind in ["Software", "Files", "Registry", "WindowsServices", "Daemons"] {
            let shown = text(&browser, &format!("#total-{kind}")).await;
            let expected = by_type.get(kind).copied().unwrap_or(0);
            assert_eq!(shown, expected.to_string(), "{kind}");
        }
        let total: usize = by_type.values().sum();
        assert_eq!(text(&browser, "#total-all").await, total.to_string());
        assert_eq!(text(&browser, "#changes").await, total.to_string());
        let segments = browser
            .find_all(Locator::Css("#timeline rect[class^='t-']"))
            .await
            .unwrap();
        assert!(!segments.is_empty(), "bars in the chart");
        let by_os = texts(&browser, "#machines-by-os td").await;
        assert_eq!(by_os, ["linux", "2", "windows", "1"]);
        shots.take(&browser, "overview").await;
        println!(
            "step 1: logged in; overview: 3 machines, totals {by_type:?}, {} bar segments",
            segments.len()
        );

        // 2. Machines: the list, then one machine's page with its
        // collectors and inventory tabs.
        browser.goto(&format!("{base}/machines")).await.unwrap();
        let listed = texts(&browser, "#machine-list tbody td:first-child").await;
        // By name, as KQL orders strings: by their characters' codes.
        assert_eq!(listed, [IMAGE_NAME, "deb-1", "rpm-1"]);
        shots.take(&browser, "machines").await;
        click(&browser, Locator::LinkText("deb-1")).await;
        browser.wait().for_element(Locator::Css("#inventory")).await.unwrap();
        let collectors = texts(&browser, "#collectors tbody td:first-child").await;
        assert_eq!(collectors, ["dpkg", "etc", "systemd"]);
        let software = texts(&browser, "#inventory tbody td:first-child").await;
        assert_eq!(software, ["bash", "openssl"]);
        shots.take(&browser, "machine").await;
        println!("step 2: machines listed {listed:?}; deb-1 collectors {collectors:?}, software {software:?}");

        // 3. Changes filtered to one machine and one type: exactly the
        // agent's rows.
        browser.goto(&format!("{base}/changes")).await.unwrap();
        let all_rows = browser
            .find_all(Locator::Css("#change-list tbody tr"))
            .await
            .unwrap()
            .len();
        assert_eq!(all_rows, total);
        browser
            .find(Locator::Css("input[name=machine]"))
            .await
            .unwrap()
            .send_keys("deb-1")
            .await
            .unwrap();
        // Choosing the type applies the filter (the page's script).
        browser
            .find(Locator::Css("select[name=type]"))
            .await
            .unwrap()
            .select_by_value("Files")
            .await
            .unwrap();
        wait_for_url(&browser, "type=Files").await;
        let items = texts(&browser, "#change-list tbody td.item").await;
        assert_eq!(items, debian_files);
        let machines_shown = texts(&browser, "#change-list tbody td:nth-child(2)").await;
        assert_eq!(machines_shown, ["deb-1"]);
        shots.take(&browser, "changes-filtered").await;
        println!("step 3: {all_rows} changes in all; deb-1 + Files: {items:?}");

        // 4. A file change: its fields and its content diff, inline and
        // side by side.
        click(&browser, Locator::Css("#change-list tbody td:first-child a")).await;
        browser.wait().for_element(Locator::Css("table.diff")).await.unwrap();
        let removed = texts(&browser, "table.diff tr.removed td.text").await;
        let added = texts(&browser, "table.diff tr.added td.text").await;
        assert_eq!(removed, ["-port = 80"]);
        assert_eq!(added, ["+port = 8080"]);
        let changed_fields = texts(&browser, "#fields tr.changed td:first-child").await;
        assert!(
            changed_fields.contains(&"FileContentChecksum".to_string()),
            "{changed_fields:?}"
        );
        shots.take(&browser, "change-inline").await;
        click(&browser, Locator::Id("view-split")).await;
        wait_for_url(&browser, "view=split").await;
        assert_eq!(texts(&browser, "tr.changed td.removed-side").await, ["port = 80"]);
        assert_eq!(texts(&browser, "tr.changed td.added-side").await, ["port = 8080"]);
        shots.take(&browser, "change-side-by-side").await;
        println!("step 4: app.conf diff: removed {removed:?}, added {added:?}; changed fields {changed_fields:?}");

        // 5. Queries: an answer as a table; a bad query's error with its place.
        browser.goto(&format!("{base}/query")).await.unwrap();
        let kql = browser.find(Locator::Id("kql")).await.unwrap();
        kql.send_keys("ConfigurationChange | summarize count() by Computer | order by Computer asc")
            .await
            .unwrap();
        click(&browser, Locator::Css("#query-form button")).await;
        browser.wait().for_element(Locator::Id("query-result")).await.unwrap();
        let cells = texts(&browser, "#query-result tbody td").await;
        by_machine.sort();
        let expected: Vec<String> = by_machine
            .iter()
            .flat_map(|(name, n)| [name.clone(), n.to_string()])
            .collect();
        assert_eq!(cells, expected);
        shots.take(&browser, "query").await;
        let kql = browser.find(Locator::Id("kql")).await.unwrap();
        kql.clear().await.unwrap();
        kql.send_keys("ConfigurationChange\n| where Size >").await.unwrap();
        click(&browser, Locator::Css("#query-form button")).await;
        let error = browser.wait().for_element(Locator::Id("query-error")).await.unwrap();
        assert_eq!(error.attr("data-line").await.unwrap().as_deref(), Some("2"));
        let caret = text(&browser, "#query-error pre.caret").await;
        assert!(
            caret.contains("| where Size >") && caret.trim_end().ends_with('^'),
            "{caret}"
        );
        shots.take(&browser, "query-error").await;
        println!(
            "step 5: query answered {expected:?}; the bad one: line 2, column {}",
            error.attr("data-column").await.unwrap().unwrap_or_default()
        );
        // `render` draws the chart it names above the rows: a slice per machine.
        let kql = browser.find(Locator::Id("kql")).await.unwrap();
        kql.clear().await.unwrap();
        kql.send_keys("ConfigurationChange | summarize count() by Computer | render piechart")
            .await
            .unwrap();
        click(&browser, Locator::Css("#query-form button")).await;
        browser.wait().for_element(Locator::Id("query-chart")).await.unwrap();
        let slices = texts(&browser, "#query-chart svg path title").await;
        assert_eq!(slices.len(), by_machine.len(), "{slices:?}");
        let legend = texts(&browser, "#query-chart .legend li").await;
        let mut names: Vec<String> = by_machine.iter().map(|(name, _)| name.clone()).collect();
        let mut shown = legend.clone();
        shown.sort();
        names.sort();
        assert_eq!(shown, names);
        let kql = browser.find(Locator::Id("kql")).await.unwrap();
        kql.clear().await.unwrap();
        kql.send_keys("ConfigurationChange | summarize count() by bin(TimeGenerated, 1m), Computer | render timechart")
            .await
            .unwrap();
        click(&browser, Locator::Css("#query-form button")).await;
        browser
            .wait()
            .for_element(Locator::Css("#query-chart polyline"))
            .await
            .unwrap();
        let lines = texts(&browser, "#query-chart polyline title").await;
        assert_eq!(lines.len(), by_machine.len(), "{lines:?}");
        shots.take(&browser, "query-chart").await;
        println!("step 5: render piechart drew {slices:?}; render timechart a line per machine");

        // 6. A package named with a <script>: shown as text, never run.
        browser.goto(&format!("{base}/software?q=evil")).await.unwrap();
        let names = texts(&browser, "#software tbody td:first-child").await;
        assert_eq!(names, [INJECTED]);
        click(&browser, Locator::Css("#software tbody a")).await;
        browser
            .wait()
            .for_element(Locator::Id("software-machines"))
            .await
            .unwrap();
        assert_eq!(
            texts(&browser, "#software-machines tbody td:first-child").await,
            [IMAGE_NAME]
        );
        // Had the name's script run, it would have renamed the page.
        let title = browser.title().await.unwrap();
        assert_eq!(title, format!("Software {INJECTED} · driftwatch"));
        let scripts = browser
            .execute("return document.querySelectorAll('main script').length", vec![])
            .await
            .unwrap();
        assert_eq!(scripts, json!(0));
        shots.take(&browser, "software-injected-name").await;
        browser.goto(&format!("{base}/software?q=openssl")).await.unwrap();
        click(&browser, Locator::LinkText("openssl")).await;
        browser.wait().for_element(Locator::Id("versions")).await.unwrap();
        assert_eq!(texts(&browser, "#versions tbody td").await, ["3.0.11-1", "1"]);
        shots.take(&browser, "software-versions").await;
        println!("step 6: {INJECTED:?} shown as text on the software pages; title {title:?}");

        // 7. Alerts: an admin sees the rule's switch; a viewer has none,
        // and a viewer's form to change it is refused.
        browser.goto(&format!("{base}/alerts")).await.unwrap();
        assert_eq!(texts(&browser, "#rules tbody td.state").await, ["on"]);
        assert_eq!(browser.find_all(Locator::Css("#rules button")).await.unwrap().len(), 1);
        shots.take(&browser, "alerts-admin").await;
        click(&browser, Locator::Css("form.logout button")).await;
        wait_for_url(&browser, "/login").await;
        log_in(&browser, &base, "vic").await;
        browser.goto(&format!("{base}/alerts")).await.unwrap();
        assert!(
            browser
                .find_all(Locator::Css("#rules button"))
                .await
                .unwrap()
                .is_empty()
        );
        shots.take(&browser, "alerts-viewer").await;
        // The form an admin would send, sent from the viewer's session.
        browser
            .execute(
                "const form = document.createElement('form');
                 form.method = 'post'; form.action = '/alerts/rules';
                 const csrf = document.querySelector('form.logout input[name=csrf]').value;
                 for (const [name, value] of [['csrf', csrf], ['rule', 'ssh-config'], ['enabled', 'off']]) {
                     const input = document.createElement('input');
                     input.type = 'hidden'; input.name = name; input.value = value; form.appendChild(input);
                 }
                 document.body.appendChild(form); form.submit();",
                vec![],
            )
            .await
            .unwrap();
        wait_for_url(&browser, "/alerts/rules").await;
        let refused = text(&browser, "body").await;
        assert!(refused.contains("viewers cannot change anything"), "{refused}");
        browser.goto(&format!("{base}/alerts")).await.unwrap();
        assert_eq!(
            texts(&browser, "#rules tbody td.state").await,
            ["on"],
            "the rule is unchanged"
        );
        println!("step 7: the viewer's attempt to turn the rule off: {refused:?}; the rule stays on");

        browser.close().await.unwrap();
    });
    println!("screenshots:\n  {}", shots.taken.join("\n  "));
    drop(server);
}
