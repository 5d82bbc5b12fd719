//! FreeBSD's jail interface without the kernel: how jail_set(2) and
//! jail_get(2) want their parameters (native bytes in iovec name/value
//! pairs, booleans as `name`/`noname` with a NULL value, jailsys as 0/1/2,
//! address arrays), how `security.jail.param.*` sysctl metadata types them,
//! how the kernel's `errmsg` and errno become [`Error`]s, and the other
//! decisions of jail(8) that need no system call (the mounts a jail asks
//! for, shell or argv for `command`, symlink checks). The FreeBSD backend
//! only adds the system calls, so everything here is tested on any host.

use std::borrow::Cow;
use std::ffi::CString;
use std::mem::size_of;
use std::net::{Ipv4Addr, Ipv6Addr};

use libc::{c_int, c_long, c_ulong};

use crate::error::{Error, Result};
use crate::model::param::{self, Access, Kind, Spec, negated_name};
use crate::model::{Jail, JailSys, Params, State, Value};

/// jail_set(2): create a jail.
pub const JAIL_CREATE: c_int = 0x01;
/// jail_set(2): update an existing jail.
pub const JAIL_UPDATE: c_int = 0x02;
/// jail_set(2)/jail_get(2): also act on a dying jail.
pub const JAIL_DYING: c_int = 0x08;

/// The size of the `errmsg` buffer libjail hands the kernel (`JAIL_ERRMSGLEN`).
pub const ERRMSG_LEN: usize = 1024;
/// Extra array elements allowed for when sizing an array for jail_get
/// (libjail's `ARRAY_SLOP`).
pub const ARRAY_SLOP: usize = 5;
/// How often jail_get is retried when an array grew between the sizing
/// call and the real one (libjail's `ARRAY_SANITY`).
pub const ARRAY_SANITY: usize = 5;

/// The sysctl type mask of an OID's kind.
pub const CTLTYPE: u32 = 0xf;
/// sysctl type: `int`.
pub const CTLTYPE_INT: u32 = 2;
/// sysctl type: string.
pub const CTLTYPE_STRING: u32 = 3;
/// sysctl type: `int64_t`.
pub const CTLTYPE_S64: u32 = 4;
/// sysctl type: opaque structure.
pub const CTLTYPE_STRUCT: u32 = 5;
/// sysctl type: `unsigned int`.
pub const CTLTYPE_UINT: u32 = 6;
/// sysctl type: `long`.
pub const CTLTYPE_LONG: u32 = 7;
/// sysctl type: `unsigned long`.
pub const CTLTYPE_ULONG: u32 = 8;
/// sysctl type: `uint64_t`.
pub const CTLTYPE_U64: u32 = 9;
/// sysctl flag: writable (for a jail parameter: settable at any time).
pub const CTLFLAG_WR: u32 = 0x4000_0000;
/// sysctl flag: tunable (for a jail parameter without `CTLFLAG_WR`:
/// settable at creation only).
pub const CTLFLAG_TUN: u32 = 0x0008_0000;

/// The prefix of the sysctls that describe jail parameters.
pub const PARAM_SYSCTL: &str = "security.jail.param";

/// How the kernel holds one parameter's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Native {
    /// An `int` that is 0 or 1; set by name (`persist` / `nopersist`).
    Bool,
    /// An `int` that is 0, 1 or 2 (disable, new, inherit).
    JailSys,
    /// A C `int`.
    Int,
    /// A C `unsigned int`.
    UInt,
    /// A C `long`.
    Long,
    /// A C `unsigned long`.
    ULong,
    /// An `int64_t`.
    Int64,
    /// A `uint64_t`.
    UInt64,
    /// A NUL-terminated string in a buffer of at most `max` bytes.
    Str {
        /// The largest buffer the kernel accepts or fills, NUL included.
        max: usize,
    },
    /// An array of `struct in_addr` (4 bytes each, network order).
    InAddr,
    /// An array of `struct in6_addr` (16 bytes each).
    In6Addr,
    /// A `struct mac` (`mac.label`): the label text's buffer length and a
    /// pointer to it.
    MacLabel,
}

impl Native {
    /// Whether values are arrays whose size the kernel reports.
    pub fn is_array(self) -> bool {
        matches!(self, Native::InAddr | Native::In6Addr)
    }

    /// The size of one value (of one element for arrays, of the whole
    /// buffer for strings).
    pub fn size(self) -> usize {
        match self {
            Native::Bool | Native::JailSys | Native::Int => size_of::<c_int>(),
            Native::UInt => size_of::<libc::c_uint>(),
            Native::Long => size_of::<c_long>(),
            Native::ULong => size_of::<c_ulong>(),
            Native::Int64 | Native::UInt64 => 8,
            Native::Str { max } => max,
            Native::InAddr => 4,
            Native::In6Addr => 16,
            Native::MacLabel => MAC_STRUCT_SIZE,
        }
    }

    fn describe(self) -> &'static str {
        match self {
            Native::Bool => "boolean",
            Native::JailSys => "jailsys",
            Native::Int
            | Native::UInt
            | Native::Long
            | Native::ULong
            | Native::Int64
            | Native::UInt64 => "integer",
            Native::Str { .. } => "string",
            Native::InAddr => "IPv4 address list",
            Native::In6Addr => "IPv6 address list",
            Native::MacLabel => "MAC label",
        }
    }
}

/// The size of `struct mac`: a `size_t` and a pointer.
pub const MAC_STRUCT_SIZE: usize = 2 * size_of::<usize>();
/// The longest MAC label text the kernel takes, NUL included
/// (`MAC_MAX_LABEL_BUF_LEN`).
const MAC_MAX_LABEL: usize = 8192;

/// A string buffer large enough for any string parameter whose limit the
/// kernel did not tell (`MAXPATHLEN`).
const FALLBACK_STR_MAX: usize = 1024;
/// The same for `meta` and `env` (`security.jail.meta_maxbufsize`'s default).
const FALLBACK_META_MAX: usize = 4096;

/// One kernel jail parameter: name, native type and when it may be set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParamInfo {
    /// The parameter's name (`host.hostname`, `allow.mount`): the table's
    /// own when jkit knows it, so that every jail fetched shares it.
    pub name: Cow<'static, str>,
    /// How the kernel stores its value.
    pub native: Native,
    /// Settable any time, at creation only, or never.
    pub access: Access,
}

/// The first word (the OID's kind: type and flags) and the format string
/// of a sysctl, as `sysctl {0, 4, OID}` returns them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OidFormat {
    /// Type (`CTLTYPE_*` in the low bits) and `CTLFLAG_*` flags.
    pub kind: u32,
    /// The format string, e.g. `B`, `E,jailsys`, `S,in_addr,a`, `A`.
    pub fmt: String,
}

impl OidFormat {
    /// Parse the bytes of `sysctl {0, 4, OID}`: a native `u_int` then a
    /// NUL-terminated format string.
    pub fn parse(bytes: &[u8]) -> Option<Self> {
        let kind = u32::from_ne_bytes(bytes.get(..4)?.try_into().ok()?);
        Some(OidFormat {
            kind,
            fmt: c_text(&bytes[4..]),
        })
    }

    /// Whether the sysctl is a string (whose value, for a jail parameter,
    /// is its maximum length in decimal).
    pub fn is_string(&self) -> bool {
        self.kind & CTLTYPE == CTLTYPE_STRING
    }
}

/// A sysctl OID (a list of native `int`s) from the bytes `sysctl {0, 2,
/// ...}` returns.
pub fn oid_of_bytes(bytes: &[u8]) -> Vec<c_int> {
    bytes
        .chunks_exact(size_of::<c_int>())
        .map(|c| c_int::from_ne_bytes(c.try_into().unwrap_or_default()))
        .collect()
}

/// The parameter name of a sysctl under [`PARAM_SYSCTL`]: the prefix
/// removed, and the trailing dot of a node's own parameter (`allow.mount.`,
/// `host.`) dropped as libjail does.
pub fn param_name_of_sysctl(sysctl_name: &str) -> Option<&str> {
    let rest = sysctl_name.strip_prefix(PARAM_SYSCTL)?.strip_prefix('.')?;
    let rest = rest.strip_suffix('.').unwrap_or(rest);
    (!rest.is_empty()).then_some(rest)
}

impl ParamInfo {
    /// The parameter described by its sysctl metadata, as libjail's
    /// `jailparam_type` reads it; `string_value` is the sysctl's value, which
    /// for a string parameter is its maximum length. `None` for a type jkit
    /// cannot represent (opaque structures, arrays of anything but addresses).
    pub fn from_sysctl(name: &str, fmt: &OidFormat, string_value: Option<&[u8]>) -> Option<Self> {
        let (format, array) = match fmt.fmt.strip_suffix(",a") {
            Some(f) => (f, true),
            None => (fmt.fmt.as_str(), false),
        };
        let native = match fmt.kind & CTLTYPE {
            CTLTYPE_INT if format.starts_with('B') => Native::Bool,
            CTLTYPE_INT if format == "E,jailsys" => Native::JailSys,
            CTLTYPE_INT => Native::Int,
            CTLTYPE_UINT => Native::UInt,
            CTLTYPE_LONG => Native::Long,
            CTLTYPE_ULONG => Native::ULong,
            CTLTYPE_S64 => Native::Int64,
            CTLTYPE_U64 => Native::UInt64,
            CTLTYPE_STRING => Native::Str {
                max: c_text(string_value?).trim().parse().ok()?,
            },
            CTLTYPE_STRUCT if format == "S,in_addr" => Native::InAddr,
            CTLTYPE_STRUCT if format == "S,in6_addr" => Native::In6Addr,
            CTLTYPE_STRUCT if format == "S,mac" => Native::MacLabel,
            _ => return None,
        };
        if array != native.is_array() {
            return None;
        }
        let access = if fmt.kind & CTLFLAG_WR != 0 {
            Access::ReadWrite
        } else if fmt.kind & CTLFLAG_TUN != 0 {
            Access::CreateOnly
        } else {
            Access::ReadOnly
        };
        Some(ParamInfo {
            name: param::spec(name)
                .map_or_else(|| Cow::Owned(name.to_string()), |s| Cow::Borrowed(s.name)),
            native,
            access,
        })
    }

    /// The parameter as jkit's static table knows it, for when the kernel's
    /// metadata cannot be read; `None` for pseudo-parameters.
    pub fn from_spec(spec: &Spec) -> Option<Self> {
        let native = match spec.kind {
            Kind::Bool => Native::Bool,
            Kind::Sys => Native::JailSys,
            Kind::Int if spec.name == "host.hostid" => Native::ULong,
            Kind::Int => Native::Int,
            Kind::Str if spec.name == "mac.label" => Native::MacLabel,
            Kind::Str if matches!(spec.name, "meta" | "env") => Native::Str {
                max: FALLBACK_META_MAX,
            },
            Kind::Str => Native::Str {
                max: FALLBACK_STR_MAX,
            },
            Kind::Ip4 => Native::InAddr,
            Kind::Ip6 => Native::In6Addr,
            Kind::List => return None,
        };
        (spec.access != Access::Pseudo).then_some(ParamInfo {
            name: Cow::Borrowed(spec.name),
            native,
            access: spec.access,
        })
    }

    /// The bytes a jail_get buffer for this parameter needs (for an array,
    /// `reported` is the size the kernel gave for a NULL buffer, and room
    /// for [`ARRAY_SLOP`] more elements is added).
    pub fn get_size(&self, reported: usize) -> usize {
        if self.native.is_array() {
            reported + self.native.size() * ARRAY_SLOP
        } else {
            self.native.size()
        }
    }

    /// The iovec pair that sets this parameter to `value` with jail_set(2).
    pub fn encode(&self, value: &Value) -> Result<Arg> {
        let name = &self.name;
        let wrong = || {
            Error::BadData(format!(
                "{name}: not a {} value: {}",
                self.native.describe(),
                value.export().join(",")
            ))
        };
        let number = match value {
            Value::Int(i) => Some(*i),
            Value::Bool(b) => Some(i64::from(*b)),
            Value::Sys(s) => Some(i64::from(s.as_int())),
            _ => None,
        };
        let range = || {
            Error::BadData(format!(
                "{name}: value out of range: {}",
                number.unwrap_or(0)
            ))
        };
        let bytes = match self.native {
            Native::Bool => {
                let on = number.ok_or_else(wrong)? != 0;
                return Ok(Arg::flag(if on {
                    name.to_string()
                } else {
                    negated_name(name)
                }));
            }
            Native::JailSys => {
                let sys = match value {
                    Value::Sys(s) => *s,
                    Value::Int(i) => JailSys::from_int(*i).ok_or_else(range)?,
                    _ => return Err(wrong()),
                };
                sys.as_int().to_ne_bytes().to_vec()
            }
            Native::Int
            | Native::UInt
            | Native::Long
            | Native::ULong
            | Native::Int64
            | Native::UInt64 => {
                int_bytes(self.native, number.ok_or_else(wrong)?).ok_or_else(range)?
            }
            Native::Str { max } => str_bytes(name, value.as_str().ok_or_else(wrong)?, max)?,
            Native::InAddr => addr_bytes(name, value.as_list().ok_or_else(wrong)?, "IPv4", |e| {
                param::ip4_of_entry(e).map(|a| a.octets())
            })?,
            Native::In6Addr => addr_bytes(name, value.as_list().ok_or_else(wrong)?, "IPv6", |e| {
                param::ip6_of_entry(e).map(|a| a.octets())
            })?,
            Native::MacLabel => {
                let text = str_bytes(name, value.as_str().ok_or_else(wrong)?, MAC_MAX_LABEL)?;
                return Ok(Arg::mac_label(name, text));
            }
        };
        Ok(Arg::bytes(name, bytes))
    }

    /// The typed value of the bytes jail_get(2) returned for this parameter.
    pub fn decode(&self, bytes: &[u8]) -> Result<Value> {
        let name = &self.name;
        let size = self.native.size();
        let exact = || -> Result<&[u8]> {
            if bytes.len() == size {
                Ok(bytes)
            } else {
                Err(Error::BadData(format!(
                    "{name}: the kernel returned {} bytes, expected {size}",
                    bytes.len()
                )))
            }
        };
        Ok(match self.native {
            Native::Bool => Value::Bool(signed_of(exact()?) != 0),
            Native::JailSys => {
                let n = signed_of(exact()?);
                JailSys::from_int(n).map_or(Value::Int(n), Value::Sys)
            }
            Native::Int | Native::Long | Native::Int64 => Value::Int(signed_of(exact()?)),
            Native::UInt | Native::ULong | Native::UInt64 => unsigned_value(unsigned_of(exact()?)),
            Native::Str { .. } => Value::Str(c_text(bytes)),
            Native::MacLabel => {
                return Err(Error::BadData(format!(
                    "{name}: a MAC label is not read back from a struct"
                )));
            }
            Native::InAddr => Value::Ip4(
                self.elements(bytes, 4)?
                    .map(|c| Ipv4Addr::new(c[0], c[1], c[2], c[3]).to_string())
                    .collect(),
            ),
            Native::In6Addr => Value::Ip6(
                self.elements(bytes, 16)?
                    .map(|c| {
                        let mut o = [0u8; 16];
                        o.copy_from_slice(c);
                        ntop6(Ipv6Addr::from(o))
                    })
                    .collect(),
            ),
        })
    }

    fn elements<'a>(
        &self,
        bytes: &'a [u8],
        size: usize,
    ) -> Result<std::slice::ChunksExact<'a, u8>> {
        if bytes.len() % size != 0 {
            return Err(Error::BadData(format!(
                "{}: the kernel returned {} bytes, not a whole number of {size}-byte addresses",
                self.name,
                bytes.len()
            )));
        }
        Ok(bytes.chunks_exact(size))
    }
}

/// `n` as the native integer `native` holds; `None` when it does not fit
/// (or `native` is no integer).
fn int_bytes(native: Native, n: i64) -> Option<Vec<u8>> {
    Some(match native {
        Native::Int => c_int::try_from(n).ok()?.to_ne_bytes().to_vec(),
        Native::UInt => libc::c_uint::try_from(n).ok()?.to_ne_bytes().to_vec(),
        Native::Long => c_long::try_from(n).ok()?.to_ne_bytes().to_vec(),
        Native::ULong => c_ulong::try_from(n).ok()?.to_ne_bytes().to_vec(),
        Native::Int64 => n.to_ne_bytes().to_vec(),
        Native::UInt64 => u64::try_from(n).ok()?.to_ne_bytes().to_vec(),
        _ => return None,
    })
}

/// `text` as a NUL-terminated string of parameter `name` (of the bytes it
/// holds, [`crate::fsio::raw`]), whose buffer holds at most `max` bytes
/// (0: no limit).
fn str_bytes(name: &str, text: &str, max: usize) -> Result<Vec<u8>> {
    if text.contains('\0') {
        return Err(Error::BadData(format!("{name}: value contains a NUL byte")));
    }
    let mut b = crate::fsio::raw::encode(text);
    if max > 0 && b.len() >= max {
        return Err(Error::BadData(format!(
            "{name}: value too long (at most {} bytes)",
            max - 1
        )));
    }
    b.push(0);
    Ok(b)
}

/// The addresses of `entries` (`family`, read by `octets`) one after
/// another, as parameter `name`'s array.
fn addr_bytes<const N: usize>(
    name: &str,
    entries: &[String],
    family: &str,
    octets: impl Fn(&str) -> Option<[u8; N]>,
) -> Result<Vec<u8>> {
    let mut b = Vec::with_capacity(entries.len() * N);
    for e in entries {
        let a = octets(e)
            .ok_or_else(|| Error::BadData(format!("{name}: not an {family} address: {e}")))?;
        b.extend_from_slice(&a);
    }
    Ok(b)
}

/// A native signed integer of 4 or 8 bytes.
fn signed_of(b: &[u8]) -> i64 {
    match b.try_into() {
        Ok(four) => i64::from(i32::from_ne_bytes(four)),
        Err(_) => i64::from_ne_bytes(b.try_into().unwrap_or_default()),
    }
}

/// A native unsigned integer of 4 or 8 bytes.
fn unsigned_of(b: &[u8]) -> u64 {
    match b.try_into() {
        Ok(four) => u64::from(u32::from_ne_bytes(four)),
        Err(_) => u64::from_ne_bytes(b.try_into().unwrap_or_default()),
    }
}

/// An unsigned kernel integer: a number when it fits an `i64`, else its
/// decimal text.
fn unsigned_value(v: u64) -> Value {
    i64::try_from(v).map_or_else(|_| Value::Str(v.to_string()), Value::Int)
}

/// The text of a C string buffer: up to the first NUL (or the end).
pub fn c_text(bytes: &[u8]) -> String {
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    String::from_utf8_lossy(&bytes[..end]).into_owned()
}

/// An IPv6 address as FreeBSD's inet_ntop(3) writes it: RFC 5952 form,
/// IPv4-mapped (`::ffff:a.b.c.d`) and IPv4-compatible (`::a.b.c.d`)
/// addresses with a dotted tail.
pub fn ntop6(a: Ipv6Addr) -> String {
    let s = a.segments();
    if s[..6] == [0; 6] && s[6] != 0 {
        let o = a.octets();
        format!("::{}", Ipv4Addr::new(o[12], o[13], o[14], o[15]))
    } else {
        a.to_string()
    }
}

/// The parameters jkit knows from its static table, for when the kernel's
/// `security.jail.param` sysctls cannot be read, in jls's order.
pub fn fallback_params() -> Vec<ParamInfo> {
    let mut all: Vec<ParamInfo> = param::KERNEL_PARAMS
        .iter()
        .filter_map(ParamInfo::from_spec)
        .collect();
    sort_params(&mut all);
    all
}

/// Sort parameters as libjail's `jailparam_all` does: top-level names
/// first, then dotted ones, each group in byte order.
pub fn sort_params(params: &mut [ParamInfo]) {
    params.sort_by(|a, b| {
        (a.name.contains('.'), a.name.as_bytes()).cmp(&(b.name.contains('.'), b.name.as_bytes()))
    });
}

/// One iovec name/value pair of a request; `value: None` is a NULL value
/// of length 0 (a boolean being set, or a size query on get).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Arg {
    /// The parameter name.
    pub name: String,
    /// The value bytes, or `None` for NULL.
    pub value: Option<Vec<u8>>,
    /// For a `struct mac` value (`mac.label`): the NUL-terminated label
    /// text the struct points to; `value` is then the struct, filled in
    /// when the request's iovecs are made.
    label: Option<Vec<u8>>,
}

impl Arg {
    /// A name with a NULL value.
    pub fn flag(name: String) -> Self {
        Arg {
            name,
            value: None,
            label: None,
        }
    }

    /// A native `int` value.
    pub fn int(name: &str, v: c_int) -> Self {
        Arg::bytes(name, v.to_ne_bytes().to_vec())
    }

    /// A NUL-terminated string value, of the bytes it holds
    /// ([`crate::fsio::raw`]).
    pub fn string(name: &str, v: &str) -> Self {
        let mut b = crate::fsio::raw::encode(v);
        b.push(0);
        Arg::bytes(name, b)
    }

    /// A zeroed buffer of `size` bytes for the kernel to fill.
    pub fn buffer(name: &str, size: usize) -> Self {
        Arg::bytes(name, vec![0; size])
    }

    /// A value of native bytes.
    pub fn bytes(name: &str, value: Vec<u8>) -> Self {
        Arg {
            name: name.to_string(),
            value: Some(value),
            label: None,
        }
    }

    /// A `struct mac` pointing to `text` (NUL-terminated).
    pub fn mac_label(name: &str, text: Vec<u8>) -> Self {
        Arg {
            name: name.to_string(),
            value: Some(vec![0; MAC_STRUCT_SIZE]),
            label: Some(text),
        }
    }
}

#[derive(Debug)]
struct Slot {
    name: CString,
    value: Option<Vec<u8>>,
    len: usize,
    /// What a `struct mac` value points to.
    label: Option<Vec<u8>>,
}

/// The name/value pairs of one jail_set(2) or jail_get(2) call, owning
/// every buffer the iovecs point into.
#[derive(Debug, Default)]
pub struct Request {
    slots: Vec<Slot>,
}

impl Request {
    /// An empty request.
    pub fn new() -> Self {
        Self::default()
    }

    /// Append a pair.
    pub fn push(&mut self, arg: Arg) -> Result<()> {
        let name = CString::new(arg.name.as_str()).map_err(|_| {
            Error::BadData(format!("{}: parameter name contains a NUL byte", arg.name))
        })?;
        let len = arg.value.as_ref().map_or(0, Vec::len);
        self.slots.push(Slot {
            name,
            value: arg.value,
            len,
            label: arg.label,
        });
        Ok(())
    }

    /// Append the `errmsg` pair: a buffer where the kernel writes why a
    /// call failed.
    pub fn push_errmsg(&mut self) {
        self.slots.push(Slot {
            name: c"errmsg".to_owned(),
            value: Some(vec![0; ERRMSG_LEN]),
            len: ERRMSG_LEN,
            label: None,
        });
    }

    /// The iovecs of the call: for each pair, the NUL-terminated name
    /// (length with the NUL) and the value buffer (or NULL, length 0). They
    /// point into this request, so it must neither move its buffers nor be
    /// dropped while the kernel uses them; [`Request::record_lens`] takes
    /// the lengths the kernel wrote back.
    pub fn iovecs(&mut self) -> Vec<libc::iovec> {
        let mut iov = Vec::with_capacity(self.slots.len() * 2);
        for s in &mut self.slots {
            if let (Some(label), Some(v)) = (&s.label, &mut s.value) {
                // struct mac: m_buflen, then m_string (an address the
                // kernel reads from; the label stays owned by this slot).
                let w = size_of::<usize>();
                v[..w].copy_from_slice(&label.len().to_ne_bytes());
                v[w..2 * w].copy_from_slice(&(label.as_ptr() as usize).to_ne_bytes());
            }
            iov.push(libc::iovec {
                iov_base: s.name.as_ptr().cast_mut().cast(),
                iov_len: s.name.as_bytes_with_nul().len(),
            });
            iov.push(match &mut s.value {
                Some(v) => libc::iovec {
                    iov_base: v.as_mut_ptr().cast(),
                    iov_len: s.len,
                },
                None => libc::iovec {
                    iov_base: std::ptr::null_mut(),
                    iov_len: 0,
                },
            });
        }
        iov
    }

    /// Take the value lengths the kernel wrote back into `iov` (the
    /// iovecs of [`Request::iovecs`]).
    pub fn record_lens(&mut self, iov: &[libc::iovec]) {
        for (slot, pair) in self.slots.iter_mut().zip(iov.chunks_exact(2)) {
            slot.len = pair[1].iov_len;
        }
    }

    /// The length the kernel reported for `name`'s value (for a NULL
    /// value: the size it needs).
    pub fn reported_len(&self, name: &str) -> Option<usize> {
        self.slot(name).map(|s| s.len)
    }

    /// The bytes of `name`'s value the kernel filled in; `None` for a
    /// missing pair or a NULL value.
    pub fn value(&self, name: &str) -> Option<&[u8]> {
        let s = self.slot(name)?;
        let v = s.value.as_deref()?;
        Some(&v[..s.len.min(v.len())])
    }

    /// The kernel's message in the `errmsg` buffer, if it wrote one.
    pub fn errmsg(&self) -> Option<String> {
        let s = self.slot("errmsg")?;
        let text = c_text(s.value.as_deref()?);
        (!text.is_empty()).then_some(text)
    }

    fn slot(&self, name: &str) -> Option<&Slot> {
        self.slots
            .iter()
            .find(|s| s.name.as_bytes() == name.as_bytes())
    }
}

/// What identifies the jail a jail_get(2) call is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GetKey {
    /// The first jail with a jid above this one (0: the first jail).
    LastJid(c_int),
    /// The jail with this jid.
    Jid(c_int),
    /// The jail with this name.
    Name(String),
}

impl GetKey {
    /// The parameter the key occupies (so it is not also asked for).
    fn param(&self) -> &str {
        match self {
            GetKey::LastJid(_) => "lastjid",
            GetKey::Jid(_) => "jid",
            GetKey::Name(_) => "name",
        }
    }

    fn arg(&self) -> Arg {
        match self {
            GetKey::LastJid(j) => Arg::int("lastjid", *j),
            GetKey::Jid(j) => Arg::int("jid", *j),
            GetKey::Name(n) => Arg::string("name", n),
        }
    }
}

/// The first jail_get of a fetch when `params` has arrays: the key, every
/// array with a NULL buffer (the kernel reports the size it needs), and
/// `errmsg`. `None` when there is no array to size.
pub fn sizing_request(key: &GetKey, params: &[ParamInfo]) -> Result<Option<Request>> {
    if !params.iter().any(|p| p.native.is_array()) {
        return Ok(None);
    }
    let mut req = Request::new();
    for p in params.iter().filter(|p| p.native.is_array()) {
        req.push(Arg::flag(p.name.to_string()))?;
    }
    req.push(key.arg())?;
    req.push_errmsg();
    Ok(Some(req))
}

/// The jail_get that fetches every parameter of `params` for the jail of
/// `key` in one call: the key, a zeroed buffer per parameter (arrays sized
/// from `sizing`, the answered [`sizing_request`], plus slop), and `errmsg`.
pub fn fetch_request(
    key: &GetKey,
    params: &[ParamInfo],
    sizing: Option<&Request>,
) -> Result<Request> {
    let mut req = Request::new();
    req.push(key.arg())?;
    // A MAC label is read with a struct naming the policies to report
    // (mac.conf's list), which jkit does not read: it is left out.
    for p in params
        .iter()
        .filter(|p| p.name != key.param() && p.native != Native::MacLabel)
    {
        let reported = sizing.and_then(|s| s.reported_len(&p.name)).unwrap_or(0);
        req.push(Arg::buffer(&p.name, p.get_size(reported)))?;
    }
    req.push_errmsg();
    Ok(req)
}

/// The jail a successful [`fetch_request`] describes (`jid` is what
/// jail_get returned).
pub fn jail_of(req: &Request, params: &[ParamInfo], jid: c_int) -> Result<Jail> {
    // The kernel's parameters are unique by name: appended, not searched.
    let mut out = Params::with_capacity(params.len());
    for p in params {
        if p.name == "jid" {
            out.push_new("jid", Value::Int(i64::from(jid)));
        } else if let Some(bytes) = req.value(&p.name) {
            out.push_new(p.name.clone(), p.decode(bytes)?);
        }
    }
    let name = out
        .str("name")
        .map_or_else(|| jid.to_string(), str::to_string);
    let state = if out.flag("dying") {
        State::Dying
    } else {
        State::Running
    };
    Ok(Jail {
        name,
        jid: Some(i64::from(jid)),
        state,
        params: out,
    })
}

/// The jail_set(JAIL_CREATE) request for the definition `def`: `name`, then
/// every kernel parameter of `def` that may be set (pseudo-parameters and
/// read-only ones left out), booleans as `name`/`noname`; `persist` when
/// the definition has it or `persist_anyway` (a jail that must outlive its
/// creation until its command has run); then `errmsg`. `info` gives a
/// parameter's native type.
pub fn create_request(
    def: &Jail,
    info: impl Fn(&str) -> Result<Option<ParamInfo>>,
    persist_anyway: bool,
) -> Result<Request> {
    let mut req = Request::new();
    req.push(Arg::string("name", &def.name))?;
    // An anonymous jail is named by the jid it asks for, which the kernel
    // allows a numeric name only with.
    let anonymous = crate::model::name::anonymous_jid(&def.name)
        .filter(|_| def.params.get("jid").is_none())
        .and_then(|jid| c_int::try_from(jid).ok());
    if let Some(jid) = anonymous {
        req.push(Arg::int("jid", jid))?;
    }
    for (name, value) in def.params.iter() {
        if matches!(name, "name" | "persist")
            || param::spec(name).is_some_and(|s| s.access == Access::Pseudo)
        {
            continue;
        }
        let p = info(name)?.ok_or_else(|| Error::BadData(format!("unknown parameter: {name}")))?;
        if p.access != Access::ReadOnly {
            req.push(p.encode(value)?)?;
        }
    }
    match def.params.get("persist") {
        _ if persist_anyway => req.push(Arg::flag("persist".into()))?,
        Some(Value::Bool(true)) => req.push(Arg::flag("persist".into()))?,
        Some(Value::Bool(false)) => req.push(Arg::flag("nopersist".into()))?,
        _ => {}
    }
    req.push_errmsg();
    Ok(req)
}

/// The jail_set(JAIL_UPDATE) request that clears `persist` of jail `jid`.
pub fn nopersist_request(jid: c_int) -> Result<Request> {
    let mut req = Request::new();
    req.push(Arg::int("jid", jid))?;
    req.push(Arg::flag("nopersist".into()))?;
    req.push_errmsg();
    Ok(req)
}

/// The jail_set(JAIL_UPDATE) request that sets `changes` on jail `jid`
/// (`jail -m`); `info` gives a parameter's native type.
pub fn update_request(
    jid: c_int,
    changes: &Params,
    info: impl Fn(&str) -> Result<Option<ParamInfo>>,
) -> Result<Request> {
    let mut req = Request::new();
    req.push(Arg::int("jid", jid))?;
    for (name, value) in changes.iter() {
        let p = info(name)?.ok_or_else(|| Error::BadData(format!("unknown parameter: {name}")))?;
        req.push(p.encode(value)?)?;
    }
    req.push_errmsg();
    Ok(req)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fmt(kind: u32, fmt: &str) -> OidFormat {
        OidFormat {
            kind,
            fmt: fmt.into(),
        }
    }

    fn oidfmt_bytes(kind: u32, f: &str) -> Vec<u8> {
        let mut b = kind.to_ne_bytes().to_vec();
        b.extend_from_slice(f.as_bytes());
        b.push(0);
        b
    }

    const RW: u32 = 0x8000_0000 | CTLFLAG_WR;
    const RDTUN: u32 = 0x8000_0000 | CTLFLAG_TUN;
    const RD: u32 = 0x8000_0000;

    fn info(name: &str, native: Native) -> ParamInfo {
        ParamInfo {
            name: name.to_string().into(),
            native,
            access: Access::ReadWrite,
        }
    }

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn sysctl_metadata_gives_types_and_access() {
        let f = OidFormat::parse(&oidfmt_bytes(CTLTYPE_INT | RW, "B")).unwrap();
        assert_eq!(f, fmt(CTLTYPE_INT | RW, "B"));
        let p = ParamInfo::from_sysctl("persist", &f, None).unwrap();
        assert_eq!((p.native, p.access), (Native::Bool, Access::ReadWrite));
        let p =
            ParamInfo::from_sysctl("vnet", &fmt(CTLTYPE_INT | RDTUN, "E,jailsys"), None).unwrap();
        assert_eq!((p.native, p.access), (Native::JailSys, Access::CreateOnly));
        let p = ParamInfo::from_sysctl("dying", &fmt(CTLTYPE_INT | RD, "B"), None).unwrap();
        assert_eq!((p.native, p.access), (Native::Bool, Access::ReadOnly));
        let p = ParamInfo::from_sysctl("securelevel", &fmt(CTLTYPE_INT | RW, "I"), None).unwrap();
        assert_eq!(p.native, Native::Int);
        let p =
            ParamInfo::from_sysctl("host.hostid", &fmt(CTLTYPE_ULONG | RW, "LU"), None).unwrap();
        assert_eq!(
            (p.native, p.native.size()),
            (Native::ULong, size_of::<c_ulong>())
        );
        let p = ParamInfo::from_sysctl("ip4.addr", &fmt(CTLTYPE_STRUCT | RW, "S,in_addr,a"), None)
            .unwrap();
        assert_eq!(p.native, Native::InAddr);
        let p = ParamInfo::from_sysctl("ip6.addr", &fmt(CTLTYPE_STRUCT | RW, "S,in6_addr,a"), None)
            .unwrap();
        assert_eq!(p.native, Native::In6Addr);
        let f = fmt(CTLTYPE_STRING | RDTUN, "A");
        assert!(f.is_string());
        let p = ParamInfo::from_sysctl("path", &f, Some(b"1024\0")).unwrap();
        assert_eq!(
            (p.native, p.access),
            (Native::Str { max: 1024 }, Access::CreateOnly)
        );
        assert_eq!(
            ParamInfo::from_sysctl("path", &f, None),
            None,
            "a string needs its length"
        );
        assert_eq!(
            ParamInfo::from_sysctl("x", &fmt(CTLTYPE_STRUCT | RW, "S,label"), None),
            None
        );
        assert_eq!(
            ParamInfo::from_sysctl("x", &fmt(CTLTYPE_INT | RW, "I,a"), None),
            None
        );
        assert_eq!(
            ParamInfo::from_sysctl("x", &fmt(CTLTYPE_STRUCT | RW, "S,in_addr"), None),
            None
        );
        assert_eq!(
            ParamInfo::from_sysctl("x", &fmt(1, "N"), None),
            None,
            "nodes are not parameters"
        );
        assert_eq!(OidFormat::parse(&[1, 2]), None);
    }

    #[test]
    fn sysctl_names_become_parameter_names() {
        assert_eq!(
            param_name_of_sysctl("security.jail.param.persist"),
            Some("persist")
        );
        assert_eq!(
            param_name_of_sysctl("security.jail.param.allow.mount."),
            Some("allow.mount")
        );
        assert_eq!(
            param_name_of_sysctl("security.jail.param.host."),
            Some("host")
        );
        assert_eq!(param_name_of_sysctl("security.jail.param."), None);
        assert_eq!(param_name_of_sysctl("security.jail.paramx"), None);
        assert_eq!(param_name_of_sysctl("kern.hostname"), None);
        let mut b = Vec::new();
        for i in [0, 2, 7, 1234] {
            b.extend_from_slice(&c_int::to_ne_bytes(i));
        }
        assert_eq!(oid_of_bytes(&b), vec![0, 2, 7, 1234]);
    }

    #[test]
    fn fallback_table_types_every_kernel_parameter() {
        let all = fallback_params();
        assert_eq!(all.len(), param::KERNEL_PARAMS.len());
        let get = |n: &str| all.iter().find(|p| p.name == n).unwrap();
        assert_eq!(get("persist").native, Native::Bool);
        assert_eq!(get("ip4").native, Native::JailSys);
        assert_eq!(get("ip4.addr").native, Native::InAddr);
        assert_eq!(get("host.hostid").native, Native::ULong);
        assert_eq!(get("path").native, Native::Str { max: 1024 });
        assert_eq!(get("meta").native, Native::Str { max: 4096 });
        assert_eq!(get("dying").access, Access::ReadOnly);
        assert_eq!(get("jid").access, Access::CreateOnly);
        assert!(ParamInfo::from_spec(param::spec("mount.devfs").unwrap()).is_none());
        let names: Vec<&str> = all.iter().map(|p| p.name.as_ref()).collect();
        let table: Vec<&str> = param::KERNEL_PARAMS.iter().map(|s| s.name).collect();
        assert_eq!(names, table, "sorted as jls all");
    }

    #[test]
    fn sort_puts_top_level_names_first() {
        let mut v = vec![
            info("allow.mount", Native::Bool),
            info("persist", Native::Bool),
            info("allow.chflags", Native::Bool),
            info("host", Native::JailSys),
        ];
        sort_params(&mut v);
        let names: Vec<&str> = v.iter().map(|p| p.name.as_ref()).collect();
        assert_eq!(names, ["host", "persist", "allow.chflags", "allow.mount"]);
    }

    #[test]
    fn booleans_set_by_name_with_a_null_value() {
        let p = info("persist", Native::Bool);
        assert_eq!(
            p.encode(&Value::Bool(true)).unwrap(),
            Arg::flag("persist".into())
        );
        assert_eq!(
            p.encode(&Value::Bool(false)).unwrap(),
            Arg::flag("nopersist".into())
        );
        let p = info("allow.mount.devfs", Native::Bool);
        assert_eq!(
            p.encode(&Value::Bool(false)).unwrap(),
            Arg::flag("allow.mount.nodevfs".into())
        );
        assert_eq!(
            p.encode(&Value::Int(1)).unwrap(),
            Arg::flag("allow.mount.devfs".into())
        );
        assert!(p.encode(&Value::Str("yes".into())).is_err());
        assert_eq!(p.decode(&1i32.to_ne_bytes()).unwrap(), Value::Bool(true));
        assert_eq!(p.decode(&0i32.to_ne_bytes()).unwrap(), Value::Bool(false));
        assert!(p.decode(&[1]).is_err(), "an int is 4 bytes");
    }

    #[test]
    fn jailsys_is_a_native_int() {
        let p = info("ip4", Native::JailSys);
        let a = p.encode(&Value::Sys(JailSys::Inherit)).unwrap();
        assert_eq!(a, Arg::bytes("ip4", 2i32.to_ne_bytes().to_vec()));
        let a = p.encode(&Value::Sys(JailSys::Disable)).unwrap();
        assert_eq!(a.value, Some(0i32.to_ne_bytes().to_vec()));
        assert_eq!(
            p.encode(&Value::Int(1)).unwrap().value,
            Some(1i32.to_ne_bytes().to_vec())
        );
        assert!(p.encode(&Value::Int(3)).is_err());
        assert_eq!(
            p.decode(&1i32.to_ne_bytes()).unwrap(),
            Value::Sys(JailSys::New)
        );
        assert_eq!(p.decode(&7i32.to_ne_bytes()).unwrap(), Value::Int(7));
    }

    #[test]
    fn integers_take_their_native_width() {
        let p = info("securelevel", Native::Int);
        assert_eq!(
            p.encode(&Value::Int(-1)).unwrap().value,
            Some((-1i32).to_ne_bytes().to_vec())
        );
        let e = p.encode(&Value::Int(1 << 40)).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!("securelevel: value out of range: {}", 1i64 << 40)
        );
        assert_eq!(p.decode(&3i32.to_ne_bytes()).unwrap(), Value::Int(3));
        let p = info("host.hostid", Native::ULong);
        let a = p.encode(&Value::Int(0xdead_beef)).unwrap();
        assert_eq!(
            a.value,
            Some((0xdead_beef as c_ulong).to_ne_bytes().to_vec())
        );
        assert!(p.encode(&Value::Int(-1)).is_err());
        assert_eq!(
            p.decode(&(7 as c_ulong).to_ne_bytes()).unwrap(),
            Value::Int(7)
        );
        let p = info("x", Native::UInt64);
        assert_eq!(
            p.decode(&u64::MAX.to_ne_bytes()).unwrap(),
            Value::Str(u64::MAX.to_string())
        );
        let p = info("x", Native::Int64);
        assert_eq!(p.decode(&(-5i64).to_ne_bytes()).unwrap(), Value::Int(-5));
        assert_eq!(
            p.encode(&Value::Int(-5)).unwrap().value,
            Some((-5i64).to_ne_bytes().to_vec())
        );
        let p = info("x", Native::UInt);
        assert!(p.encode(&Value::Int(-5)).is_err());
        assert_eq!(
            p.decode(&u32::MAX.to_ne_bytes()).unwrap(),
            Value::Int(i64::from(u32::MAX))
        );
        let p = info("x", Native::Long);
        assert_eq!(
            p.decode(&(-2 as c_long).to_ne_bytes()).unwrap(),
            Value::Int(-2)
        );
    }

    #[test]
    fn strings_are_nul_terminated_and_bounded() {
        let p = info("host.hostname", Native::Str { max: 8 });
        let a = p.encode(&Value::Str("web".into())).unwrap();
        assert_eq!(a.value, Some(b"web\0".to_vec()));
        let e = p.encode(&Value::Str("12345678".into())).unwrap_err();
        assert_eq!(
            e.to_string(),
            "host.hostname: value too long (at most 7 bytes)"
        );
        assert!(p.encode(&Value::Str("a\0b".into())).is_err());
        let e = p.encode(&Value::Int(3)).unwrap_err();
        assert_eq!(e.to_string(), "host.hostname: not a string value: 3");
        assert_eq!(
            p.decode(b"web\0\0\0\0\0").unwrap(),
            Value::Str("web".into())
        );
        assert_eq!(p.decode(b"").unwrap(), Value::Str(String::new()));
    }

    #[test]
    fn address_arrays_are_flat_network_order() {
        let p = info("ip4.addr", Native::InAddr);
        let v = Value::Ip4(s(&["em0|10.213.0.1/24", "10.213.0.2"]));
        let a = p.encode(&v).unwrap();
        assert_eq!(a.value, Some(vec![10, 213, 0, 1, 10, 213, 0, 2]));
        assert_eq!(
            p.encode(&Value::Ip4(Vec::new())).unwrap().value,
            Some(Vec::new())
        );
        assert_eq!(
            p.decode(&[10, 213, 0, 1, 127, 0, 0, 1]).unwrap(),
            Value::Ip4(s(&["10.213.0.1", "127.0.0.1"]))
        );
        assert_eq!(p.decode(&[]).unwrap(), Value::Ip4(Vec::new()));
        assert!(p.decode(&[1, 2, 3]).is_err());
        let e = p.encode(&Value::Ip4(s(&["nope"]))).unwrap_err();
        assert_eq!(e.to_string(), "ip4.addr: not an IPv4 address: nope");
        let p = info("ip6.addr", Native::In6Addr);
        let a = p.encode(&Value::Ip6(s(&["fd00:213::5"]))).unwrap();
        let mut want = vec![0xfd, 0, 0x02, 0x13];
        want.extend([0; 11]);
        want.push(5);
        assert_eq!(a.value, Some(want.clone()));
        assert_eq!(p.decode(&want).unwrap(), Value::Ip6(s(&["fd00:213::5"])));
    }

    #[test]
    fn a_mac_label_is_a_struct_mac_pointing_to_its_text() {
        let p = info("mac.label", Native::MacLabel);
        let mut req = Request::new();
        req.push(p.encode(&Value::Str("biba/high".into())).unwrap())
            .unwrap();
        let iov = req.iovecs();
        assert_eq!(iov[1].iov_len, MAC_STRUCT_SIZE);
        let w = size_of::<usize>();
        let st = req.value("mac.label").unwrap();
        let buflen = usize::from_ne_bytes(st[..w].try_into().unwrap());
        let addr = usize::from_ne_bytes(st[w..2 * w].try_into().unwrap());
        assert_eq!(buflen, b"biba/high\0".len());
        assert_eq!(addr, req.slots[0].label.as_ref().unwrap().as_ptr() as usize);
        assert_eq!(req.slots[0].label.as_deref(), Some(&b"biba/high\0"[..]));
        assert!(p.encode(&Value::Int(1)).is_err());
        assert!(p.encode(&Value::Str("x".repeat(8192))).is_err());
        let from_kernel = ParamInfo::from_sysctl(
            "mac.label",
            &OidFormat {
                kind: CTLFLAG_WR | CTLTYPE_STRUCT,
                fmt: "S,mac".into(),
            },
            None,
        )
        .unwrap();
        assert_eq!(from_kernel.native, Native::MacLabel);
        assert_eq!(
            static_info("mac.label").unwrap().unwrap().native,
            Native::MacLabel
        );
        let fetch = fetch_request(&GetKey::Jid(3), &[from_kernel], None).unwrap();
        assert_eq!(fetch.value("mac.label"), None, "not fetched");
    }

    #[test]
    fn ipv6_text_matches_inet_ntop() {
        let t = |a: &str| ntop6(a.parse().unwrap());
        assert_eq!(t("::1"), "::1");
        assert_eq!(t("::"), "::");
        assert_eq!(t("::ffff:10.0.0.1"), "::ffff:10.0.0.1");
        assert_eq!(t("::10.0.0.1"), "::10.0.0.1");
        assert_eq!(t("::102"), "::102");
        assert_eq!(t("fd00:0:0:0:0:0:0:1"), "fd00::1");
        assert_eq!(t("2001:db8:0:1:1:1:1:1"), "2001:db8:0:1:1:1:1:1");
    }

    #[test]
    fn iovecs_pair_names_and_values() {
        let mut req = Request::new();
        req.push(Arg::flag("persist".into())).unwrap();
        req.push(Arg::int("jid", 7)).unwrap();
        req.push(Arg::string("name", "web")).unwrap();
        req.push_errmsg();
        let iov = req.iovecs();
        assert_eq!(iov.len(), 8);
        let lens: Vec<usize> = iov.iter().map(|i| i.iov_len).collect();
        assert_eq!(lens, [8, 0, 4, 4, 5, 4, 7, ERRMSG_LEN]);
        assert!(iov[1].iov_base.is_null(), "a boolean's value is NULL");
        assert!(
            iov.iter()
                .enumerate()
                .all(|(i, v)| i == 1 || !v.iov_base.is_null())
        );
        assert_eq!(
            iov[2].iov_base.cast_const(),
            req.slots[1].name.as_ptr().cast()
        );
        assert_eq!(
            iov[3].iov_base.cast_const(),
            req.slots[1].value.as_ref().unwrap().as_ptr().cast()
        );
        assert_eq!(req.value("jid"), Some(&7i32.to_ne_bytes()[..]));
        assert_eq!(req.value("name"), Some(&b"web\0"[..]));
        assert_eq!(req.value("persist"), None);
        assert!(Request::new().push(Arg::flag("a\0b".into())).is_err());
    }

    #[test]
    fn lengths_written_back_by_the_kernel_are_kept() {
        let mut req = Request::new();
        req.push(Arg::flag("ip4.addr".into())).unwrap();
        req.push(Arg::buffer("host.hostname", 16)).unwrap();
        let mut iov = req.iovecs();
        iov[1].iov_len = 12;
        iov[3].iov_len = 4;
        req.record_lens(&iov);
        assert_eq!(req.reported_len("ip4.addr"), Some(12));
        assert_eq!(req.value("host.hostname").map(<[u8]>::len), Some(4));
        assert_eq!(req.reported_len("ip6.addr"), None);
    }

    #[test]
    fn errmsg_is_the_text_up_to_the_nul() {
        let mut req = Request::new();
        req.push_errmsg();
        assert_eq!(req.errmsg(), None, "an untouched buffer is no message");
        let msg = b"jail \"web\" not found";
        let buf = req.slots[0].value.as_mut().unwrap();
        buf[..msg.len()].copy_from_slice(msg);
        assert_eq!(req.errmsg().as_deref(), Some("jail \"web\" not found"));
        assert_eq!(c_text(b"no jail after 3\0garbage"), "no jail after 3");
    }

    fn params() -> Vec<ParamInfo> {
        vec![
            info("jid", Native::Int),
            info("name", Native::Str { max: 256 }),
            info("dying", Native::Bool),
            info("ip4.addr", Native::InAddr),
            info("host.hostname", Native::Str { max: 256 }),
        ]
    }

    #[test]
    fn a_fetch_first_sizes_the_arrays() {
        let key = GetKey::LastJid(3);
        let mut sizing = sizing_request(&key, &params()).unwrap().unwrap();
        let iov = sizing.iovecs();
        assert_eq!(iov.len(), 6, "ip4.addr, lastjid, errmsg");
        assert!(iov[1].iov_base.is_null() && iov[1].iov_len == 0);
        assert_eq!(sizing.value("lastjid"), Some(&3i32.to_ne_bytes()[..]));
        let mut answered = iov.clone();
        answered[1].iov_len = 8;
        sizing.record_lens(&answered);

        let mut fetch = fetch_request(&key, &params(), Some(&sizing)).unwrap();
        let lens: Vec<(usize, usize)> = fetch
            .iovecs()
            .chunks(2)
            .map(|p| (p[0].iov_len, p[1].iov_len))
            .collect();
        assert_eq!(
            lens,
            [
                (8, 4),
                (4, 4),
                (5, 256),
                (6, 4),
                (9, 8 + 4 * ARRAY_SLOP),
                (14, 256),
                (7, ERRMSG_LEN)
            ]
        );
        assert!(
            sizing_request(&key, &params()[..3]).unwrap().is_none(),
            "no arrays, no sizing"
        );
    }

    #[test]
    fn the_key_is_not_also_an_output() {
        let fetch = fetch_request(&GetKey::Name("web".into()), &params(), None).unwrap();
        assert_eq!(fetch.value("name"), Some(&b"web\0"[..]));
        assert_eq!(
            fetch.value("jid"),
            Some(&[0u8; 4][..]),
            "zero jid: the name is the key"
        );
        assert_eq!(
            fetch.value("ip4.addr").map(<[u8]>::len),
            Some(4 * ARRAY_SLOP)
        );
        let fetch = fetch_request(&GetKey::Jid(9), &params(), None).unwrap();
        assert_eq!(fetch.value("jid"), Some(&9i32.to_ne_bytes()[..]));
        assert_eq!(
            fetch
                .slots
                .iter()
                .filter(|s| s.name.as_bytes() == b"jid")
                .count(),
            1
        );
    }

    #[test]
    fn an_answer_becomes_a_jail() {
        let mut req = Request::new();
        req.push(Arg::int("lastjid", 0)).unwrap();
        req.push(Arg::int("jid", 0)).unwrap();
        req.push(Arg::string("name", "web")).unwrap();
        req.push(Arg::int("dying", 0)).unwrap();
        req.push(Arg::bytes("ip4.addr", vec![10, 213, 0, 1, 0, 0, 0, 0]))
            .unwrap();
        req.push(Arg::string("host.hostname", "web.example"))
            .unwrap();
        let mut iov = req.iovecs();
        iov[9].iov_len = 4;
        req.record_lens(&iov);
        let jail = jail_of(&req, &params(), 4).unwrap();
        assert_eq!(jail.name, "web");
        assert_eq!(jail.jid, Some(4));
        assert_eq!(jail.state, State::Running);
        assert_eq!(jail.params.int("jid"), Some(4));
        assert_eq!(jail.ip4(), s(&["10.213.0.1"]));
        assert_eq!(jail.hostname(), "web.example");
        let names: Vec<&str> = jail.params.iter().map(|(n, _)| n).collect();
        assert_eq!(names, ["jid", "name", "dying", "ip4.addr", "host.hostname"]);

        let mut req = Request::new();
        req.push(Arg::string("name", "old")).unwrap();
        req.push(Arg::int("dying", 1)).unwrap();
        assert_eq!(jail_of(&req, &params(), 2).unwrap().state, State::Dying);
    }

    fn def(params: &[&str]) -> Jail {
        crate::model::test_jail(params)
    }

    fn static_info(name: &str) -> Result<Option<ParamInfo>> {
        Ok(param::spec(name).and_then(ParamInfo::from_spec))
    }

    fn names_of(req: &mut Request) -> Vec<String> {
        let iov = req.iovecs();
        req.slots
            .iter()
            .zip(iov.chunks(2))
            .map(|(s, p)| {
                let n = s.name.to_string_lossy().into_owned();
                if p[1].iov_base.is_null() {
                    format!("{n}=NULL")
                } else {
                    n
                }
            })
            .collect()
    }

    #[test]
    fn create_passes_kernel_parameters_only() {
        let d = def(&[
            "path=/j/web",
            "host.hostname=web",
            "ip4.addr=lo1|10.213.0.9/24",
            "allow.noraw_sockets",
            "mount.devfs",
            "exec.start=/bin/sh /etc/rc",
            "command=/bin/true",
            "children.cur=3",
            "vnet=new",
        ]);
        let mut req = create_request(&d, static_info, true).unwrap();
        assert_eq!(
            names_of(&mut req),
            [
                "name",
                "path",
                "host.hostname",
                "ip4.addr",
                "allow.noraw_sockets=NULL",
                "vnet",
                "persist=NULL",
                "errmsg"
            ]
        );
        assert_eq!(req.value("name"), Some(&b"web\0"[..]));
        assert_eq!(req.value("ip4.addr"), Some(&[10, 213, 0, 9][..]));
        assert_eq!(req.value("vnet"), Some(&1i32.to_ne_bytes()[..]));

        let mut req = create_request(&def(&["path=/j", "nopersist"]), static_info, false).unwrap();
        assert_eq!(
            names_of(&mut req),
            ["name", "path", "nopersist=NULL", "errmsg"]
        );
        let mut req = create_request(&def(&["path=/j", "persist"]), static_info, false).unwrap();
        assert_eq!(
            names_of(&mut req),
            ["name", "path", "persist=NULL", "errmsg"]
        );
        let mut req = create_request(&def(&["path=/j"]), static_info, false).unwrap();
        assert_eq!(names_of(&mut req), ["name", "path", "errmsg"]);
        // Anonymous: named by the jid it asks for.
        let anonymous = Jail {
            name: "3".into(),
            ..def(&["path=/j"])
        };
        let mut req = create_request(&anonymous, static_info, false).unwrap();
        assert_eq!(names_of(&mut req), ["name", "jid", "path", "errmsg"]);
        assert_eq!(req.value("name"), Some(&b"3\0"[..]));
        assert_eq!(req.value("jid"), Some(&3i32.to_ne_bytes()[..]));
        // Bytes that are not UTF-8 go to the kernel as they were read.
        let mut req = create_request(&def(&["path=/j/caf\u{10ffe9}"]), static_info, false).unwrap();
        assert_eq!(req.value("path"), Some(&b"/j/caf\xe9\0"[..]));
        assert_eq!(names_of(&mut req), ["name", "path", "errmsg"]);

        let e = create_request(&def(&["path=/j", "allow.vmm"]), |_| Ok(None), false).unwrap_err();
        assert_eq!(e.to_string(), "unknown parameter: path");
        let mut req = nopersist_request(5).unwrap();
        assert_eq!(names_of(&mut req), ["jid", "nopersist=NULL", "errmsg"]);
    }
}
