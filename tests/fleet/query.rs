//! KQL across the fleet: three agents on a Debian, an RPM and a Windows
//! image ship to the server; each query answers on the server, for each
//! machine, exactly what it answers on that machine's agent, and across
//! machines what the agents' answers add up to. The HTTP API takes API
//! tokens only, and literals stay parameters.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::Value;

use crate::fixtures::rpm::rpm_sqlite_database;
use crate::fixtures::windows::{IMAGE_NAME, image, system_hive};
use crate::fixtures::write;
use crate::postgres::Postgres;
use crate::support::*;

fn stanza(name: &str, version: &str, maintainer: &str) -> String {
    format!(
        "Package: {name}\nStatus: install ok installed\nPriority: optional\nMaintainer: {maintainer}\n\
         Architecture: amd64\nVersion: {version}\nDescription: the {name} package\n\n"
    )
}

fn debian_packages(root: &Path, packages: &[(&str, &str, &str)]) {
    let status: String = packages.iter().map(|(p, v, m)| stanza(p, v, m)).collect();
    write(root, "var/lib/dpkg/status", status);
}

fn unit(root: &Path, name: &str, description: &str) {
    write(
        root,
        &format!("lib/systemd/system/{name}"),
        format!("[Unit]\nDescription={description}\n\n[Service]\nExecStart=/usr/sbin/{name}\n"),
    );
}

/// The server's answer to `kql`, as sorted JSON lines.
fn server_query(database: &str, kql: &str) -> Vec<String> {
    let output = server_command(database, &["query", kql, "--json"]);
    assert!(output.status.success(), "{kql}: {}", stderr(&output));
    sorted_json_lines(&stdout(&output))
}

/// `kql` with `| where Computer == "name"` after its table.
fn on_machine(kql: &str, name: &str) -> String {
    let (table, rest) = kql.split_once('|').map_or((kql, ""), |(t, r)| (t, r));
    let rest = if rest.is_empty() {
        String::new()
    } else {
        format!(" |{rest}")
    };
    format!("{} | where Computer == \"{name}\"{rest}", table.trim())
}

/// Queries whose answers must be the same on the agent and on the server:
/// the eight of Azure's documentation, verbatim, then every operator and
/// function on rows these images have.
const SAME_ON_BOTH: &[&str] = &[
    r#"ConfigurationChange | where ConfigChangeType == "Files" and FileSystemPath contains " c:\\windows\\system32\\drivers\\""#,
    r#"ConfigurationChange | where FieldsChanged contains "FileContentChecksum" and FileSystemPath == "c:\\windows\\system32\\drivers\\etc\\hosts""#,
    r#"ConfigurationChange | where ConfigChangeType == "WindowsServices" and SvcName contains "w3svc" and SvcState == "Stopped""#,
    r#"ConfigurationChange | where ConfigChangeType == "Daemons" and SvcName contains "ssh" and SvcState!= "Running""#,
    r#"ConfigurationChange | where ConfigChangeType == "Software" and ChangeCategory == "Added""#,
    r#"ConfigurationData | where SoftwareName contains "Monitoring Agent" and CurrentVersion!= "8.0.11081.0""#,
    r#"ConfigurationChange | where RegistryKey == @"HKEY_LOCAL_MACHINE\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\QualityCompat""#,
    r#"ConfigurationChange | where RegistryKey contains @"HKEY_LOCAL_MACHINE\\SYSTEM\\CurrentControlSet\\Services\\SharedAccess\\Parameters\\FirewallPolicy""#,
    r#"ConfigurationData | where ConfigDataType == "Software" | summarize arg_max(TimeGenerated, *) by SoftwareName, Computer | summarize count() by Publisher | top 10 by count_"#,
    "ConfigurationData",
    "ConfigurationChange",
    r#"ConfigurationData | where ConfigDataType == "Software" | project SoftwareName, CurrentVersion, Publisher, SoftwareType"#,
    r#"ConfigurationData | where SoftwareName has "ssl" or SoftwareName startswith "KER" or SoftwareName endswith_cs "zip" | project SoftwareName, CurrentVersion"#,
    r#"ConfigurationData | where FileSystemPath contains "ÉTÉ" or FileSystemPath has "hosts" | project FileSystemPath"#,
    r#"ConfigurationData | where ConfigDataType in ("WindowsServices", "Daemons") | project SvcName, SvcDisplayName, SvcState, SvcStartupType, SvcPath, SvcDescription"#,
    r#"ConfigurationData | where ConfigDataType == "Files" | extend Length = strlen(FileSystemPath), Upper = toupper(FileSystemPath), Text = tostring(Size) | project FileSystemPath, Size, Length, Upper, Text, DateModified"#,
    r#"ConfigurationData | summarize count(), dcount(Publisher), sum(Size), max(TimeGenerated), min(SoftwareName), countif(isempty(Publisher)) by ConfigDataType"#,
    r#"ConfigurationData | where DateModified > datetime(2000-01-01) and DateModified <= now() | count"#,
    r#"ConfigurationData | where TimeGenerated > ago(1d) and TimeGenerated < now(1h) | summarize count() by ConfigDataType"#,
    r#"ConfigurationChange | where TimeGenerated > ago(1d) | summarize count() by ConfigChangeType, ChangeCategory"#,
    r#"ConfigurationChange | where ChangeCategory in~ ("modified", "REMOVED") | project ConfigChangeType, ChangeCategory, FieldsChanged, Previous, Current, SvcPreviousStartupType, PreviousFileContentChecksum"#,
    r#"ConfigurationData | where SoftwareName !in ("bash") and isnotempty(CurrentVersion) | distinct SoftwareName"#,
    r#"ConfigurationData | where Size > 10 and Size < 1000000 or isnull(Size) and ConfigDataType == "Files" | project FileSystemPath, Size, Half = Size / 2, Ratio = Size * 1.5"#,
    r#"ConfigurationData | summarize arg_min(SoftwareName, CurrentVersion) by ConfigDataType"#,
    r#"ConfigurationData | where tostring(TimeGenerated) contains "T" and DateModified !contains " " | extend When = tostring(DateModified), Length = strlen(TimeGenerated) | project FileSystemPath, When, Length"#,
    r#"ConfigurationData | where SoftwareName =~ "BASH" or SvcName !~ "x" | project-away TimeGenerated | project-rename Name = SoftwareName | take 1000"#,
    r#"ConfigurationData | where ConfigDataType == "Software" | sort by Publisher asc, SoftwareName desc | project Publisher, SoftwareName | top 3 by SoftwareName asc"#,
    r#"ConfigurationData | extend Kind = case(ConfigDataType == "Software", "pkg", ConfigDataType in ("Daemons", "WindowsServices"), "svc", "other"), Name = coalesce(SoftwareName, SvcName, FileSystemPath), Label = strcat(ConfigDataType, ":", Size, ":", isnull(Size), "@", TimeGenerated), Big = iff(Size > 100, Size * 1.5, 0), Known = coalesce(Size, 0) | project Kind, Name, Label, Big, Known, Path = replace_string(FileSystemPath, @"", "/")"#,
    r#"ConfigurationChange | summarize count() by Up = iif(SvcState == "Running", "up", "not up"), Added = iff(ChangeCategory == "Added", true, false)"#,
];

/// Queries whose rows come in an order both stores must keep: strings by
/// their characters' codes (not the database's collation), nulls first
/// ascending and last descending.
const SAME_ORDER_ON_BOTH: &[&str] = &[
    r#"ConfigurationData | where ConfigDataType == "Software" | sort by Publisher asc, SoftwareName asc | project Publisher, SoftwareName"#,
    r#"ConfigurationData | sort by FileSystemPath desc, SvcName asc, SoftwareName asc, CurrentVersion asc | project FileSystemPath, SvcName, SoftwareName, CurrentVersion"#,
];

#[test]
fn kql_answers_the_same_on_the_server_as_on_each_agent_and_adds_up_across_machines() {
    let postgres = Postgres::start();
    let database = postgres.new_database("fleet");
    let server = Server::start(&database, None);
    let secret = new_secret(&database, &["--uses", "3"]);

    let debian = Machine::new("deb-1");
    let root = debian.root();
    write(&root, "etc/hostname", "deb-1\n");
    debian_packages(
        &root,
        &[
            ("bash", "5.2-1", "Debian Bash <bash@debian.org>"),
            ("openssl", "3.0.11-1", "Debian OpenSSL <ssl@debian.org>"),
            ("curl", "7.88.1-10", "Alessandro <curl@debian.org>"),
        ],
    );
    write(&root, "etc/hosts", "127.0.0.1 localhost\n");
    write(&root, "etc/passwd", "root:x:0:0:root:/root:/bin/bash\n");
    write(&root, "etc/cron.d/été", "0 * * * * root true\n");
    unit(&root, "ssh.service", "OpenBSD Secure Shell server");

    let rpm = Machine::new("rpm-1");
    write(&rpm.root(), "etc/hostname", "rpm-1\n");
    rpm_sqlite_database(
        &rpm.root(),
        &[("bash", "5.2.15"), ("kernel", "6.1.0"), ("kernel", "6.2.0")],
    );
    write(&rpm.root(), "etc/hosts", "127.0.0.1 localhost rpm-1\n");

    // Named by its registry, not by its folder.
    let windows = Machine::new("win-1").named(IMAGE_NAME);
    image(&windows.root());

    for machine in [&debian, &rpm, &windows] {
        machine.enroll(&server.url, &secret);
        let said = machine.scan();
        assert!(said.contains("Shipped"), "{said}");
    }
    // Changes of every kind: packages, files, daemons, Windows services.
    debian_packages(
        &root,
        &[
            ("bash", "5.2-1", "Debian Bash <bash@debian.org>"),
            ("openssl", "3.0.13-1", "Debian OpenSSL <ssl@debian.org>"),
        ],
    );
    write(&root, "etc/hosts", "127.0.0.1 localhost deb-1\n");
    unit(&root, "cron.service", "Regular background program processing daemon");
    let said = debian.scan();
    assert!(said.contains("Shipped"), "{said}");
    rpm_sqlite_database(
        &rpm.root(),
        &[("bash", "5.2.15"), ("kernel", "6.2.0"), ("openssl", "3.1.1")],
    );
    let said = rpm.scan();
    assert!(said.contains("Shipped"), "{said}");
    write(&windows.root(), "WINDOWS/system32/config/SYSTEM", system_hive(4));
    write(
        &windows.root(),
        "WINDOWS/system32/drivers/etc/hosts",
        "10.0.0.1 intranet\r\n",
    );
    let said = windows.scan();
    assert!(said.contains("Shipped"), "{said}");

    let machines = [&debian, &rpm, &windows];
    let mut compared_rows = 0;
    for (i, kql) in SAME_ON_BOTH.iter().enumerate() {
        let mut found = 0;
        for machine in machines {
            let on_agent = machine.query(kql);
            let on_server = server_query(&database, &on_machine(kql, &machine.name));
            assert_eq!(on_server, on_agent, "{kql} on {}", machine.name);
            found += on_agent.len();
        }
        // Azure's documented queries look for things these images lack;
        // the others must find something, or they compare nothing.
        assert!(i < 8 || found > 0, "{kql} found nothing on any machine");
        compared_rows += found;
    }
    assert!(
        compared_rows > 100,
        "the queries found too little to compare: {compared_rows} rows"
    );
    for kql in SAME_ORDER_ON_BOTH {
        let mut found = 0;
        for machine in machines {
            let lines = |output: std::process::Output| -> Vec<String> {
                assert!(output.status.success(), "{kql}: {}", stderr(&output));
                stdout(&output).lines().map(String::from).collect()
            };
            let on_agent = lines(machine.run(&["query", kql, "--json"]));
            let on_server = lines(server_command(
                &database,
                &["query", &on_machine(kql, &machine.name), "--json"],
            ));
            assert_eq!(on_server, on_agent, "{kql} on {}, in order", machine.name);
            found += on_agent.len();
        }
        assert!(found > 6, "{kql}: too few rows to see an order");
    }
    println!(
        "{} queries × 3 machines: {compared_rows} rows equal on the server and the agents",
        SAME_ON_BOTH.len()
    );

    // Across machines: the documented inventory summary adds up the agents'.
    let summary = r#"ConfigurationData | where ConfigDataType == "Software" | summarize arg_max(TimeGenerated, *) by SoftwareName, Computer | summarize count() by Publisher | top 10 by count_"#;
    let mut expected: BTreeMap<String, i64> = BTreeMap::new();
    for machine in machines {
        let names = machine.query(r#"ConfigurationData | where ConfigDataType == "Software" | summarize arg_max(TimeGenerated, *) by SoftwareName"#);
        for line in names {
            let row: Value = serde_json::from_str(&line).unwrap();
            let publisher = row["Publisher"].as_str().unwrap_or_default().to_string();
            *expected.entry(publisher).or_default() += 1;
        }
    }
    let output = server_command(&database, &["query", summary, "--json"]);
    let counts: Vec<(String, i64)> = stdout(&output)
        .lines()
        .map(|l| {
            let row: Value = serde_json::from_str(l).unwrap();
            (
                row["Publisher"].as_str().unwrap_or_default().to_string(),
                row["count_"].as_i64().unwrap(),
            )
        })
        .collect();
    assert!(
        counts.windows(2).all(|w| w[0].1 >= w[1].1),
        "top sorts by count: {counts:?}"
    );
    let mut top: Vec<(String, i64)> = expected.into_iter().collect();
    top.sort_by_key(|(_, n)| std::cmp::Reverse(*n));
    let top_counts: Vec<i64> = top.iter().take(10).map(|(_, n)| *n).collect();
    assert_eq!(counts.iter().map(|(_, n)| *n).collect::<Vec<_>>(), top_counts);
    for (publisher, n) in &counts {
        assert!(top.contains(&(publisher.clone(), *n)), "{publisher}: {n} in {top:?}");
    }
    let bash = server_query(
        &database,
        r#"ConfigurationData | where SoftwareName == "bash" | project Computer"#,
    );
    assert_eq!(bash, [r#"{"Computer":"deb-1"}"#, r#"{"Computer":"rpm-1"}"#]);
    let computers = server_query(&database, "ConfigurationData | summarize dcount(Computer)");
    assert_eq!(computers, [r#"{"dcount_Computer":3}"#]);

    // The table form, and a query error with its place.
    let table = server_command(
        &database,
        &["query", "ConfigurationChange | summarize count() by Computer"],
    );
    assert!(stdout(&table).contains("3 rows"), "{}", stdout(&table));
    let wrong = server_command(&database, &["query", "ConfigurationData | where Sofware == 1"]);
    assert_eq!(wrong.status.code(), Some(2));
    assert!(
        stderr(&wrong).contains("line 1, column 27: unknown column 'Sofware'"),
        "{}",
        stderr(&wrong)
    );
    drop(server);
}

/// The language beyond one table's pipeline: `let`, `join`, `lookup`,
/// `union`, `search`, `render`, `bin` and the datetime and number
/// functions. Each answers the same on the agent and on the server.
const LANGUAGE_ON_BOTH: &[&str] = &[
    r#"let since = datetime(2000-01-01); let packages = ConfigurationData | where ConfigDataType == "Software"; packages | where TimeGenerated > since | project SoftwareName, CurrentVersion"#,
    r#"let newest = toscalar(ConfigurationData | summarize max(TimeGenerated)); ConfigurationData | where TimeGenerated <= newest | summarize count() by ConfigDataType"#,
    r##"let label = (name: string, n: long = 2) { strcat(name, "#", n) }; ConfigurationData | where ConfigDataType == "Software" | project L = label(SoftwareName), M = label(SoftwareName, 5)"##,
    r#"let kind = (k: string) { ConfigurationData | where ConfigDataType == k }; kind("Daemons") | project SvcName, SvcState"#,
    r#"ConfigurationChange | where ConfigChangeType == "Software" | join kind=inner (ConfigurationData | where ConfigDataType == "Software") on SoftwareName | project SoftwareName, ChangeCategory, CurrentVersion, Computer1"#,
    r#"ConfigurationChange | where ConfigChangeType == "Software" | join kind=leftouter (ConfigurationData | where ConfigDataType == "Software" | project SoftwareName, CurrentVersion) on SoftwareName | project SoftwareName, ChangeCategory, CurrentVersion"#,
    r#"ConfigurationData | where ConfigDataType == "Software" | join kind=leftanti (ConfigurationChange | where ChangeCategory == "Added") on SoftwareName | project SoftwareName"#,
    r#"ConfigurationChange | join kind=rightanti (ConfigurationData | where ConfigDataType == "Software") on SoftwareName | project SoftwareName"#,
    r#"ConfigurationChange | where ConfigChangeType == "Software" | join kind=fullouter (ConfigurationData | where ConfigDataType == "Daemons") on $left.SoftwareName == $right.SvcName | project SoftwareName, SvcName"#,
    r#"ConfigurationData | extend K = 1 | join (ConfigurationChange | extend K = 1) on K | count"#,
    r#"ConfigurationChange | lookup (ConfigurationData | where ConfigDataType == "Software" | project SoftwareName, Version = CurrentVersion) on SoftwareName | project ConfigChangeType, SoftwareName, Version"#,
    r#"union withsource=Table ConfigurationData, ConfigurationChange | summarize count() by Table"#,
    r#"union kind=inner (ConfigurationData | project SoftwareName, Computer), (ConfigurationChange | project SoftwareName, ChangeCategory) | where isnotempty(SoftwareName)"#,
    r#"ConfigurationData | where ConfigDataType == "Daemons" | union (ConfigurationChange | where ConfigChangeType == "Daemons") | project SvcName, ChangeCategory, SvcState"#,
    r#"search "ssh" | project $table, SvcName, SoftwareName"#,
    r#"search in (ConfigurationData) "bash*" and ConfigDataType:"software" | project SoftwareName"#,
    r#"ConfigurationChange | summarize count() by bin(TimeGenerated, 1h), ConfigChangeType | render timechart"#,
    r#"ConfigurationData | where ConfigDataType == "Files" | project FileSystemPath, D = bin(DateModified, 1d), H = hourofday(DateModified), W = startofweek(DateModified), M = startofmonth(DateModified), Y = startofyear(DateModified), E = endofday(DateModified), Dow = dayofweek(DateModified) / 1d"#,
    r#"ConfigurationData | project T = format_datetime(TimeGenerated, "yyyy-MM-dd HH:mm:ss.ffffff tt h/M/d/yy"), Days = datetime_diff("day", TimeGenerated, datetime(2026-01-01)), Weeks = datetime_diff("week", TimeGenerated, datetime(2026-01-01)), Months = datetime_diff("month", TimeGenerated, datetime(2025-12-31)), Ms = datetime_diff("millisecond", TimeGenerated, datetime(2026-01-01))"#,
    r#"ConfigurationData | project Later = TimeGenerated + 90m, Earlier = TimeGenerated - 1d, Hours = (TimeGenerated - datetime(2026-01-01)) / 1h, Day = dayofmonth(TimeGenerated), Month = getmonth(TimeGenerated), Year = getyear(TimeGenerated) | summarize count() by Later, Earlier, Hours, Day, Month, Year"#,
    r#"ConfigurationData | where ConfigDataType == "Software" | project SoftwareName, V = tolong(CurrentVersion), R = round(strlen(SoftwareName) / 3.0, 1), D = todouble(CurrentVersion), H = round(-2.5), B = toint(SoftwareName == "bash"), S = bin(strlen(SoftwareName), 2), F = floor(strlen(SoftwareName) * 1.5, 2.5)"#,
    r#"ConfigurationData | where ConfigDataType == "Files" | summarize count() by bin(Size, 10)"#,
    r#"ConfigurationData | where ConfigDataType == "Software" and SoftwareName in (ConfigurationChange | where ConfigChangeType == "Software" | project SoftwareName) | project SoftwareName, CurrentVersion"#,
    r#"let changed = ConfigurationChange | project SoftwareName; ConfigurationData | where SoftwareName !in~ (changed) | summarize count() by ConfigDataType"#,
    r#"ConfigurationData | where Size !in (ConfigurationChange | project PreviousSize) | count"#,
    r#"ConfigurationChange | project ConfigChangeType, ChangeCategory, SvcName, SvcChangeType, Hive, SvcController, Type, SourceSystem, SourceComputerId, ManagementGroupName, _ResourceId"#,
    r#"union withsource=Table ConfigurationData, ConfigurationChange | summarize count() by Table, Type, Hive"#,
    r##"ConfigurationData | where ConfigDataType == "Software" | project A = dynamic(["a", 1, true, null, {"k": "v"}]), B = pack("name", SoftwareName, "n", strlen(SoftwareName), "ok", true, "when", TimeGenerated), C = pack_array(SoftwareName, 1, 2.5), D = parse_json('{"x": [1, 2], "b": {"c": "d"}}'), E = parse_json("not json"), F = parse_json(CurrentVersion)"##,
    r##"ConfigurationData | where ConfigDataType == "Software" | extend D = parse_json(strcat('{"x": [10, 20, 30], "name": "', SoftwareName, '"}')) | project First = D.x[0], Last = D.x[-1], Name = D["name"], Missing = D.y, Text = tostring(D.name), Length = array_length(D.x), Slice = array_slice(D.x, 1, -1), Joined = strcat_array(D.x, "-"), Parts = split(CurrentVersion, "."), Second = split(CurrentVersion, ".", 1), Empty = split("", ","), Big = D.x[1] > 15, Same = D.name == SoftwareName"##,
    r#"ConfigurationData | where Publisher has_any ("bash", "openssl") | project SoftwareName"#,
    r#"let names = dynamic(["bash", "curl"]); let words = dynamic(["zlib", "Alessandro"]); ConfigurationData | where SoftwareName in (names) or Publisher has_any (words) | project SoftwareName"#,
    r#"ConfigurationData | where ConfigDataType == "Software" | extend Words = split(Publisher, " ") | where "Debian" in (Words) and SoftwareName has_any (Words) | project SoftwareName, Words"#,
    r#"ConfigurationData | summarize make_set(SoftwareName), makelist(Size), any(ConfigDataType), S = make_set(isnotempty(SvcName)) by ConfigDataType"#,
    r#"ConfigurationChange | sort by ChangeId asc | summarize Changes = make_list(ChangeCategory), Names = makeset(SoftwareName) by ConfigChangeType"#,
    r#"ConfigurationData | where ConfigDataType == "Software" | summarize Names = make_set(SoftwareName) by Publisher | mv-expand Names to typeof(string) | project Publisher, Names"#,
    r#"ConfigurationData | where ConfigDataType == "Software" | extend Parts = split(CurrentVersion, "."), Empty = dynamic([]) | mv-expand Parts | mv-expand Empty | project SoftwareName, Parts, Empty"#,
    r#"ConfigurationData | where ConfigDataType == "Software" | project SoftwareName, M = extract(@"^(\d+)", 1, CurrentVersion, typeof(long)), Minor = extract(@"^\d+\.(\d+)", 1, CurrentVersion), R = replace_regex(SoftwareName, @"[aeiou]", "_"), Old = replace(@"^(\w)(\w*)", @"\2\1", SoftwareName), Re = SoftwareName matches regex @"^[bc]""#,
    r#"ConfigurationData | where ConfigDataType == "Files" | parse FileSystemPath with "/" Top "/" Rest | project FileSystemPath, Top, Rest"#,
    r#"ConfigurationData | where ConfigDataType == "Software" | parse CurrentVersion with Major:long "." Minor:long * | project SoftwareName, Major, Minor"#,
    r#"ConfigurationData | where Size between (10 .. 100000) or TimeGenerated !between (datetime(2000-01-01) .. datetime(2001-01-01)) | project FileSystemPath, Size, SoftwareName"#,
    r#"ConfigurationData | where ConfigDataType == "Software" | project SoftwareName, V = parse_version(CurrentVersion), Newer = parse_version(CurrentVersion) > parse_version("0.9")"#,
    r#"ConfigurationData | where ConfigDataType == "Software" | project T = tostring(pack("b", strlen(SoftwareName), "a", pack_array(SoftwareName, true, 2.5))), H = format_datetime(datetime(2026-11-24 08:05:09), "hh h tt"), N = isnull(parse_json(SvcName)), S = array_slice(pack("k", 1), 0, 1), W = bin(TimeGenerated, 7d) == bin(TimeGenerated + 0s, 7d)"#,
    r#"ConfigurationData | where ConfigDataType == "Software" | summarize arg_max(TimeGenerated, SoftwareName) by bin(TimeGenerated, 1d)"#,
    r#"ConfigurationData | where ConfigDataType == "Software" | project SoftwareName, CurrentVersion, Size, When = TimeGenerated, Up = SoftwareName == "bash" | sort by SoftwareName asc | evaluate narrow()"#,
    r#"ConfigurationData | where SoftwareName matches regex @"\bcurl\b" or SoftwareName matches regex @"(?P<z>zlib)1" | project SoftwareName, X = extract(@"(?P<n>\d+)g\z", 1, SoftwareName)"#,
];

#[test]
fn the_language_beyond_one_table_answers_alike_on_the_server_and_the_agent() {
    let postgres = Postgres::start();
    let database = postgres.new_database("fleet");
    let server = Server::start(&database, None);
    let secret = new_secret(&database, &[]);
    let debian = Machine::new("deb-3");
    let root = debian.root();
    write(&root, "etc/hostname", "deb-3\n");
    write(
        &root,
        "etc/os-release",
        "NAME=\"Debian GNU/Linux\"\nVERSION_ID=\"12\"\n",
    );
    debian_packages(
        &root,
        &[
            ("bash", "5.2-1", "Debian Bash <bash@debian.org>"),
            ("openssl", "3.0.11-1", "Debian OpenSSL <ssl@debian.org>"),
            ("libssh-4", "0.10.6-0", "Debian SSH <ssh@debian.org>"),
            ("zlib1g", "1", "Debian zlib <z@debian.org>"),
        ],
    );
    write(&root, "etc/hosts", "127.0.0.1 localhost\n");
    write(&root, "etc/passwd", "root:x:0:0:root:/root:/bin/bash\n");
    unit(&root, "ssh.service", "OpenBSD Secure Shell server");
    unit(&root, "cron.service", "Regular background program processing daemon");
    debian.enroll(&server.url, &secret);
    let said = debian.scan();
    assert!(said.contains("Shipped"), "{said}");
    debian_packages(
        &root,
        &[
            ("bash", "5.2-2", "Debian Bash <bash@debian.org>"),
            ("curl", "7.88.1-10", "Alessandro <curl@debian.org>"),
            ("zlib1g", "1", "Debian zlib <z@debian.org>"),
        ],
    );
    write(&root, "etc/hosts", "127.0.0.1 localhost deb-3\n");
    unit(&root, "sshd-keygen.service", "OpenSSH host keys");
    let said = debian.scan();
    assert!(said.contains("Shipped"), "{said}");

    let mut compared = 0;
    for kql in LANGUAGE_ON_BOTH {
        let on_agent = debian.query(kql);
        let on_server = server_query(&database, kql);
        assert_eq!(on_server, on_agent, "{kql}");
        assert!(!on_agent.is_empty(), "{kql} found nothing");
        compared += on_agent.len();
    }
    println!(
        "{} queries: {compared} rows equal on the server and the agent",
        LANGUAGE_ON_BOTH.len()
    );

    // Heartbeat: the agent's a row per pass, the server's a row per report.
    let beats = r#"Heartbeat | summarize Beats = count() by Computer, OSType, OSName, OSMajorVersion, Category, ComputerEnvironment"#;
    assert_eq!(
        debian.query(beats),
        [
            r#"{"Beats":2,"Category":"Direct Agent","Computer":"deb-3","ComputerEnvironment":"Non-Azure","OSMajorVersion":"12","OSName":"Debian GNU/Linux","OSType":"Linux"}"#
        ]
    );
    let on_server = server_query(&database, beats);
    assert_eq!(on_server.len(), 1, "{on_server:?}");
    let row: Value = serde_json::from_str(&on_server[0]).unwrap();
    assert_eq!(
        (row["Computer"].as_str(), row["OSName"].as_str()),
        (Some("deb-3"), Some("Debian GNU/Linux"))
    );
    assert!(row["Beats"].as_i64().unwrap() >= 1, "{row}");
    let address = server_query(&database, "Heartbeat | distinct ComputerIP");
    assert_eq!(address, [r#"{"ComputerIP":"127.0.0.1"}"#]);
    let joined = server_query(
        &database,
        r#"ConfigurationData | where ConfigDataType == "Software" | join kind=inner (Heartbeat | summarize arg_max(TimeGenerated, *) by Computer) on Computer | project SoftwareName, OSName"#,
    );
    assert_eq!(joined.len(), 3, "{joined:?}");
    drop(server);
}

#[test]
fn the_query_api_takes_api_tokens_only_and_keeps_literals_parameters() {
    let postgres = Postgres::start();
    let database = postgres.new_database("fleet");
    let server = Server::start(&database, None);
    let secret = new_secret(&database, &[]);
    let debian = Machine::new("deb-2");
    write(&debian.root(), "etc/hostname", "deb-2\n");
    debian_packages(&debian.root(), &[("bash", "5.2-1", "Debian Bash <bash@debian.org>")]);
    write(&debian.root(), "etc/hosts", "127.0.0.1 localhost\n");
    debian.enroll(&server.url, &secret);
    let said = debian.scan();
    assert!(said.contains("Shipped"), "{said}");

    let made = server_command(&database, &["token", "new", "dashboards"]);
    assert!(made.status.success(), "{}", stderr(&made));
    let token = stdout(&made).trim().to_string();
    assert!(token.starts_with("dwr_"), "{token}");
    let again = server_command(&database, &["token", "new", "dashboards"]);
    assert!(!again.status.success(), "a second token of the same name");
    let address = server.address().to_string();
    let ask = |credential: &str, kql: &str| {
        let body = serde_json::json!({ "query": kql }).to_string();
        post(&address, "/v1/query", credential, None, body.as_bytes())
    };

    let (status, body) = ask(
        &token,
        r#"ConfigurationData | where ConfigDataType == "Software" | project SoftwareName, Computer"#,
    );
    assert_eq!(status, 200, "{body}");
    let answer: Value = serde_json::from_str(&body).unwrap();
    let table = &answer["tables"][0];
    assert_eq!(table["name"], "PrimaryResult");
    assert_eq!(
        table["columns"],
        serde_json::json!([{"name": "SoftwareName", "type": "string"}, {"name": "Computer", "type": "string"}])
    );
    assert_eq!(table["rows"], serde_json::json!([["bash", "deb-2"]]));
    assert_eq!(table["truncated"], false);

    // Literals that try to end the SQL stay values: nothing found, nothing dropped.
    for hostile in [
        r#"ConfigurationData | where SoftwareName == "x' OR 1=1 --""#,
        r#"ConfigurationData | where SoftwareName == "'; DROP TABLE machine; --""#,
        r#"ConfigurationData | where SoftwareName contains "$1'); DELETE FROM \"ConfigurationData\"; --""#,
        r#"ConfigurationData | where SoftwareName in ("a\"); DROP TABLE api_token; --", @"b'")"#,
    ] {
        let (status, body) = ask(&token, hostile);
        assert_eq!(status, 200, "{hostile}: {body}");
        let answer: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(answer["tables"][0]["rows"], serde_json::json!([]), "{hostile}");
    }
    assert_eq!(postgres.psql("fleet", "SELECT count(*) FROM machine"), "1");
    assert_eq!(
        postgres.psql("fleet", "SELECT count(*) FROM \"ConfigurationData\""),
        "2"
    );
    assert_eq!(postgres.psql("fleet", "SELECT count(*) FROM api_token"), "1");

    // A query that does not translate: 400 with the place and a caret.
    let (status, body) = ask(&token, "ConfigurationData\n| where SoftwareName = 1");
    assert_eq!(status, 400, "{body}");
    let problem: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        (problem["line"].as_i64(), problem["column"].as_i64()),
        (Some(2), Some(22)),
        "{body}"
    );
    assert!(problem["detail"].as_str().unwrap().ends_with('^'), "{body}");
    // A computed value PostgreSQL refuses is the query's fault: 400.
    let (status, body) = ask(
        &token,
        "ConfigurationData | extend x = Size / (Size - Size) | where isnotnull(Size)",
    );
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("the query failed: division by zero"), "{body}");

    // Agents' credentials cannot query; tokens cannot ship; revoked tokens stop.
    let credential = debian.credential();
    let (status, _) = ask(&credential, "ConfigurationData");
    assert_eq!(status, 401);
    let (status, _) = send("GET", &address, "/v1/ship", &token, None, b"");
    assert_eq!(status, 401);
    let (status, _) = ask("dwr_0000", "ConfigurationData");
    assert_eq!(status, 401);
    let listed = server_command(&database, &["token", "list", "--json"]);
    let listed: Value = serde_json::from_str(stdout(&listed).trim()).unwrap();
    assert_eq!(listed["name"], "dashboards");
    assert!(listed["last_used"].is_string(), "{listed}");
    let revoked = server_command(&database, &["token", "revoke", "dashboards"]);
    assert!(revoked.status.success(), "{}", stderr(&revoked));
    let (status, _) = ask(&token, "ConfigurationData");
    assert_eq!(status, 401);
    drop(server);
}
