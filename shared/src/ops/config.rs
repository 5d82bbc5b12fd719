//! Where jail(8)'s front finds its jails: a configuration file (`-f FILE`,
//! `-` for standard input), else `/etc/jail.conf` together with every
//! `NAME.conf` of the definitions directory, or the parameters of the
//! command line (`jmk -c name=web path=/j/web command=/bin/sh`).

use std::fs;
use std::io::Read;
use std::path::PathBuf;

use crate::conf::{self, ConfFile, RawJail, RawParam};
use crate::error::{Error, OsContext, Result};
use crate::model::{Jail, Params, State, Value};
use crate::paths::Paths;

/// Where the configuration comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigSource {
    /// `/etc/jail.conf` (`JKIT_JAIL_CONF`) and `CONF_DIR/*.conf`.
    Default,
    /// `-f FILE`; `-` reads standard input.
    File(PathBuf),
}

/// One jail of a configuration, before it is typed: jail(8) types (and
/// fails) each jail on its own when it comes to it.
#[derive(Debug, Clone)]
pub struct ConfJail {
    /// The jail's name.
    pub name: String,
    /// Its parameters after merging and expansion, or why they failed.
    pub raw: std::result::Result<RawJail, String>,
    /// Every failure of merging and expansion, in the order met (the
    /// first is `raw`'s): jail(8) warns about them all as it loads the
    /// configuration.
    pub load_errors: Vec<String>,
}

impl ConfJail {
    /// The jail typed with the parameter table (`web: unknown parameter`,
    /// a bad boolean, ...). Errors carry the place of the statement.
    pub fn typed(&self) -> Result<Jail> {
        match &self.raw {
            Ok(raw) => conf::typed(raw.clone()),
            Err(msg) => Err(Error::Config(msg.clone())),
        }
    }

    /// The values of `depend` as written (before typing, so that a jail
    /// whose other parameters are bad still orders its dependencies).
    pub fn depends(&self) -> Vec<String> {
        self.raw
            .as_ref()
            .map(|r| {
                r.params
                    .iter()
                    .filter(|p| p.name == "depend")
                    .flat_map(|p| p.values.iter().cloned())
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// The jails a configuration defines, in file order.
#[derive(Debug, Clone, Default)]
pub struct Config {
    /// The jails.
    pub jails: Vec<ConfJail>,
    /// Whether the jails come from a configuration file rather than the
    /// command line (jail(8)'s `docf`).
    pub from_file: bool,
}

impl Config {
    /// The jails of a parsed file.
    pub fn of(file: &ConfFile) -> Self {
        let mut jails = Vec::new();
        conf::for_each_jail(file, &mut |name, raw| {
            let (raw, load_errors) = match raw {
                Ok(raw) => (Ok(raw), Vec::new()),
                Err(failed) => {
                    let first = failed.error.to_string();
                    let mut all = vec![first.clone()];
                    all.extend(failed.more.iter().map(ToString::to_string));
                    (Err(first), all)
                }
            };
            jails.push(ConfJail {
                name: name.to_string(),
                raw,
                load_errors,
            });
        });
        Config {
            jails,
            from_file: true,
        }
    }

    /// The jail named `name`.
    pub fn get(&self, name: &str) -> Option<&ConfJail> {
        self.jails.iter().find(|j| j.name == name)
    }

    /// Read the configuration of `source`. `stdin` is read for `-f -`.
    /// With the default source, a missing `/etc/jail.conf` is fine when
    /// the definitions directory has jails; when neither exists the error
    /// names `/etc/jail.conf`, as jail(8)'s does.
    pub fn load(paths: &Paths, source: &ConfigSource, stdin: impl Read) -> Result<Self> {
        Ok(Self::of(&read(paths, source, stdin)?))
    }

    /// The jails of jail.conf and of the definitions of `name` and of the
    /// jails it depends on (`CONF_DIR/NAME.conf` each), what starting it
    /// needs: the other definitions are not read.
    pub fn load_for(paths: &Paths, name: &str) -> Result<Self> {
        Self::load_for_each(paths, &[name.to_string()])
    }

    /// [`Config::load_for`] for each of `names` at once.
    pub fn load_for_each(paths: &Paths, names: &[String]) -> Result<Self> {
        let mut file = if paths.jail_conf_file.exists() {
            conf::parse_file(&paths.jail_conf_file)?
        } else {
            ConfFile::default()
        };
        let mut read: Vec<PathBuf> = file
            .files()
            .iter()
            .filter_map(|f| fs::canonicalize(&**f).ok())
            .collect();
        let mut wanted = names.to_vec();
        while let Some(n) = wanted.pop() {
            let def = paths.jail_conf(&n);
            let Ok(canon) = fs::canonicalize(&def) else {
                continue;
            };
            if crate::model::name::validate(&n).is_err() || read.contains(&canon) {
                continue;
            }
            read.push(canon);
            let parsed = match conf::parse_file(&def) {
                Ok(parsed) => parsed,
                // Removed since (a destroy racing this): as if never there.
                Err(_) if !def.exists() => continue,
                Err(e) => return Err(e),
            };
            file.append(parsed);
            let config = Self::of(&file);
            if let Some(j) = config.get(&n) {
                wanted.extend(j.depends().into_iter().filter(|d| config.get(d).is_none()));
            }
        }
        Ok(Self::of(&file))
    }

    /// Whether `source` exists (jail(8)'s `-r` reads the file only then).
    pub fn exists(paths: &Paths, source: &ConfigSource) -> bool {
        match source {
            ConfigSource::File(f) => f.as_os_str() == "-" || f.exists(),
            ConfigSource::Default => {
                paths.jail_conf_file.exists() || !definition_files(paths).is_empty()
            }
        }
    }

    /// The one jail of a command line: `param=value` arguments as jail(8)
    /// takes them (list parameters split on commas and appended, scalars
    /// keeping the last value, `command=` swallowing the rest as argv).
    /// The jail's name is its `name=`; without one it is empty, and the
    /// jail is named by its jid when it is made.
    pub fn command_line(args: &[String]) -> Result<Jail> {
        let mut params = Params::new();
        for (i, arg) in args.iter().enumerate() {
            if let Some(argv) = super::trailing_command(args, i) {
                params.set("command", Value::List(argv));
                break;
            }
            if arg == "command" {
                params.set("command", Value::List(args[i + 1..].to_vec()));
                break;
            }
            params.assign(arg)?;
        }
        let name = params.str("name").unwrap_or_default().to_string();
        Ok(Jail {
            name,
            jid: None,
            state: State::Stopped,
            params,
        })
    }
}

/// A command-line jail as a configuration of one jail.
impl From<&Jail> for ConfJail {
    fn from(jail: &Jail) -> Self {
        let at = conf::Location {
            file: "command line".into(),
            line: 1,
            column: 1,
        };
        let params = jail
            .params
            .iter()
            .map(|(name, value)| RawParam {
                name: match value {
                    Value::Bool(false) => crate::model::param::negated_name(name),
                    _ => name.to_string(),
                },
                values: match value {
                    Value::Bool(_) => Vec::new(),
                    v => v.as_list().map_or_else(|| v.export(), <[String]>::to_vec),
                },
                at: at.clone(),
            })
            .collect();
        ConfJail {
            name: jail.name.clone(),
            raw: Ok(RawJail {
                name: jail.name.clone(),
                params,
            }),
            load_errors: Vec::new(),
        }
    }
}

/// The parsed configuration of `source` (what [`Config::load`] resolves).
pub fn read(paths: &Paths, source: &ConfigSource, mut stdin: impl Read) -> Result<ConfFile> {
    match source {
        ConfigSource::File(f) if f.as_os_str() == "-" => {
            let mut text = Vec::new();
            stdin
                .read_to_end(&mut text)
                .what(|| "read standard input".into())?;
            let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("/"));
            conf::parse_bytes(&text, "STDIN", &cwd)
        }
        ConfigSource::File(f) => conf::parse_file(f),
        ConfigSource::Default => {
            let defs = definition_files(paths);
            let main = &paths.jail_conf_file;
            let mut file = if main.exists() || defs.is_empty() {
                conf::parse_file(main)?
            } else {
                ConfFile::default()
            };
            // Files /etc/jail.conf already includes are not read twice.
            let seen: Vec<PathBuf> = file
                .files()
                .iter()
                .filter_map(|f| fs::canonicalize(&**f).ok())
                .collect();
            for def in defs {
                if !fs::canonicalize(&def).is_ok_and(|c| seen.contains(&c)) {
                    file.append(conf::parse_file(&def)?);
                }
            }
            Ok(file)
        }
    }
}

/// The `*.conf` files of the definitions directory, sorted.
fn definition_files(paths: &Paths) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = fs::read_dir(&paths.conf_dir)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == "conf") && p.is_file())
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    fn temp(tag: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("jkit-config-{tag}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn default_reads_jail_conf_and_definitions_once() {
        let base = temp("default");
        let paths = Paths::under(&base);
        fs::create_dir_all(&paths.conf_dir).unwrap();
        fs::write(
            paths.conf_dir.join("web.conf"),
            "web { exec.start += \"a\"; }\n",
        )
        .unwrap();
        fs::write(paths.conf_dir.join("db.conf"), "db { }\n").unwrap();
        fs::write(paths.conf_dir.join("notes.txt"), "x { }\n").unwrap();
        let c = Config::load(&paths, &ConfigSource::Default, std::io::empty()).unwrap();
        let names: Vec<&str> = c.jails.iter().map(|j| j.name.as_str()).collect();
        assert_eq!(names, ["db", "web"]);
        // jail.conf first; it includes web.conf itself, which is then not read again
        let inc = format!(
            "persist;\nold {{ }}\n.include \"{}/web.conf\";\n",
            paths.conf_dir.display()
        );
        fs::write(&paths.jail_conf_file, inc).unwrap();
        let c = Config::load(&paths, &ConfigSource::Default, std::io::empty()).unwrap();
        let names: Vec<&str> = c.jails.iter().map(|j| j.name.as_str()).collect();
        assert_eq!(names, ["old", "web", "db"]);
        let web = c.get("web").unwrap().typed().unwrap();
        assert_eq!(web.params.list("exec.start"), ["a"], "appended once");
        assert!(
            web.params.flag("persist"),
            "top-level parameters of jail.conf apply to definitions"
        );
        let _ = fs::remove_dir_all(base);
    }

    #[test]
    fn starting_one_jail_reads_its_definition_and_its_dependencies() {
        let base = temp("for");
        let paths = Paths::under(&base);
        fs::create_dir_all(&paths.conf_dir).unwrap();
        fs::write(paths.conf_dir.join("web.conf"), "web { depend = db; }\n").unwrap();
        fs::write(paths.conf_dir.join("db.conf"), "db { depend = base; }\n").unwrap();
        fs::write(paths.conf_dir.join("other.conf"), "other { }\n").unwrap();
        fs::write(&paths.jail_conf_file, "base { }\n").unwrap();
        let c = Config::load_for(&paths, "web").unwrap();
        let names: Vec<&str> = c.jails.iter().map(|j| j.name.as_str()).collect();
        assert_eq!(names, ["base", "web", "db"]);
        let c = Config::load_for(&paths, "nosuch").unwrap();
        assert_eq!(c.jails.len(), 1);
        let _ = fs::remove_dir_all(base);
    }

    #[test]
    fn nothing_to_read_names_jail_conf() {
        let base = temp("none");
        let paths = Paths::under(&base);
        assert!(!Config::exists(&paths, &ConfigSource::Default));
        let e = Config::load(&paths, &ConfigSource::Default, std::io::empty()).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!(
                "{}: No such file or directory",
                paths.jail_conf_file.display()
            )
        );
        let _ = fs::remove_dir_all(base);
    }

    #[test]
    fn stdin_is_read_for_dash() {
        let paths = Paths::under(Path::new("/nonexistent"));
        let src = ConfigSource::File("-".into());
        assert!(Config::exists(&paths, &src));
        let c = Config::load(&paths, &src, "a { }\nb { depend = a; }\n".as_bytes()).unwrap();
        assert_eq!(c.jails.len(), 2);
        assert_eq!(c.get("b").unwrap().depends(), ["a"]);
    }

    #[test]
    fn one_bad_jail_leaves_the_others() {
        let f = conf::parse_str(
            "a { path = \"$nowhere\"; }\nb { bogus; }\nc { }\n",
            "t",
            Path::new("/"),
        )
        .unwrap();
        let c = Config::of(&f);
        assert_eq!(
            c.get("a").unwrap().raw.as_ref().unwrap_err(),
            "t line 1 column 13: a: path: variable \"nowhere\" not found"
        );
        assert_eq!(
            c.get("b").unwrap().typed().unwrap_err().to_string(),
            "t line 2 column 5: b: unknown parameter: bogus"
        );
        assert!(c.get("c").unwrap().typed().is_ok());
    }

    #[test]
    fn command_line_jail() {
        let j = Config::command_line(&s(&[
            "name=t",
            "path=/",
            "ip4.addr=10.213.0.1,10.213.0.2",
            "persist",
            "command=/bin/sh",
            "-c",
            "echo a=b",
        ]))
        .unwrap();
        assert_eq!(j.name, "t");
        assert_eq!(j.params.list("command"), ["/bin/sh", "-c", "echo a=b"]);
        assert_eq!(j.params.list("ip4.addr"), ["10.213.0.1", "10.213.0.2"]);
        let anonymous = Config::command_line(&s(&["path=/"])).unwrap();
        assert_eq!(anonymous.name, "");
        let raw = ConfJail::from(&j);
        let back = raw.typed().unwrap();
        assert_eq!(back.params, j.params);
    }
}
