//! The parser and translator, run against a real store seeded with changes
//! and inventory of every type.

use jiff::Timestamp;
use rusqlite::types::Value as SqlValue;

use super::*;
use crate::store::Store;

const NOW: &str = "2026-11-25T00:00:00Z";

struct Seeded {
    _dir: tempfile::TempDir,
    store: Store,
}

fn text(s: &str) -> SqlValue {
    SqlValue::Text(s.to_string())
}

fn param(s: &str) -> Param {
    Param::Text(s.to_string())
}

fn insert(conn: &rusqlite::Connection, table: &str, columns: &[(&str, SqlValue)]) {
    let names: Vec<&str> = columns.iter().map(|(n, _)| *n).collect();
    let marks: Vec<String> = (1..=columns.len()).map(|i| format!("?{i}")).collect();
    let sql = format!(
        "INSERT INTO {table} ({}) VALUES ({})",
        names.join(", "),
        marks.join(", ")
    );
    conn.execute(&sql, rusqlite::params_from_iter(columns.iter().map(|(_, v)| v)))
        .unwrap();
}

/// One change row: type, category, time (day of November 2026), and columns.
fn change(conn: &rusqlite::Connection, kind: &str, category: &str, day: u32, extra: &[(&str, SqlValue)]) {
    let mut columns = vec![
        ("RunId", SqlValue::Integer(1)),
        ("Collector", text("seed")),
        ("ItemKey", text(&format!("item-{day}-{kind}-{category}"))),
        ("Computer", text("host1")),
        ("TimeGenerated", text(&format!("2026-11-{day:02}T10:00:00.000000Z"))),
        ("ConfigChangeType", text(kind)),
        ("ChangeCategory", text(category)),
    ];
    columns.extend(extra.iter().cloned());
    insert(conn, "ConfigurationChange", &columns);
}

fn software(conn: &rusqlite::Connection, name: &str, version: &str, publisher: &str, day: u32) {
    insert(
        conn,
        "ConfigurationData",
        &[
            ("Collector", text("seed")),
            ("ItemKey", text(name)),
            ("ConfigDataType", text("Software")),
            ("Computer", text("host1")),
            ("TimeGenerated", text(&format!("2026-11-{day:02}T10:00:00.000000Z"))),
            ("SoftwareName", text(name)),
            ("CurrentVersion", text(version)),
            ("Publisher", text(publisher)),
        ],
    );
}

fn seeded() -> Seeded {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let conn = rusqlite::Connection::open(store.path()).unwrap();
    insert(
        &conn,
        "CollectorRun",
        &[
            ("Collector", text("seed")),
            ("Plugin", text("seed")),
            ("Computer", text("host1")),
            ("TimeStarted", text("2026-11-01T00:00:00.000000Z")),
            ("DurationMs", SqlValue::Integer(1)),
            ("Outcome", text("ok")),
        ],
    );
    let hosts = r"c:\windows\system32\drivers\etc\hosts";
    change(
        &conn,
        "Files",
        "Modified",
        20,
        &[
            ("FileSystemPath", text(hosts)),
            ("FieldsChanged", text("DateModified,FileContentChecksum")),
            ("Size", SqlValue::Integer(824)),
            ("PreviousSize", SqlValue::Integer(824)),
        ],
    );
    change(
        &conn,
        "Files",
        "Added",
        21,
        &[
            ("FileSystemPath", text(r"C:\Windows\System32\drivers\netfilter.sys")),
            ("Size", SqlValue::Integer(40960)),
        ],
    );
    change(
        &conn,
        "Files",
        "Modified",
        22,
        &[
            ("FileSystemPath", text("/etc/hosts")),
            ("FieldsChanged", text("Size,DateModified,FileContentChecksum")),
            ("Size", SqlValue::Integer(300)),
            ("PreviousSize", SqlValue::Integer(250)),
        ],
    );
    change(
        &conn,
        "WindowsServices",
        "Modified",
        21,
        &[
            ("SvcName", text("W3SVC")),
            ("SvcState", text("Stopped")),
            ("SvcPreviousState", text("Running")),
            ("FieldsChanged", text("SvcState")),
        ],
    );
    change(
        &conn,
        "WindowsServices",
        "Modified",
        22,
        &[
            ("SvcName", text("w3svc")),
            ("SvcState", text("Running")),
            ("SvcPreviousState", text("Stopped")),
            ("FieldsChanged", text("SvcState")),
        ],
    );
    change(
        &conn,
        "Daemons",
        "Modified",
        23,
        &[
            ("SvcName", text("sshd.service")),
            ("SvcState", text("Stopped")),
            ("SvcPreviousState", text("Running")),
        ],
    );
    change(
        &conn,
        "Daemons",
        "Added",
        23,
        &[("SvcName", text("ssh-agent.service")), ("SvcState", text("Running"))],
    );
    // A removed daemon with no state recorded: KQL sees "" there, which is not "Running".
    change(&conn, "Daemons", "Removed", 24, &[("SvcName", text("openssh-server"))]);
    change(
        &conn,
        "Daemons",
        "Modified",
        24,
        &[("SvcName", text("cron.service")), ("SvcState", text("Stopped"))],
    );
    change(
        &conn,
        "Software",
        "Added",
        22,
        &[("SoftwareName", text("curl")), ("Current", text("8.5.0"))],
    );
    change(
        &conn,
        "Software",
        "Added",
        24,
        &[
            ("SoftwareName", text("Microsoft Monitoring Agent")),
            ("Current", text("10.20.18053.0")),
        ],
    );
    change(
        &conn,
        "Software",
        "Removed",
        24,
        &[("SoftwareName", text("bash")), ("Previous", text("5.1-2"))],
    );
    change(
        &conn,
        "Registry",
        "Modified",
        23,
        &[
            (
                "RegistryKey",
                text(r"HKEY_LOCAL_MACHINE\SOFTWARE\Microsoft\Windows\CurrentVersion\QualityCompat"),
            ),
            ("ValueName", text("cadca5fe-87d3-4b96-b7fb-a231484277cc")),
        ],
    );
    change(
        &conn,
        "Registry",
        "Added",
        24,
        &[
            (
                "RegistryKey",
                text(
                    r"HKEY_LOCAL_MACHINE\SYSTEM\CurrentControlSet\Services\SharedAccess\Parameters\FirewallPolicy\StandardProfile",
                ),
            ),
            ("ValueName", text("EnableFirewall")),
        ],
    );
    software(
        &conn,
        "Microsoft Monitoring Agent",
        "10.20.18053.0",
        "Microsoft Corporation",
        24,
    );
    software(
        &conn,
        "Microsoft Monitoring Agent Extras",
        "8.0.11081.0",
        "Microsoft Corporation",
        24,
    );
    software(&conn, "Microsoft Edge", "131.0", "Microsoft Corporation", 23);
    software(&conn, "Notepad++", "8.6", "Notepad++ Team", 22);
    software(&conn, "7-Zip", "23.01", "Igor Pavlov", 21);
    software(&conn, "bash", "5.2", "", 20);
    Seeded { _dir: dir, store }
}

fn source() -> Source {
    Source {
        change_window: None,
        now: NOW.parse::<Timestamp>().unwrap(),
    }
}

impl Seeded {
    fn run(&self, query: &str) -> QueryResult {
        let catalog = self.store.catalog().unwrap();
        let compiled = compile(query, &catalog, &source()).unwrap_or_else(|e| panic!("{}", e.render()));
        self.store.query(&compiled).unwrap()
    }

    /// One column of the result, as text.
    fn column(&self, query: &str, column: &str) -> Vec<String> {
        let result = self.run(query);
        let i = result
            .columns
            .iter()
            .position(|c| c.name == column)
            .unwrap_or_else(|| panic!("no column {column} in {:?}", result.columns));
        result.rows.iter().map(|r| r[i].display()).collect()
    }

    fn names(&self, query: &str) -> Vec<String> {
        let result = self.run(query);
        result.columns.iter().map(|c| c.name.clone()).collect()
    }

    fn error(&self, query: &str) -> QueryError {
        let catalog = self.store.catalog().unwrap();
        compile(query, &catalog, &source()).expect_err("the query should be refused")
    }
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

// The queries of Azure's Change Tracking documentation, verbatim.

#[test]
fn documented_files_queries() {
    let s = seeded();
    // The documented text has a space before "c:": `contains` looks for it as
    // written, so paths that start with c:\ do not match.
    let q = r#"ConfigurationChange | where ConfigChangeType == "Files" and FileSystemPath contains " c:\\windows\\system32\\drivers\\""#;
    assert_eq!(s.column(q, "FileSystemPath"), Vec::<String>::new());
    let without_space = q.replace("\" c:", "\"c:");
    assert_eq!(
        sorted(s.column(&without_space, "FileSystemPath")),
        [
            r"C:\Windows\System32\drivers\netfilter.sys",
            r"c:\windows\system32\drivers\etc\hosts"
        ],
        "contains is case-insensitive"
    );
    let q = r#"ConfigurationChange | where FieldsChanged contains "FileContentChecksum" and FileSystemPath == "c:\\windows\\system32\\drivers\\etc\\hosts""#;
    assert_eq!(
        s.column(q, "FileSystemPath"),
        [r"c:\windows\system32\drivers\etc\hosts"]
    );
}

#[test]
fn documented_service_and_daemon_queries() {
    let s = seeded();
    let q = r#"ConfigurationChange | where ConfigChangeType == "WindowsServices" and SvcName contains "w3svc" and SvcState == "Stopped""#;
    assert_eq!(s.column(q, "SvcName"), ["W3SVC"]);
    let q = r#"ConfigurationChange | where ConfigChangeType == "Daemons" and SvcName contains "ssh" and SvcState!= "Running""#;
    assert_eq!(sorted(s.column(q, "SvcName")), ["openssh-server", "sshd.service"]);
}

#[test]
fn documented_software_queries() {
    let s = seeded();
    let q = r#"ConfigurationChange | where ConfigChangeType == "Software" and ChangeCategory == "Added""#;
    assert_eq!(s.column(q, "SoftwareName"), ["curl", "Microsoft Monitoring Agent"]);
    let q = r#"ConfigurationData | where SoftwareName contains "Monitoring Agent" and CurrentVersion!= "8.0.11081.0""#;
    assert_eq!(s.column(q, "SoftwareName"), ["Microsoft Monitoring Agent"]);
}

#[test]
fn documented_registry_queries_keep_verbatim_strings_verbatim() {
    let s = seeded();
    // In a verbatim string `\\` is two backslashes; registry paths have one,
    // so the documented text finds nothing, as it would in Azure.
    let q = r#"ConfigurationChange | where RegistryKey == @"HKEY_LOCAL_MACHINE\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\QualityCompat""#;
    assert_eq!(s.column(q, "RegistryKey"), Vec::<String>::new());
    let compiled = compile(q, &s.store.catalog().unwrap(), &source()).unwrap();
    assert_eq!(
        compiled.params,
        [param(
            r"HKEY_LOCAL_MACHINE\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\QualityCompat"
        )]
    );
    assert_eq!(hints(q).len(), 1);
    assert!(
        hints(q)[0].starts_with("line 1, column 44: in a verbatim string"),
        "{:?}",
        hints(q)
    );
    let q = r#"ConfigurationChange | where RegistryKey contains @"HKEY_LOCAL_MACHINE\\SYSTEM\\CurrentControlSet\\Services\\SharedAccess\\Parameters\\FirewallPolicy""#;
    assert_eq!(s.column(q, "RegistryKey"), Vec::<String>::new());
    // Written with single backslashes (verbatim) or escaped ones (regular), they match.
    let q = r#"ConfigurationChange | where RegistryKey == @"HKEY_LOCAL_MACHINE\SOFTWARE\Microsoft\Windows\CurrentVersion\QualityCompat""#;
    assert_eq!(s.column(q, "ValueName"), ["cadca5fe-87d3-4b96-b7fb-a231484277cc"]);
    let q = r#"ConfigurationChange | where RegistryKey contains "HKEY_LOCAL_MACHINE\\SYSTEM\\CurrentControlSet\\Services\\SharedAccess\\Parameters\\FirewallPolicy""#;
    assert_eq!(s.column(q, "ValueName"), ["EnableFirewall"]);
}

#[test]
fn documented_inventory_summary() {
    let s = seeded();
    let q = r#"ConfigurationData | where ConfigDataType == "Software" | summarize arg_max(TimeGenerated, *) by SoftwareName, Computer | summarize count() by Publisher | top 10 by count_"#;
    let result = s.run(q);
    assert_eq!(s.names(q), ["Publisher", "count_"]);
    let rows: Vec<(String, String)> = result.rows.iter().map(|r| (r[0].display(), r[1].display())).collect();
    assert_eq!(rows[0], ("Microsoft Corporation".to_string(), "3".to_string()));
    assert_eq!(rows.len(), 4);
    assert!(rows[1..].iter().all(|(_, n)| n == "1"));
}

// Every operator.

#[test]
fn comparisons_and_case_rules() {
    let s = seeded();
    let q = |w: &str| format!("ConfigurationChange | where ConfigChangeType == \"WindowsServices\" and {w}");
    assert_eq!(s.column(&q(r#"SvcName == "w3svc""#), "SvcName"), ["w3svc"]);
    assert_eq!(s.column(&q(r#"SvcName =~ "w3svc""#), "SvcName"), ["W3SVC", "w3svc"]);
    assert_eq!(s.column(&q(r#"SvcName != "w3svc""#), "SvcName"), ["W3SVC"]);
    assert_eq!(s.column(&q(r#"SvcName !~ "W3SVC""#), "SvcName"), Vec::<String>::new());
    assert_eq!(s.column(&q(r#"SvcName contains_cs "W3""#), "SvcName"), ["W3SVC"]);
    assert_eq!(
        s.column(&q(r#"SvcName !contains "3s""#), "SvcName"),
        Vec::<String>::new()
    );
    let files = |w: &str| format!("ConfigurationChange | where ConfigChangeType == \"Files\" and {w}");
    assert_eq!(s.column(&files("Size > 824"), "Size"), ["40960"]);
    assert_eq!(s.column(&files("Size >= 824 and Size < 40960"), "Size"), ["824"]);
    assert_eq!(s.column(&files("Size <= 300"), "Size"), ["300"]);
    assert_eq!(
        s.column(&files("Size - PreviousSize == 50"), "FileSystemPath"),
        ["/etc/hosts"]
    );
    assert_eq!(s.column(&files("Size * 2 / 4 % 7 == 3"), "Size"), ["300"]);
    assert_eq!(s.column(&files("-Size < -1000"), "Size"), ["40960"]);
}

#[test]
fn string_operators() {
    let s = seeded();
    let q = |w: &str| {
        format!("ConfigurationChange | where ConfigChangeType == \"Daemons\" | where {w} | order by SvcName asc")
    };
    assert_eq!(s.column(&q(r#"SvcName has "ssh""#), "SvcName"), ["ssh-agent.service"]);
    assert_eq!(
        s.column(&q(r#"SvcName has "SERVICE""#), "SvcName"),
        ["cron.service", "ssh-agent.service", "sshd.service"]
    );
    assert_eq!(s.column(&q(r#"SvcName !has "service""#), "SvcName"), ["openssh-server"]);
    assert_eq!(
        s.column(&q(r#"SvcName has_cs "SERVICE""#), "SvcName"),
        Vec::<String>::new()
    );
    assert_eq!(
        s.column(&q(r#"SvcName startswith "SSH""#), "SvcName"),
        ["ssh-agent.service", "sshd.service"]
    );
    assert_eq!(
        s.column(&q(r#"SvcName !startswith "ssh""#), "SvcName"),
        ["cron.service", "openssh-server"]
    );
    assert_eq!(
        s.column(&q(r#"SvcName endswith "-server""#), "SvcName"),
        ["openssh-server"]
    );
    assert_eq!(
        s.column(&q(r#"SvcName !endswith ".service""#), "SvcName"),
        ["openssh-server"]
    );
    assert_eq!(
        s.column(&q(r#"SvcName startswith_cs "SSH""#), "SvcName"),
        Vec::<String>::new()
    );
    assert_eq!(
        s.column(&q(r#"SvcName in ("cron.service", "SSHD.SERVICE")"#), "SvcName"),
        ["cron.service"]
    );
    assert_eq!(
        s.column(&q(r#"SvcName in~ ("cron.service", "SSHD.SERVICE")"#), "SvcName"),
        ["cron.service", "sshd.service"]
    );
    assert_eq!(
        s.column(
            &q(r#"SvcName !in ("cron.service", "sshd.service", "ssh-agent.service")"#),
            "SvcName"
        ),
        ["openssh-server"]
    );
    assert_eq!(
        s.column(
            &q(r#"SvcName !in~ ("CRON.SERVICE", "SSHD.SERVICE", "openssh-server")"#),
            "SvcName"
        ),
        ["ssh-agent.service"]
    );
    assert_eq!(
        s.column(&q(r#"not(SvcName contains "ssh") or SvcState == "Running""#), "SvcName"),
        ["cron.service", "ssh-agent.service"]
    );
}

#[test]
fn empty_strings_and_nulls() {
    let s = seeded();
    let q = |w: &str| format!("ConfigurationChange | where ConfigChangeType == \"Daemons\" and {w}");
    assert_eq!(s.column(&q("isempty(SvcState)"), "SvcName"), ["openssh-server"]);
    assert_eq!(s.column(&q(r#"SvcState == """#), "SvcName"), ["openssh-server"]);
    assert_eq!(s.column(&q("isnotempty(SvcState)"), "SvcName").len(), 3);
    assert_eq!(s.column(&q(r#"SvcState != """#), "SvcName").len(), 3);
    assert_eq!(s.column(&q("isnull(SvcState)"), "SvcName"), ["openssh-server"]);
    assert_eq!(s.column(&q("isnotnull(Size)"), "SvcName").len(), 0);
}

#[test]
fn times() {
    let s = seeded();
    let count = |w: &str| s.column(&format!("ConfigurationChange | where {w} | count"), "Count")[0].clone();
    assert_eq!(count("TimeGenerated > ago(1d)"), "5", "the 24th");
    assert_eq!(count("TimeGenerated > ago(2d)"), "8", "the 23rd and 24th");
    assert_eq!(count("TimeGenerated >= ago(36h) - 12h"), "8");
    assert_eq!(count("TimeGenerated > now(-2d)"), "8");
    assert_eq!(count("TimeGenerated < now()"), "14");
    assert_eq!(count("TimeGenerated < datetime(2026-11-21)"), "1");
    assert_eq!(count(r#"TimeGenerated < datetime("2026-11-21 10:00:00.5")"#), "3");
    assert_eq!(count("TimeGenerated == datetime(2026-11-20T10:00:00Z)"), "1");
}

#[test]
fn projections() {
    let s = seeded();
    let base = "ConfigurationChange | where ConfigChangeType == \"Files\" | order by Size desc";
    assert_eq!(
        s.names(&format!("{base} | project FileSystemPath, Size")),
        ["FileSystemPath", "Size"]
    );
    let q = format!("{base} | project Path = FileSystemPath, Kb = Size / 1024, tostring(Size)");
    assert_eq!(s.names(&q), ["Path", "Kb", "Column1"]);
    assert_eq!(s.column(&q, "Kb"), ["40", "0", "0"]);
    assert_eq!(s.column(&q, "Column1"), ["40960", "824", "300"]);
    let q = format!("{base} | project-away Svc*, Previous*, Software*");
    let names = s.names(&q);
    assert!(!names.iter().any(|n| n.starts_with("Svc") || n.starts_with("Previous")));
    assert!(names.contains(&"FileSystemPath".to_string()));
    let q = format!("{base} | project-rename Path = FileSystemPath | project Path");
    assert_eq!(s.column(&q, "Path")[0], r"C:\Windows\System32\drivers\netfilter.sys");
    let q = format!("{base} | extend Kb = Size / 1024, Big = Kb > 1 | project FileSystemPath, Kb, Big");
    assert_eq!(s.column(&q, "Big"), ["true", "false", "false"]);
    let q = format!("{base} | extend Size = Size * 2 | project Size");
    assert_eq!(
        s.column(&q, "Size"),
        ["81920", "1648", "600"],
        "extend replaces a column in place"
    );
    let q = format!("{base} | extend Upper = toupper(FileSystemPath), Len = strlen(FileSystemPath) | take 1");
    assert_eq!(s.column(&q, "Upper"), [r"C:\WINDOWS\SYSTEM32\DRIVERS\NETFILTER.SYS"]);
    assert_eq!(s.column(&q, "Len"), ["41"]);
    assert_eq!(
        s.column(&format!("{base} | extend L = tolower(\"ÉTÉ\") | take 1"), "L"),
        ["été"]
    );
}

#[test]
fn summaries() {
    let s = seeded();
    let q = "ConfigurationChange | summarize count() by ConfigChangeType | order by ConfigChangeType asc";
    assert_eq!(
        s.column(q, "ConfigChangeType"),
        ["Daemons", "Files", "Registry", "Software", "WindowsServices"]
    );
    assert_eq!(s.column(q, "count_"), ["4", "3", "2", "3", "2"]);
    let q = "ConfigurationChange | summarize n = count(), kinds = dcount(ConfigChangeType), first = min(TimeGenerated), last = max(TimeGenerated)";
    assert_eq!(s.column(q, "n"), ["14"]);
    assert_eq!(s.column(q, "kinds"), ["5"]);
    assert_eq!(s.column(q, "first"), ["2026-11-20T10:00:00.000000Z"]);
    assert_eq!(s.column(q, "last"), ["2026-11-24T10:00:00.000000Z"]);
    let q = "ConfigurationChange | where ConfigChangeType == \"Files\" | summarize sum(Size), avg(PreviousSize), max(Size), countif(Size > 500)";
    assert_eq!(s.names(q), ["sum_Size", "avg_PreviousSize", "max_Size", "countif_"]);
    assert_eq!(s.column(q, "sum_Size"), ["42084"]);
    assert_eq!(s.column(q, "avg_PreviousSize"), ["537"]);
    assert_eq!(s.column(q, "countif_"), ["2"]);
    let q = "ConfigurationChange | summarize arg_min(TimeGenerated, ChangeCategory) by ConfigChangeType | order by ConfigChangeType asc";
    assert_eq!(s.names(q), ["ConfigChangeType", "TimeGenerated", "ChangeCategory"]);
    assert_eq!(s.column(q, "ChangeCategory")[2], "Modified");
    let q = "ConfigurationChange | summarize by Day = substring_free(TimeGenerated)";
    assert!(s.error(q).message.contains("unsupported function 'substring_free'"));
    let q = "ConfigurationChange | summarize by ConfigChangeType, ChangeCategory | count";
    assert_eq!(s.column(q, "Count"), ["10"]);
}

#[test]
fn ordering_and_limits() {
    let s = seeded();
    let base = "ConfigurationChange | where ConfigChangeType == \"Files\"";
    assert_eq!(
        s.column(&format!("{base} | sort by Size"), "Size"),
        ["40960", "824", "300"],
        "descending by default"
    );
    assert_eq!(
        s.column(&format!("{base} | order by Size asc"), "Size"),
        ["300", "824", "40960"]
    );
    assert_eq!(
        s.column(&format!("{base} | order by PreviousSize asc nulls last"), "Size"),
        ["300", "824", "40960"]
    );
    assert_eq!(
        s.column(&format!("{base} | order by PreviousSize desc nulls first"), "Size"),
        ["40960", "824", "300"]
    );
    assert_eq!(s.column(&format!("{base} | top 2 by Size asc"), "Size"), ["300", "824"]);
    assert_eq!(
        s.column(&format!("{base} | sort by Size asc | take 2 | project Size"), "Size"),
        ["300", "824"]
    );
    assert_eq!(
        s.column(&format!("{base} | sort by Size | limit 1 | where Size > 0"), "Size"),
        ["40960"]
    );
    assert_eq!(s.column("ConfigurationChange | take 3 | count", "Count"), ["3"]);
    let q = "ConfigurationChange | distinct ConfigChangeType, ChangeCategory | where ConfigChangeType == \"Daemons\" | order by ChangeCategory asc";
    assert_eq!(s.column(q, "ChangeCategory"), ["Added", "Modified", "Removed"]);
    assert_eq!(s.column("ConfigurationData | distinct * | count", "Count"), ["6"]);
}

// Literals and injection.

#[test]
fn literals_are_parameters_never_sql() {
    let s = seeded();
    let catalog = s.store.catalog().unwrap();
    let q = r#"ConfigurationChange | where SoftwareName == "x' OR 1=1 --" or SoftwareName == 'a\'b"c' or SoftwareName == @"e""f\g""#;
    let compiled = compile(q, &catalog, &source()).unwrap();
    assert!(!compiled.sql.contains("OR 1=1"), "{}", compiled.sql);
    assert_eq!(
        compiled.params,
        [param("x' OR 1=1 --"), param("a'b\"c"), param("e\"f\\g")]
    );
    assert!(s.store.query(&compiled).unwrap().rows.is_empty());
    let q = r#"ConfigurationChange | where SoftwareName == "tab\there\\ \"q\"" | count"#;
    let compiled = compile(q, &catalog, &source()).unwrap();
    assert_eq!(compiled.params[0], param("tab\there\\ \"q\""));
    let q = "ConfigurationChange | where SoftwareName == h'curl' // obfuscated literal, and a comment\n| count";
    assert_eq!(s.column(q, "Count"), ["1"]);
}

// Errors point at what they refuse.

#[test]
fn errors_say_where_and_what_is_supported() {
    let s = seeded();
    let e =
        s.error("ConfigurationChange\n| where SvcName == \"x\"\n| make-series n = count() on TimeGenerated step 1d");
    assert_eq!((e.line, e.column), (3, 3));
    assert!(
        e.message.contains("unsupported operator 'make-series'"),
        "{}",
        e.message
    );
    assert!(e.message.contains("supported: where, project"), "{}", e.message);
    assert_eq!(e.render().lines().last().unwrap(), "    ^");

    let e = s.error("ConfigurationChange | where SvcName hasprefix \"x\"");
    assert_eq!(e.column, 37);
    assert!(e.message.contains("unsupported operator 'hasprefix'"));

    let e = s.error("ConfigurationChange | where svcname == \"x\"");
    assert_eq!(e.column, 29);
    assert!(e.message.contains("did you mean 'SvcName'"), "{}", e.message);

    let e = s.error("ConfigurationChange | extend x = ipv4_is_private(TimeGenerated)");
    assert_eq!(e.column, 34);
    assert!(e.message.contains("supported: ago, now"), "{}", e.message);

    let e = s.error("ConfigurationChange | where TimeGenerated > \"2026-11-01\"");
    assert!(e.message.contains("datetime(...)"), "{}", e.message);
    assert_eq!(e.column, 29);

    let e = s.error("ConfigurationChange | where SoftwareName == \"open");
    assert_eq!(e.column, 45);
    assert!(e.message.contains("not closed"));

    let e = s.error(r#"ConfigurationChange | where FileSystemPath == "c:\windows""#);
    assert_eq!(e.column, 50);
    assert!(e.message.contains("unknown escape '\\w'"), "{}", e.message);

    let e = s.error("ConfigurationChange | where SvcName = 'x'");
    assert_eq!(e.column, 37);
    assert!(e.message.contains("compare with '=='"));

    let e = s.error("Perf | take 1");
    assert_eq!(e.column, 1);
    assert!(e.message.contains("tables: ConfigurationChange, ConfigurationData"));

    let e = s.error("ConfigurationChange | where Size");
    assert!(e.message.contains("needs a condition"));
    let e = s.error("ConfigurationChange | summarize count(), arg_max(TimeGenerated, *)");
    assert!(e.message.contains("only aggregation"));
    let e = s.error("ConfigurationChange | where count() > 1");
    assert!(e.message.contains("use it in summarize"));
    let e = s.error("ConfigurationChange | take");
    assert!(e.message.contains("expected a row count, found the end of the query"));
    let e = s.error("ConfigurationChange | where TimeGenerated > ago(5x)");
    assert!(e.message.contains("unknown timespan unit 'x'"));
    let e = s.error("ConfigurationChange | where TimeGenerated > datetime(soon)");
    assert!(e.message.contains("cannot read datetime(soon)"));
}

#[test]
fn an_alert_window_sees_only_new_changes() {
    let s = seeded();
    let catalog = s.store.catalog().unwrap();
    let window = Source {
        change_window: Some(ChangeWindow {
            after: 3,
            upto: 5,
            machine: None,
        }),
        now: NOW.parse().unwrap(),
    };
    let compiled = compile("ConfigurationChange | project ChangeId", &catalog, &window).unwrap();
    let ids: Vec<String> = s
        .store
        .query(&compiled)
        .unwrap()
        .rows
        .iter()
        .map(|r| r[0].display())
        .collect();
    assert_eq!(ids, ["4", "5"]);
    assert!(compile("ConfigurationData | take 1", &catalog, &window).is_err());
    assert!(
        check(
            "ConfigurationChange | where SvcName has \"ssh\"",
            &crate::store::schema_catalog()
        )
        .is_ok()
    );
}

#[test]
fn iff_case_strcat_coalesce_and_replace_string() {
    let s = seeded();
    let daemons = "ConfigurationChange | where ConfigChangeType == \"Daemons\" \
         | extend Up = iff(SvcState == \"Running\", \"up\", \"down\"), Label = strcat(SvcName, \":\", SvcState, \"/\", Size, \"/\", isnull(Size)), \
         State = coalesce(SvcState, \"gone\"), Either = coalesce(SvcState, SvcPreviousState) | sort by SvcName asc";
    assert_eq!(
        s.column(daemons, "SvcName"),
        ["cron.service", "openssh-server", "ssh-agent.service", "sshd.service"]
    );
    // A null (empty) state is not "Running": the else branch.
    assert_eq!(s.column(daemons, "Up"), ["down", "down", "up", "down"]);
    // strcat: null is "", a bool its name.
    assert_eq!(
        s.column(daemons, "Label"),
        [
            "cron.service:Stopped//true",
            "openssh-server://true",
            "ssh-agent.service:Running//true",
            "sshd.service:Stopped//true"
        ]
    );
    // coalesce of strings: the first not empty, else "".
    assert_eq!(s.column(daemons, "State"), ["Stopped", "gone", "Running", "Stopped"]);
    assert_eq!(s.column(daemons, "Either"), ["Stopped", "", "Running", "Stopped"]);

    let files = "ConfigurationChange | where ConfigChangeType == \"Files\" \
         | extend Band = case(Size > 10000, \"large\", Size > 500, \"medium\", \"small\"), \
         Half = iif(Size > 500, Size / 2, 0.5), Slashed = replace_string(FileSystemPath, @\"\\\", \"/\"), \
         Known = coalesce(PreviousSize, Size) | sort by Size asc";
    assert_eq!(s.column(files, "Size"), ["300", "824", "40960"]);
    assert_eq!(s.column(files, "Band"), ["small", "medium", "large"]);
    // A long branch beside a real one is a real: 824 / 2 (integer division) = 412.
    let half = s.run(files);
    let i = half.columns.iter().position(|c| c.name == "Half").unwrap();
    assert_eq!(half.columns[i].ty, driftwatch_kql::Type::Real);
    let halves: Vec<&driftwatch_kql::Cell> = half.rows.iter().map(|r| &r[i]).collect();
    use driftwatch_kql::Cell::Real;
    assert_eq!(halves, [&Real(0.5), &Real(412.0), &Real(20480.0)]);
    assert_eq!(
        s.column(files, "Slashed"),
        [
            "/etc/hosts",
            "c:/windows/system32/drivers/etc/hosts",
            "C:/Windows/System32/drivers/netfilter.sys"
        ]
    );
    // coalesce of numbers: the first not null.
    assert_eq!(s.column(files, "Known"), ["250", "824", "40960"]);

    for (query, message) in [
        ("iff(Size, 1, 2)", "iff() needs a condition here"),
        ("iff(Size > 1, \"a\", 2)", "iff() mixes a long value with a string one"),
        (
            "case(Size > 1, \"a\")",
            "case() takes an odd number (3 or more) of arguments",
        ),
        ("case(Size > 1, 1, Size, 2, 3)", "case() needs a condition here"),
        ("strcat()", "strcat() takes 1 to 64 arguments"),
        ("coalesce(Size)", "coalesce() takes 2 to 64 arguments"),
        ("replace_string(\"a\", \"b\")", "replace_string() takes 3 argument(s)"),
    ] {
        let error = s.error(&format!("ConfigurationChange | extend X = {query}"));
        assert!(error.to_string().contains(message), "{query}: {error}");
    }
}

// The language as workbooks and runbooks write it: let, join, lookup,
// union, search, render, bin and the datetime functions. Expected rows are
// worked out by hand from Kusto's documented semantics.

/// Each row of `query` as its cells' text joined by `|`.
fn rows(s: &Seeded, query: &str) -> Vec<String> {
    s.run(query)
        .rows
        .iter()
        .map(|r| r.iter().map(Cell::display).collect::<Vec<_>>().join("|"))
        .collect()
}

#[test]
fn let_statements_bind_scalars_tables_and_functions() {
    let s = seeded();
    let q = "let since = datetime(2026-11-23);\nlet daemons = ConfigurationChange | where ConfigChangeType == \"Daemons\";\n\
             daemons | where TimeGenerated >= since | count";
    assert_eq!(rows(&s, q), ["4"]);
    let q = "let latest = toscalar(ConfigurationChange | summarize max(TimeGenerated)); \
             ConfigurationChange | where TimeGenerated == latest | count";
    assert_eq!(rows(&s, q), ["5"]);
    let q = "let label = (name: string, n: long = 2) { strcat(name, \"#\", n) }; \
             ConfigurationData | where SoftwareName == \"bash\" | project L = label(SoftwareName), M = label(\"x\", 5)";
    assert_eq!(rows(&s, q), ["bash#2|x#5"]);
    let q = "let software = (publisher: string) { ConfigurationData | where Publisher == publisher }; \
             software(\"Microsoft Corporation\") | count";
    assert_eq!(rows(&s, q), ["3"]);
    assert_eq!(rows(&s, "let T = ConfigurationData; T | count"), ["6"]);
    // A let sees only what was bound before it: a function cannot call itself.
    let e = s.error("let f = (x: long) { f(x) }; ConfigurationData | extend y = f(1)");
    assert!(e.message.contains("unsupported function 'f'"), "{}", e.message);
    let e = s.error("let f = (x: long) { x * 2 }; ConfigurationData | extend y = f(\"a\")");
    assert!(
        e.message.contains("'x' is declared long but given a string"),
        "{}",
        e.message
    );
    let e = s.error("let x = 1 ConfigurationData");
    assert_eq!(e.column, 11, "{}", e.message);
    // Repeating a let cannot blow the statement up without bound.
    let mut q = String::from("let t0 = ConfigurationData;");
    for i in 1..40 {
        q.push_str(&format!(" let t{i} = union t{}, t{};", i - 1, i - 1));
    }
    q.push_str(" t39 | count");
    assert!(s.error(&q).message.contains("too large"));
}

#[test]
fn joins_of_every_kind() {
    let s = seeded();
    let software = "ConfigurationChange | where ConfigChangeType == \"Software\"";
    let join =
        |kind: &str, tail: &str| format!("{software} | join kind={kind} (ConfigurationData) on SoftwareName | {tail}");
    let project = "project SoftwareName, ChangeCategory, CurrentVersion | order by SoftwareName asc";
    assert_eq!(
        rows(&s, &join("inner", project)),
        ["Microsoft Monitoring Agent|Added|10.20.18053.0", "bash|Removed|5.2"]
    );
    assert_eq!(
        rows(&s, &join("leftouter", project)),
        [
            "Microsoft Monitoring Agent|Added|10.20.18053.0",
            "bash|Removed|5.2",
            "curl|Added|"
        ]
    );
    assert_eq!(rows(&s, &join("leftanti", "project SoftwareName")), ["curl"]);
    assert_eq!(rows(&s, &join("leftsemi", "count")), ["2"]);
    assert_eq!(rows(&s, &join("rightsemi", "count")), ["2"]);
    assert_eq!(
        rows(
            &s,
            &join("rightanti", "project SoftwareName | order by SoftwareName asc")
        ),
        [
            "7-Zip",
            "Microsoft Edge",
            "Microsoft Monitoring Agent Extras",
            "Notepad++"
        ]
    );
    assert_eq!(rows(&s, &join("rightouter", "count")), ["6"]);
    assert_eq!(rows(&s, &join("fullouter", "count")), ["7"]);
    // The right side's columns keep their names unless the left has them.
    let names = s.names(&join(
        "inner",
        "project-away Svc*, Previous*, File*, Registry*, Value*, Content*",
    ));
    assert!(names.contains(&"SoftwareName1".to_string()) && names.contains(&"CurrentVersion".to_string()));
    // innerunique (the default) keeps one left row per key; inner keeps all.
    let daemons = "ConfigurationChange | where ConfigChangeType == \"Daemons\" | extend K = \"k\"";
    let right = "(ConfigurationData | where SoftwareName == \"bash\" | extend K = \"k\")";
    assert_eq!(rows(&s, &format!("{daemons} | join {right} on K | count")), ["1"]);
    assert_eq!(
        rows(&s, &format!("{daemons} | join kind=inner {right} on K | count")),
        ["4"]
    );
    let q = "ConfigurationChange | join kind=inner (ConfigurationData | project Name = SoftwareName, Version = CurrentVersion) \
             on $left.SoftwareName == $right.Name | project Name, Version, ChangeCategory";
    assert_eq!(
        sorted(rows(&s, q)),
        ["Microsoft Monitoring Agent|10.20.18053.0|Added", "bash|5.2|Removed"]
    );
    // lookup: every left row, the right side's columns without its keys.
    let q = format!(
        "{software} | lookup (ConfigurationData | project SoftwareName, CurrentVersion, Publisher) on SoftwareName \
         | project SoftwareName, CurrentVersion, Publisher1 | order by SoftwareName asc"
    );
    assert_eq!(
        rows(&s, &q),
        [
            "Microsoft Monitoring Agent|10.20.18053.0|Microsoft Corporation",
            "bash|5.2|",
            "curl||"
        ]
    );
    let e = s.error(&format!(
        "{software} | join (ConfigurationData) on Size, SoftwareName == 1"
    ));
    assert!(e.message.contains("expected"), "{}", e.message);
    let e = s.error(&format!(
        "{software} | join (ConfigurationData | project S = Size) on $left.SoftwareName == $right.S"
    ));
    assert!(e.message.contains("join keys differ in type"), "{}", e.message);
    let e = s.error(&format!(
        "{software} | join kind=sideways (ConfigurationData) on SoftwareName"
    ));
    assert!(e.message.contains("unknown join kind 'sideways'"), "{}", e.message);
}

#[test]
fn in_a_tables_first_column() {
    let s = seeded();
    // A tabular let, bare: its first column is the list.
    let q = "let installed = ConfigurationData | where ConfigDataType == \"Software\" | project SoftwareName; \
             ConfigurationChange | where ConfigChangeType == \"Software\" and SoftwareName in (installed) \
             | project SoftwareName | order by SoftwareName asc";
    assert_eq!(rows(&s, q), ["Microsoft Monitoring Agent", "bash"]);
    // A pipeline in the list; !in keeps what is not there.
    let q = "ConfigurationChange | where ConfigChangeType == \"Software\" \
             and SoftwareName !in (ConfigurationData | where ConfigDataType == \"Software\" | project SoftwareName) \
             | project SoftwareName";
    assert_eq!(rows(&s, q), ["curl"]);
    // in~ compares without case; in with it.
    let upper = "(ConfigurationData | project Upper = toupper(SoftwareName))";
    let q =
        format!("ConfigurationChange | where ConfigChangeType == \"Software\" and SoftwareName in~ {upper} | count");
    assert_eq!(rows(&s, &q), ["2"]);
    let q = format!("ConfigurationChange | where ConfigChangeType == \"Software\" and SoftwareName in {upper} | count");
    assert_eq!(rows(&s, &q), ["0"]);
    // Nulls in the table's column are not values: sizes 824, 40960 and 300
    // against previous sizes 824, 250 and nulls.
    let q = "ConfigurationChange | where ConfigChangeType == \"Files\" \
             and Size !in (ConfigurationChange | project PreviousSize) | project Size | order by Size asc";
    assert_eq!(rows(&s, q), ["300", "40960"]);
    let e = s.error("ConfigurationChange | where Size in (ConfigurationData | project SoftwareName)");
    assert_eq!(e.column, 38, "at the table");
    assert!(
        e.message
            .contains("the table's first column, SoftwareName, is a string, compared with a long"),
        "{}",
        e.message
    );
    let e = s.error("ConfigurationChange | where SoftwareName in~ (ConfigurationChange | project Size)");
    assert!(e.message.contains("is a long, compared with a string"), "{}", e.message);
}

#[test]
fn unions_and_search() {
    let s = seeded();
    let q = "union ConfigurationData, (ConfigurationChange | where ConfigChangeType == \"Software\") | count";
    assert_eq!(rows(&s, q), ["9"]);
    assert_eq!(
        rows(&s, "ConfigurationData | union ConfigurationChange | count"),
        ["20"]
    );
    let q = "union withsource=Source ConfigurationData, ConfigurationChange | summarize count() by Source | order by Source asc";
    assert_eq!(rows(&s, q), ["ConfigurationChange|14", "ConfigurationData|6"]);
    // kind=inner keeps the columns both have; outer fills the others with null.
    let inner = s.names("union kind=inner (ConfigurationData | project SoftwareName, Publisher), (ConfigurationChange | project SoftwareName, ChangeCategory)");
    assert_eq!(inner, ["SoftwareName"]);
    let q = "union (ConfigurationData | where SoftwareName == \"bash\" | project SoftwareName, Publisher), \
             (ConfigurationChange | where SoftwareName == \"bash\" | project SoftwareName, ChangeCategory) | order by ChangeCategory asc";
    assert_eq!(rows(&s, q), ["bash||", "bash||Removed"]);
    // search: a term is a whole term (has), with * it is contained.
    assert_eq!(
        rows(&s, "search \"ssh\" | project $table, SvcName"),
        ["ConfigurationChange|ssh-agent.service"]
    );
    assert_eq!(rows(&s, "search \"SSH*\" | count"), ["3"]);
    assert_eq!(
        rows(&s, "ConfigurationChange | search SvcName:\"cron\" | project SvcName"),
        ["cron.service"]
    );
    assert_eq!(
        rows(
            &s,
            "search in (ConfigurationData) \"microsoft\" and Publisher:\"corporation\" | count"
        ),
        ["3"]
    );
    let compiled = compile(
        "ConfigurationChange | summarize count() by ConfigChangeType | render piechart with (title=\"Changes\")",
        &s.store.catalog().unwrap(),
        &source(),
    )
    .unwrap();
    assert_eq!(compiled.render.as_deref(), Some("piechart"));
    let e = s.error("ConfigurationChange | render timechart | take 1");
    assert!(
        e.message.contains("'render' must be the last operator"),
        "{}",
        e.message
    );
}

#[test]
fn bins_and_datetime_functions() {
    let s = seeded();
    let q = "ConfigurationChange | summarize count() by bin(TimeGenerated, 1d) | order by TimeGenerated asc";
    assert_eq!(s.names(q), ["TimeGenerated", "count_"]);
    assert_eq!(
        rows(&s, q),
        [
            "2026-11-20T00:00:00.000000Z|1",
            "2026-11-21T00:00:00.000000Z|2",
            "2026-11-22T00:00:00.000000Z|3",
            "2026-11-23T00:00:00.000000Z|3",
            "2026-11-24T00:00:00.000000Z|5"
        ]
    );
    // The aggregations still see the column the key is computed from.
    let q = "ConfigurationChange | where ConfigChangeType == \"Files\" | summarize max(TimeGenerated) by bin(TimeGenerated, 7d)";
    assert_eq!(
        rows(&s, q),
        ["2026-11-16T00:00:00.000000Z|2026-11-22T10:00:00.000000Z"],
        "bin() counts from 0001-01-01, as Kusto does: 7d bins start on Mondays"
    );
    let q = "ConfigurationChange | where isnotnull(Size) | summarize count() by bin(Size, 1000) | order by Size asc";
    assert_eq!(rows(&s, q), ["0|2", "40000|1"]);
    let q = "ConfigurationChange | where SvcName == \"cron.service\" | project H = hourofday(TimeGenerated), \
             D = dayofweek(TimeGenerated) / 1d, S = startofday(TimeGenerated), W = startofweek(TimeGenerated), \
             M = startofmonth(TimeGenerated), Y = startofyear(TimeGenerated), E = endofday(TimeGenerated), \
             F = format_datetime(TimeGenerated, \"yyyy-MM-dd HH:mm:ss.fff tt, h/M/d/yy\"), \
             Days = datetime_diff(\"day\", datetime(2026-12-01), TimeGenerated), Age = (now() - TimeGenerated) / 1h, \
             Later = TimeGenerated + 90m, Earlier = TimeGenerated - 1d, Day = dayofmonth(TimeGenerated), \
             Month = getmonth(TimeGenerated), Year = getyear(TimeGenerated)";
    assert_eq!(
        rows(&s, q),
        [
            "10|2|2026-11-24T00:00:00.000000Z|2026-11-22T00:00:00.000000Z|2026-11-01T00:00:00.000000Z|\
          2026-01-01T00:00:00.000000Z|2026-11-24T23:59:59.999999Z|2026-11-24 10:00:00.000 AM, 10/11/24/26|7|14|\
          2026-11-24T11:30:00.000000Z|2026-11-23T10:00:00.000000Z|24|11|2026"
        ]
    );
    let q = "ConfigurationChange | where SvcName == \"cron.service\" | project Age = now() - TimeGenerated, \
             Dow = dayofweek(TimeGenerated), Back = -(now() - TimeGenerated) - 1500ms";
    assert_eq!(
        rows(&s, q),
        ["14:00:00|2.00:00:00|-14:00:01.5000000"],
        "timespans read as Kusto writes them"
    );
    let diff = |part: &str, a: &str, b: &str| {
        let q = format!(
            "ConfigurationData | where SoftwareName == \"bash\" | project datetime_diff(\"{part}\", datetime({a}), datetime({b}))"
        );
        rows(&s, &q)[0].clone()
    };
    assert_eq!(diff("month", "2027-01-01", "2026-11-30"), "2");
    assert_eq!(diff("year", "2027-01-01", "2026-12-31"), "1");
    assert_eq!(diff("quarter", "2026-10-01", "2026-09-30"), "1");
    assert_eq!(diff("week", "2026-11-22", "2026-11-21"), "1", "weeks start on Sunday");
    assert_eq!(diff("week", "2026-11-28", "2026-11-22"), "0");
    assert_eq!(diff("hour", "2026-11-22 10:00", "2026-11-22 11:59"), "-1");
    assert_eq!(
        diff("second", "1969-12-31 23:59:59", "1970-01-01"),
        "-1",
        "before 1970 too"
    );
    let e = s.error("ConfigurationChange | extend x = bin(TimeGenerated, -1h)");
    assert!(e.message.contains("positive constant step"), "{}", e.message);
    let e = s.error("ConfigurationChange | extend x = datetime_diff(\"fortnight\", now(), TimeGenerated)");
    assert!(e.message.contains("unknown part 'fortnight'"), "{}", e.message);
    let e = s.error("ConfigurationChange | extend x = format_datetime(TimeGenerated, \"yyyy%Q\")");
    assert!(e.message.contains("does not know '%'"), "{}", e.message);
}

#[test]
fn rounding_and_conversions() {
    let s = seeded();
    let q = "ConfigurationData | where SoftwareName == \"bash\" | project round(2.5), round(-2.5), round(1.2345, 2), \
             tolong(\"42\"), tolong(\" -7 \"), tolong(\"x\"), tolong(\"1.5\"), tolong(2.7), tolong(-2.7), \
             todouble(\"1.5\"), todouble(\"abc\"), toint(true), toreal(3)";
    assert_eq!(rows(&s, q), ["3|-3|1.23|42|-7|||2|-2|1.5||1|3"]);
}

#[test]
fn heartbeat_and_the_azure_columns_the_stores_derive() {
    let mut s = seeded();
    let beat = driftwatch_protocol::Heartbeat {
        os_type: "Linux".into(),
        os_name: "Debian GNU/Linux".into(),
        os_major_version: "12".into(),
        os_minor_version: String::new(),
        version: "0.1.0".into(),
    };
    let mut beats = Vec::new();
    for (at, gap) in [("12:00:00", 0), ("12:00:30", 60), ("12:05:00", 60), ("12:05:10", 0)] {
        let now = format!("2026-11-24T{at}.000000Z");
        beats.push(s.store.record_heartbeat("host1", &beat, &now, gap).unwrap());
    }
    assert_eq!(beats, [true, false, true, true], "at most one a minute when asked");
    let q = "Heartbeat | summarize LastHeartbeat = max(TimeGenerated), Beats = count() by Computer, OSType, OSName, Category, ComputerEnvironment";
    assert_eq!(
        rows(&s, q),
        ["host1|Linux|Debian GNU/Linux|Direct Agent|Non-Azure|2026-11-24T12:05:10.000000Z|3"]
    );
    let q = "ConfigurationChange | where ConfigChangeType == \"Software\" \
             | join kind=inner (Heartbeat | summarize arg_max(TimeGenerated, *) by Computer) on Computer \
             | project SoftwareName, OSName, Version | order by SoftwareName asc";
    assert_eq!(
        rows(&s, q),
        [
            "Microsoft Monitoring Agent|Debian GNU/Linux|0.1.0",
            "bash|Debian GNU/Linux|0.1.0",
            "curl|Debian GNU/Linux|0.1.0"
        ]
    );
    // Machines that have not reported in the last hour (none beat since 12:05:10).
    let q =
        "Heartbeat | summarize LastCall = max(TimeGenerated) by Computer | where LastCall < datetime(2026-11-24 13:00)";
    assert_eq!(rows(&s, q), ["host1|2026-11-24T12:05:10.000000Z"]);
    let q = "ConfigurationChange | where SvcChangeType == \"State\" | project SvcName | order by SvcName asc";
    assert_eq!(rows(&s, q), ["W3SVC", "w3svc"]);
    let q = "ConfigurationChange | where ConfigChangeType == \"Registry\" | distinct Hive";
    assert_eq!(rows(&s, q), ["HKEY_LOCAL_MACHINE"]);
    assert_eq!(
        rows(&s, "ConfigurationChange | where isnotnull(SvcController) | count"),
        ["0"]
    );
    // `Type` names the table, as in every Azure table; Azure's resource,
    // agent and management group ids are there, and null.
    let q = "union ConfigurationChange, ConfigurationData, Heartbeat | where isnull(_ResourceId) and isnull(SourceComputerId) \
             and isnull(SourceSystem) and isnull(ManagementGroupName) | summarize count() by Type | order by Type asc";
    assert_eq!(
        rows(&s, q),
        ["ConfigurationChange|14", "ConfigurationData|6", "Heartbeat|3"]
    );
    let e = s.error("union withsource=Type ConfigurationChange, Heartbeat");
    assert!(
        e.message.contains("withsource names a column the tables have: 'Type'"),
        "{}",
        e.message
    );
}

#[test]
fn dynamic_arrays_and_bags() {
    let s = seeded();
    let bash = "ConfigurationData | where SoftwareName == \"bash\"";
    let q = format!(
        "{bash} | project A = dynamic([\"a\", 1, true, null, {{\"k\": \"v\"}}]), B = pack(\"name\", SoftwareName, \"n\", 2, \"ok\", true), \
         C = pack_array(SoftwareName, 1), D = parse_json('{{\"x\": [1, 2]}}'), E = parse_json(\"not json\")"
    );
    assert_eq!(
        rows(&s, &q),
        [r#"["a",1,true,null,{"k":"v"}]|{"n":2,"name":"bash","ok":true}|["bash",1]|{"x":[1,2]}|"not json""#]
    );
    let q = format!(
        "{bash} | extend D = parse_json('{{\"x\": [10, 20, 30], \"name\": \"n1\"}}') \
         | project First = D.x[0], Last = D.x[-1], Name = D[\"name\"], Missing = D.y, Text = tostring(D.name), \
         Length = array_length(D.x), Slice = array_slice(D.x, 1, -1), Joined = strcat_array(D.x, \"-\"), \
         Parts = split(\"a,b,,c\", \",\"), Second = split(\"a,b,,c\", \",\", 1), Empty = split(\"\", \",\"), \
         Big = D.x[1] > 15, IsN1 = D.name == \"n1\""
    );
    assert_eq!(
        rows(&s, &q),
        [r#"10|30|"n1"||n1|3|[20,30]|10-20-30|["a","b","","c"]|["b"]|[""]|true|true"#]
    );
    let q = "ConfigurationData | where Publisher has_any (\"igor\", \"team\") | project SoftwareName | order by SoftwareName asc";
    assert_eq!(rows(&s, q), ["7-Zip", "Notepad++"]);
    let q = "let names = dynamic([\"bash\", \"Microsoft Edge\"]); ConfigurationData | where SoftwareName in (names) | count";
    assert_eq!(rows(&s, q), ["2"]);
    let q = "let words = dynamic([\"Team\", \"Pavlov\"]); ConfigurationData | where Publisher has_any (words) | count";
    assert_eq!(rows(&s, q), ["2"]);
    let q = "ConfigurationData | extend Words = split(Publisher, \" \") | where \"Corporation\" in (Words) | count";
    assert_eq!(rows(&s, q), ["3"]);
    let q = "ConfigurationData | where isnotempty(Publisher) | extend Words = split(Publisher, \" \") \
             | where SoftwareName has_any (Words) | project SoftwareName | order by SoftwareName asc";
    assert_eq!(
        rows(&s, q),
        [
            "Microsoft Edge",
            "Microsoft Monitoring Agent",
            "Microsoft Monitoring Agent Extras",
            "Notepad++"
        ]
    );
    // make_set: distinct, sorted, nulls left out; make_list keeps all, in the rows' order when sorted.
    let q = "ConfigurationChange | summarize make_set(ConfigChangeType), makeset(SvcState), make_list(Size)";
    assert_eq!(s.names(q), ["set_ConfigChangeType", "set_SvcState", "list_Size"]);
    assert_eq!(
        rows(&s, q),
        [r#"["Daemons","Files","Registry","Software","WindowsServices"]|["Running","Stopped"]|[300,824,40960]"#]
    );
    let q = "ConfigurationChange | where isnotnull(Size) | sort by TimeGenerated desc | summarize Sizes = make_list(Size), Any = any(ConfigChangeType)";
    assert_eq!(rows(&s, q), [r#"[300,40960,824]|Files"#]);
    let q = "ConfigurationChange | where ConfigChangeType == \"Daemons\" | summarize Names = make_set(SvcName) by ChangeCategory \
             | mv-expand Names to typeof(string) | project ChangeCategory, Names | order by Names asc";
    assert_eq!(
        rows(&s, q),
        [
            "Modified|cron.service",
            "Removed|openssh-server",
            "Added|ssh-agent.service",
            "Modified|sshd.service"
        ]
    );
    let q = format!(
        "{bash} | extend Empty = dynamic([]), Two = dynamic([1, 2]) | mv-expand Two | mv-expand Empty | project Two, Empty"
    );
    assert_eq!(rows(&s, &q), ["1|", "2|"], "an empty array keeps its row, with null");
    let e = s.error(&format!("{bash} | project X = SoftwareName[0]"));
    assert!(e.message.contains("only a dynamic value is indexed"), "{}", e.message);
    let e = s.error(&format!("{bash} | mv-expand SoftwareName"));
    assert!(
        e.message.contains("mv-expand expands a dynamic column"),
        "{}",
        e.message
    );
}

/// The corpus of real-style queries (`corpus.kql`): each runs, but those
/// named here, which use what the language still lacks.
#[test]
fn the_corpus_runs() {
    let mut s = seeded();
    let beat = driftwatch_protocol::Heartbeat {
        os_type: "Linux".into(),
        os_name: "Debian GNU/Linux".into(),
        ..Default::default()
    };
    s.store
        .record_heartbeat("host1", &beat, "2026-11-24T12:00:00.000000Z", 0)
        .unwrap();
    let catalog = s.store.catalog().unwrap();
    let mut ran = Vec::new();
    let mut refused = Vec::new();
    for block in include_str!("corpus.kql").split("\n// == ").skip(1) {
        let (name, query) = block.split_once('\n').unwrap();
        match compile(query, &catalog, &source()) {
            Ok(compiled) => {
                let result = s
                    .store
                    .query(&compiled)
                    .unwrap_or_else(|e| panic!("{name}: {e}\n{}", compiled.sql));
                ran.push((name, result.rows.len()));
            }
            Err(error) => refused.push((name, error.message)),
        }
    }
    println!("corpus: {} of {} queries run", ran.len(), ran.len() + refused.len());
    for (name, why) in &refused {
        println!("  not run: {name}: {why}");
    }
    let names: Vec<&str> = refused.iter().map(|(name, _)| *name).collect();
    assert_eq!(
        names,
        ["a series per type", "percentiles of file sizes"],
        "{refused:#?}"
    );
    let found: usize = ran.iter().filter(|(_, rows)| *rows > 0).count();
    assert!(
        found * 10 >= ran.len() * 8,
        "most find rows on the seeded store: {ran:?}"
    );
}

#[test]
fn regular_expressions_parse_between_and_versions() {
    let s = seeded();
    let q = "ConfigurationData | where SoftwareName matches regex @\"^Micro.*Agent$\" | project SoftwareName";
    assert_eq!(rows(&s, q), ["Microsoft Monitoring Agent"]);
    let q = "ConfigurationData | where SoftwareName == \"Microsoft Edge\" | project V = extract(@\"^(\\d+)\\.(\\d+)\", 2, CurrentVersion), \
             M = extract(@\"^(\\d+)\", 1, CurrentVersion, typeof(long)), None = extract(@\"x(\\d)\", 1, CurrentVersion), \
             R = replace_regex(\"Microsoft  Monitoring Agent\", @\"\\s+\", \"-\"), Old = replace(@\"(\\w+) (\\w+)\", @\"\\2 \\1\", SoftwareName)";
    assert_eq!(rows(&s, q), ["0|131||Microsoft-Monitoring-Agent|Edge Microsoft"]);
    let q = "ConfigurationChange | where FileSystemPath startswith \"C:\" | parse FileSystemPath with Drive @\":\\\" Top @\"\\\" Rest \
             | project Drive, Top, Rest";
    assert_eq!(
        sorted(rows(&s, q)),
        [
            r"C|Windows|System32\drivers\netfilter.sys",
            r"c|windows|system32\drivers\etc\hosts"
        ]
    );
    let q = "ConfigurationChange | where ConfigChangeType == \"Files\" | parse FieldsChanged with First \",\" * \
             | project FileSystemPath, First | order by FileSystemPath asc";
    assert_eq!(
        rows(&s, q),
        [
            "/etc/hosts|Size",
            r"C:\Windows\System32\drivers\netfilter.sys|",
            r"c:\windows\system32\drivers\etc\hosts|DateModified"
        ]
    );
    let q = "ConfigurationChange | where isnotnull(Size) | extend T = strcat(\"n=\", Size, \";\") | parse T with \"n=\" N:long \";\" \
             | summarize sum(N)";
    assert_eq!(rows(&s, q), ["42084"]);
    assert_eq!(
        rows(&s, "ConfigurationChange | where Size between (300 .. 824) | count"),
        ["2"]
    );
    assert_eq!(
        rows(&s, "ConfigurationChange | where Size !between (300 .. 824) | count"),
        ["1"]
    );
    let q = "ConfigurationChange | where TimeGenerated between (datetime(2026-11-23) .. datetime(2026-11-24)) | count";
    assert_eq!(rows(&s, q), ["3"]);
    let q = "ConfigurationData | where parse_version(CurrentVersion) > parse_version(\"23.0\") \
             | project SoftwareName, V = parse_version(CurrentVersion) | order by SoftwareName asc";
    assert_eq!(
        rows(&s, q),
        [
            "7-Zip|23000000010000000000000000",
            "Microsoft Edge|131000000000000000000000000"
        ]
    );
    assert_eq!(
        rows(
            &s,
            "ConfigurationData | where isnull(parse_version(\"1:2.3-4\")) | count"
        ),
        ["6"]
    );
    let e = s.error("ConfigurationData | parse kind=regex SoftwareName with X");
    assert!(e.message.contains("kind=simple only"), "{}", e.message);
}

#[test]
fn corner_cases_and_hostile_queries() {
    let s = seeded();
    let catalog = s.store.catalog().unwrap();
    // parse reads every column from the text as it was.
    let q = "ConfigurationData | where SoftwareName == \"7-Zip\" | parse SoftwareName with SoftwareName \"-\" Rest \
             | project SoftwareName, Rest";
    assert_eq!(rows(&s, q), ["7|Zip"]);
    // A key named like the column it bins keeps the name; the largest time is TimeGenerated1;
    // ties go to the first row in the order of all columns (the first change of the day).
    let q = "ConfigurationChange | summarize arg_max(TimeGenerated, SvcName) by bin(TimeGenerated, 1d) \
             | where TimeGenerated == datetime(2026-11-24)";
    assert_eq!(s.names(q), ["TimeGenerated", "TimeGenerated1", "SvcName"]);
    assert_eq!(
        rows(&s, q),
        ["2026-11-24T00:00:00.000000Z|2026-11-24T10:00:00.000000Z|openssh-server"]
    );
    // A let that is not used binds nothing.
    let q = "let n = toscalar(ConfigurationChange | where ChangeCategory == \"Added\" | count); ConfigurationChange | count";
    assert!(compile(q, &catalog, &source()).unwrap().params.is_empty());
    let q = "ConfigurationData | where strcat(SoftwareName, \"x\") in (dynamic([])) | count";
    assert_eq!(rows(&s, q), ["0"]);
    // A function given a column cannot use it inside a nested query.
    let e = s.error(
        "let f = (n: string) { toscalar(ConfigurationData | where SoftwareName == n | count) }; \
         ConfigurationChange | extend c = f(SoftwareName)",
    );
    assert!(e.message.contains("pass a constant"), "{}", e.message);
    let q = "let f = (n: string) { toscalar(ConfigurationData | where SoftwareName == n | count) }; \
             ConfigurationChange | take 1 | project c = f(\"bash\")";
    assert_eq!(rows(&s, q), ["1"]);
    // Hostile shapes are refused, not followed down the stack or the heap.
    let unions = format!("{}Heartbeat", "union ".repeat(10_000));
    assert!(s.error(&unions).message.contains("nest at most"));
    let mut chain = String::from("let a0 = ConfigurationChange;");
    for i in 1..4000 {
        chain.push_str(&format!(" let a{i} = a{};", i - 1));
    }
    chain.push_str(" a3999 | count");
    assert!(s.error(&chain).message.contains("at most 64 deep"));
    let mut doubling = String::from("let a0 = toscalar(ConfigurationChange | count);");
    for i in 1..40 {
        doubling.push_str(&format!(" let a{i} = a{} + a{};", i - 1, i - 1));
    }
    doubling.push_str(" ConfigurationChange | extend x = a39");
    assert!(s.error(&doubling).message.contains("too large"));
    let mut functions = String::from("let f0 = (x: long) { x + x };");
    for i in 1..8 {
        functions.push_str(&format!(" let f{i} = (x: long) {{ f{}(f{}(x)) }};", i - 1, i - 1));
    }
    functions.push_str(" ConfigurationChange | extend y = f7(Size)");
    assert!(s.error(&functions).message.contains("too large"));
    let e = s.error("union withsource=__order ConfigurationChange, Heartbeat");
    assert!(e.message.contains("reserved"), "{}", e.message);
    // search: * inside a term is a wildcard; kind=case_sensitive is honoured.
    assert_eq!(
        rows(&s, "search in (ConfigurationChange) \"ssh*service\" | count"),
        ["2"]
    );
    assert_eq!(rows(&s, "search kind=case_sensitive \"SSH*\" | count"), ["0"]);
    let e = s.error("ConfigurationData | project round(1.5, -2)");
    assert!(e.message.contains("0 or more digits"), "{}", e.message);
}

#[test]
fn narrow_turns_cells_into_rows() {
    let s = seeded();
    let q =
        "ConfigurationData | where SoftwareName == \"bash\" | project SoftwareName, CurrentVersion | evaluate narrow()";
    assert_eq!(s.names(q), ["Row", "Column", "Value"]);
    assert_eq!(rows(&s, q), ["0|SoftwareName|bash", "0|CurrentVersion|5.2"]);
    let q = "ConfigurationData | where Publisher == \"Microsoft Corporation\" | project SoftwareName, N = strlen(SoftwareName) \
             | sort by SoftwareName asc | evaluate narrow() | where Column == \"N\"";
    assert_eq!(rows(&s, q), ["0|N|14", "1|N|26", "2|N|33"]);
    let e = s.error("ConfigurationData | evaluate bag_unpack(x)");
    assert!(e.message.contains("unsupported plugin 'bag_unpack'"), "{}", e.message);
}
