//! The collector on an offline image built by the tests.

use regf::writer::{KeySpec, Options, write};

use super::*;

fn image() -> tempfile::TempDir {
    let services = KeySpec::new("Services")
        .key(
            KeySpec::new("Dhcp")
                .dword("Type", 0x20)
                .dword("Start", 2)
                .expand_sz("ImagePath", r"%SystemRoot%\system32\svchost.exe -k LocalService")
                .sz("DisplayName", "@%SystemRoot%\\system32\\dhcpcore.dll,-100")
                .sz("ObjectName", r"NT Authority\LocalService")
                .sz("Description", "Registers and updates IP addresses"),
        )
        .key(
            KeySpec::new("BITS")
                .dword("Type", 0x20)
                .dword("Start", 2)
                .dword("DelayedAutostart", 1),
        )
        .key(KeySpec::new("UI0Detect").dword("Type", 0x110).dword("Start", 3))
        .key(KeySpec::new("Spooler").dword("Type", 0x10).dword("Start", 4))
        .key(
            KeySpec::new("ACPI")
                .dword("Type", 1)
                .dword("Start", 0)
                .sz("ImagePath", r"system32\drivers\acpi.sys"),
        )
        .key(KeySpec::new(".NET CLR Data").key(KeySpec::new("Performance")));
    let system = KeySpec::new("ROOT")
        .key(KeySpec::new("Select").dword("Current", 1))
        .key(KeySpec::new("ControlSet001").key(services));
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("Windows/System32/config");
    std::fs::create_dir_all(&config).unwrap();
    std::fs::write(config.join("SYSTEM"), write(&system, Options::default())).unwrap();
    dir
}

fn by_name(services: &[Service], name: &str) -> Service {
    services
        .iter()
        .find(|s| s.name == name)
        .cloned()
        .unwrap_or_else(|| panic!("no {name}"))
}

#[test]
fn win32_services_come_with_their_configuration() {
    let dir = image();
    let services = collect_from(&Registry::offline(dir.path()), false, None).unwrap();
    let names: Vec<&str> = services.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["BITS", "Dhcp", "Spooler", "UI0Detect"]);
    let dhcp = by_name(&services, "Dhcp");
    assert_eq!(dhcp.startup_type, "Automatic");
    assert_eq!(dhcp.path, r"%SystemRoot%\system32\svchost.exe -k LocalService");
    assert_eq!(dhcp.account, r"NT Authority\LocalService");
    assert_eq!(dhcp.description, "Registers and updates IP addresses");
    assert_eq!(dhcp.state, ServiceState::Unknown, "offline: never guessed");
    assert_eq!(by_name(&services, "BITS").startup_type, "Automatic (Delayed Start)");
    assert_eq!(by_name(&services, "BITS").account, "LocalSystem");
    assert_eq!(by_name(&services, "UI0Detect").startup_type, "Manual");
    assert_eq!(by_name(&services, "Spooler").startup_type, "Disabled");
}

#[test]
fn drivers_on_request_and_live_states_by_name() {
    let dir = image();
    let states = HashMap::from([
        ("dhcp".to_string(), State::Running),
        ("bits".to_string(), State::StopPending),
    ]);
    let services = collect_from(&Registry::offline(dir.path()), true, Some(&states)).unwrap();
    let acpi = by_name(&services, "ACPI");
    assert_eq!((acpi.startup_type.as_str(), acpi.account.as_str()), ("Boot", ""));
    assert_eq!(by_name(&services, "Dhcp").state, ServiceState::Running);
    assert_eq!(by_name(&services, "BITS").state, ServiceState::StopPending);
    assert_eq!(
        by_name(&services, "Spooler").state,
        ServiceState::Unknown,
        "not known to the SCM"
    );
}

#[test]
fn startup_types_use_the_consoles_words() {
    assert_eq!(service::startup_type(Some(1), false), "System");
    assert_eq!(service::startup_type(Some(2), true), "Automatic (Delayed Start)");
    assert_eq!(service::startup_type(Some(9), false), "Unknown (9)");
    assert_eq!(service::startup_type(None, false), "");
}

#[test]
fn a_missing_hive_is_a_clear_error() {
    let empty = tempfile::tempdir().unwrap();
    let error = collect_from(&Registry::offline(empty.path()), false, None).unwrap_err();
    assert!(error.to_string().contains("does not exist"), "{error}");
}
