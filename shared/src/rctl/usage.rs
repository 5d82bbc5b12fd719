//! Resource usage of one subject: `resource=value` per resource, in the
//! kernel's order, as `rctl -u` prints it and `--json` records carry it.

use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::ser::{SerializeMap, Serializer};
use serde::{Deserialize, Serialize};

use super::RctlError;
use super::amount::humanize_number;
use super::names::{Resource, SubjectType};

/// Usage figures in the kernel's resource order; cputime and wallclock
/// in seconds, pcpu in percent, the I/O rates per second.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Usage {
    values: Vec<(Resource, u64)>,
}

impl Usage {
    /// The resources the kernel reports for a subject of type `subject`:
    /// all 25, but a process's leave out the sloppy ones.
    pub fn resources_for(subject: SubjectType) -> impl Iterator<Item = Resource> {
        Resource::ALL
            .iter()
            .copied()
            .filter(move |r| subject != SubjectType::Process || !r.sloppy())
    }

    /// The usage of a subject of type `subject`, each figure from `value`.
    pub fn from_fn(subject: SubjectType, mut value: impl FnMut(Resource) -> u64) -> Self {
        Usage {
            values: Self::resources_for(subject)
                .map(|r| (r, value(r)))
                .collect(),
        }
    }

    /// Parse what `rctl_get_racct(2)` returns: `name=value` pairs separated
    /// by commas (a trailing comma allowed).
    pub fn parse_kernel(text: &str) -> Result<Self, RctlError> {
        let mut values = Vec::new();
        for pair in text.split(',').filter(|p| !p.is_empty()) {
            let (name, value) = pair.split_once('=').ok_or_else(|| {
                RctlError::Failed(format!("unexpected usage from the kernel: {pair}"))
            })?;
            let resource = Resource::from_name(name).ok_or_else(|| {
                RctlError::Failed(format!("unknown resource from the kernel: {name}"))
            })?;
            // The kernel prints int64s; nothing it accounts goes below 0.
            let v: i64 = value.parse().map_err(|_| {
                RctlError::Failed(format!("unexpected usage from the kernel: {pair}"))
            })?;
            values.push((resource, v.max(0) as u64));
        }
        Ok(Usage { values })
    }

    /// The figure of `resource`, if reported.
    pub fn get(&self, resource: Resource) -> Option<u64> {
        self.values
            .iter()
            .find(|(r, _)| *r == resource)
            .map(|(_, v)| *v)
    }

    /// The figures in order.
    pub fn iter(&self) -> impl Iterator<Item = (Resource, u64)> + '_ {
        self.values.iter().copied()
    }

    /// The `rctl -u` lines: `resource=value`, humanized with `-h`.
    pub fn lines(&self, humanize: bool) -> Vec<String> {
        self.values
            .iter()
            .map(|(r, v)| {
                if humanize {
                    format!("{r}={}", humanize_number((*v).min(i64::MAX as u64) as i64))
                } else {
                    format!("{r}={v}")
                }
            })
            .collect()
    }
}

impl Serialize for Usage {
    /// An object with the figures in the kernel's order.
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.values.len()))?;
        for (r, v) in &self.values {
            map.serialize_entry(r.name(), v)?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for Usage {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Usage;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an object of resource names and non-negative integers")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<Usage, A::Error> {
                let mut values = Vec::new();
                while let Some((name, v)) = m.next_entry::<String, u64>()? {
                    let r = Resource::from_name(&name)
                        .ok_or_else(|| de::Error::custom(format!("unknown resource {name}")))?;
                    values.push((r, v));
                }
                values.sort_by_key(|(r, _)| *r);
                Ok(Usage { values })
            }
        }
        d.deserialize_map(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The illustrative figures of reference section 6.9.
    const KERNEL: &str = "cputime=12,datasize=8388608,stacksize=2097152,coredumpsize=0,memoryuse=123456789,\
        memorylocked=0,maxproc=9,openfiles=312,vmemoryuse=536870912,pseudoterminals=0,swapuse=0,nthr=11,\
        msgqqueued=0,msgqsize=0,nmsgq=0,nsem=0,nsemop=0,nshm=0,shmsize=0,wallclock=3600,pcpu=0,readbps=0,\
        writebps=4096,readiops=0,writeiops=1,";

    #[test]
    fn plain_and_humanized_lines_match_the_reference() {
        let u = Usage::parse_kernel(KERNEL).unwrap();
        let plain = u.lines(false).join("\n") + "\n";
        assert_eq!(plain, KERNEL.replace(',', "\n"));
        let human = u.lines(true);
        assert_eq!(human[1], "datasize=8192K");
        assert_eq!(human[2], "stacksize=2048K");
        assert_eq!(human[4], "memoryuse=118M");
        assert_eq!(human[7], "openfiles=312");
        assert_eq!(human[8], "vmemoryuse=512M");
        assert_eq!(human[19], "wallclock=3600");
        assert_eq!(human[22], "writebps=4096");
        assert_eq!(human.len(), 25);
    }

    #[test]
    fn processes_leave_out_sloppy_resources() {
        assert_eq!(
            Usage::from_fn(SubjectType::Jail, |_| 0).lines(false).len(),
            25
        );
        let p = Usage::from_fn(SubjectType::Process, |_| 0).lines(false);
        assert_eq!(p.len(), 17);
        assert!(!p.iter().any(|l| l.starts_with("swapuse=")));
    }

    #[test]
    fn json_keeps_kernel_order_and_exact_numbers() {
        let u = Usage::parse_kernel(KERNEL).unwrap();
        let j = serde_json::to_string(&u).unwrap();
        assert!(j.starts_with(r#"{"cputime":12,"datasize":8388608,"#), "{j}");
        assert!(j.ends_with(r#""readiops":0,"writeiops":1}"#), "{j}");
        let back: Usage = serde_json::from_str(&j).unwrap();
        assert_eq!(back, u);
        assert!(serde_json::from_str::<Usage>(r#"{"bogus":1}"#).is_err());
    }
}
