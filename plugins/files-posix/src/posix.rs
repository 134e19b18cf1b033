//! Owners, groups and permission bits in the text people read them in.

use std::collections::HashMap;
use std::rc::Rc;

/// User and group names by id, from `/etc/passwd` and `/etc/group` when they
/// are readable; ids stay numbers otherwise.
#[derive(Clone, Default)]
pub struct Names {
    users: Rc<HashMap<u32, String>>,
    groups: Rc<HashMap<u32, String>>,
}

impl Names {
    pub fn load() -> Names {
        let read = |path: &str| {
            std::fs::read_to_string(path)
                .map(|t| parse_id_file(&t))
                .unwrap_or_default()
        };
        Names {
            users: Rc::new(read("/etc/passwd")),
            groups: Rc::new(read("/etc/group")),
        }
    }

    pub fn from_files(passwd: &str, group: &str) -> Names {
        Names {
            users: Rc::new(parse_id_file(passwd)),
            groups: Rc::new(parse_id_file(group)),
        }
    }

    /// `root:adm`, or `1000:1000` where names are unknown.
    pub fn owner(&self, uid: u32, gid: u32) -> String {
        let user = self.users.get(&uid).cloned().unwrap_or_else(|| uid.to_string());
        let group = self.groups.get(&gid).cloned().unwrap_or_else(|| gid.to_string());
        format!("{user}:{group}")
    }
}

/// `name:x:id:...` lines (passwd and group share the first three fields).
fn parse_id_file(text: &str) -> HashMap<u32, String> {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| {
            let mut fields = line.split(':');
            let name = fields.next()?;
            let id = fields.nth(1)?.parse().ok()?;
            (!name.is_empty()).then(|| (id, name.to_string()))
        })
        .collect()
}

/// `0644 -rw-r--r--`: the permission bits in octal (with setuid, setgid and
/// sticky), then as `ls` shows them; empty where the system has no modes.
pub fn mode_text(mode: u32) -> String {
    if mode == 0 {
        return String::new();
    }
    let kind = match mode & 0o170000 {
        0o040000 => 'd',
        0o120000 => 'l',
        0o010000 => 'p',
        0o140000 => 's',
        0o060000 => 'b',
        0o020000 => 'c',
        _ => '-',
    };
    let bit = |mask: u32, c: char| if mode & mask != 0 { c } else { '-' };
    let exec = |x: u32, special: u32, set: char, unset: char| match (mode & x != 0, mode & special != 0) {
        (true, true) => set,
        (false, true) => unset,
        (true, false) => 'x',
        (false, false) => '-',
    };
    let text: String = [
        kind,
        bit(0o400, 'r'),
        bit(0o200, 'w'),
        exec(0o100, 0o4000, 's', 'S'),
        bit(0o040, 'r'),
        bit(0o020, 'w'),
        exec(0o010, 0o2000, 's', 'S'),
        bit(0o004, 'r'),
        bit(0o002, 'w'),
        exec(0o001, 0o1000, 't', 'T'),
    ]
    .iter()
    .collect();
    format!("{:04o} {text}", mode & 0o7777)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_read_like_ls() {
        assert_eq!(mode_text(0o100644), "0644 -rw-r--r--");
        assert_eq!(mode_text(0o104755), "4755 -rwsr-xr-x");
        assert_eq!(mode_text(0o041777), "1777 drwxrwxrwt");
        assert_eq!(mode_text(0o120777), "0777 lrwxrwxrwx");
        assert_eq!(mode_text(0o102644), "2644 -rw-r-Sr--");
        assert_eq!(mode_text(0), "");
    }

    #[test]
    fn owners_by_name_when_known() {
        let names = Names::from_files(
            "root:x:0:0:root:/root:/bin/bash\n# comment\nbroken line\nalice:x:1000:1000::/home/alice:/bin/sh\n",
            "root:x:0:\nadm:x:4:syslog\n",
        );
        assert_eq!(names.owner(0, 4), "root:adm");
        assert_eq!(names.owner(1000, 1000), "alice:1000");
        assert_eq!(Names::default().owner(5, 6), "5:6");
    }
}
