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
    let e = s.error("ConfigurationChange\n| where SvcName == \"x\"\n| join (ConfigurationData) on SvcName");
    assert_eq!((e.line, e.column), (3, 3));
    assert!(e.message.contains("unsupported operator 'join'"), "{}", e.message);
    assert!(e.message.contains("supported: where, project"), "{}", e.message);
    assert_eq!(e.render().lines().last().unwrap(), "    ^");

    let e = s.error("ConfigurationChange | where SvcName matches regex \"x\"");
    assert_eq!(e.column, 37);
    assert!(e.message.contains("unsupported operator 'matches'"));

    let e = s.error("ConfigurationChange | where svcname == \"x\"");
    assert_eq!(e.column, 29);
    assert!(e.message.contains("did you mean 'SvcName'"), "{}", e.message);

    let e = s.error("ConfigurationChange | extend x = bin(TimeGenerated, 1d)");
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
