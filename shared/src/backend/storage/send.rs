//! btrfs send streams (version 1), rewritten command by command as they
//! pass: the owners its chowns give and the root id of the file
//! capabilities it sets move between id ranges, the parent snapshot it
//! names can be another one, and every path is checked to stay within
//! the subvolume. The format (btrfs-progs' send.h): the header
//! `btrfs-stream\0` and a little-endian u32 version; then commands, each
//! a u32 length of its attributes, a u16 command, a u32 crc32c of the
//! command with that field zero, and attributes, each a u16 type, a u16
//! length and its data.

use std::io::{self, Read, Write};

use crate::error::{Error, Result};

const MAGIC: &[u8; 13] = b"btrfs-stream\0";
const VERSION: u32 = 1;
/// The largest command accepted (btrfs writes at most 64 KiB and a header).
const MAX_COMMAND: usize = 1 << 20;
const HEADER: usize = 10;

/// Commands (send.h).
const C_SUBVOL: u16 = 1;
const C_SNAPSHOT: u16 = 2;
const C_SET_XATTR: u16 = 13;
const C_CLONE: u16 = 16;
const C_CHOWN: u16 = 19;
const C_END: u16 = 21;
/// The last command of version 1.
const C_MAX_V1: u16 = 22;

/// Attributes (send.h).
const A_UUID: u16 = 1;
const A_CTRANSID: u16 = 2;
const A_UID: u16 = 6;
const A_GID: u16 = 7;
const A_XATTR_NAME: u16 = 13;
const A_XATTR_DATA: u16 = 14;
const A_PATH: u16 = 15;
const A_PATH_TO: u16 = 16;
const A_PATH_LINK: u16 = 17;
const A_CLONE_UUID: u16 = 20;
const A_CLONE_CTRANSID: u16 = 21;
const A_CLONE_PATH: u16 = 22;

/// A snapshot as a stream names it: its UUID and change transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Subvol {
    pub uuid: [u8; 16],
    pub ctransid: u64,
}

/// The id an owner of a stream gets, given the owner and the file's path:
/// `None` leaves the chown out, an error refuses the stream.
pub type MapId<'a> = dyn Fn(u64, &[u8]) -> Result<Option<u64>> + 'a;

/// What the rewrite does to a stream.
pub struct Rewrite<'a> {
    /// The id an owner of the stream gets.
    pub id: &'a MapId<'a>,
    /// The value a `security.capability` of the stream gets.
    pub caps: &'a dyn Fn(&[u8]) -> Vec<u8>,
    /// The parent the stream must name, and the one it names instead.
    pub parent: Option<(Subvol, Subvol)>,
    /// The name the received snapshot must have.
    pub name: Option<&'a str>,
}

impl std::fmt::Debug for Rewrite<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Rewrite")
            .field("parent", &self.parent)
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// What a stream said of itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    /// The snapshot it makes.
    pub snapshot: Subvol,
    /// Its parent (`None` for a full stream).
    pub parent: Option<Subvol>,
}

fn bad(why: impl std::fmt::Display) -> Error {
    Error::BadData(format!("the btrfs send stream {why}"))
}

/// The CRC-32C table (Castagnoli, reflected).
const CRC_TABLE: [u32; 256] = {
    let mut t = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 {
                (c >> 1) ^ 0x82F6_3B78
            } else {
                c >> 1
            };
            k += 1;
        }
        t[i] = c;
        i += 1;
    }
    t
};

/// crc32c as btrfs computes a command's: from 0, without the final
/// inversion.
pub fn crc32c(mut crc: u32, data: &[u8]) -> u32 {
    for &b in data {
        crc = CRC_TABLE[((crc ^ u32::from(b)) & 0xFF) as usize] ^ (crc >> 8);
    }
    crc
}

/// Read exactly `buf` from `input`: `false` at a clean end before the
/// first byte, an error for one in the middle.
fn read_full(input: &mut dyn Read, buf: &mut [u8]) -> Result<bool> {
    let mut got = 0;
    while got < buf.len() {
        match input.read(&mut buf[got..]) {
            Ok(0) if got == 0 => return Ok(false),
            Ok(0) => return Err(bad("is truncated")),
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(Error::os("read the btrfs send stream", e)),
        }
    }
    Ok(true)
}

fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

fn u64_of(data: &[u8]) -> Option<u64> {
    Some(u64::from_le_bytes(data.try_into().ok()?))
}

/// Whether `path` stays within the subvolume: relative, no `..`.
fn inside(path: &[u8]) -> bool {
    !path.starts_with(b"/") && path.split(|&c| c == b'/').all(|c| c != b"..")
}

/// Rewrite the stream `input` to `output` as `how` says, up to and
/// including its end command.
pub fn rewrite(input: &mut dyn Read, output: &mut dyn Write, how: &Rewrite) -> Result<Summary> {
    let out = |e: io::Error| Error::os("write the btrfs send stream", e);
    let mut head = [0u8; 17];
    if !read_full(input, &mut head)? || &head[..13] != MAGIC {
        return Err(bad("is not one (no btrfs-stream header)"));
    }
    let version = u32::from_le_bytes([head[13], head[14], head[15], head[16]]);
    if version != VERSION {
        return Err(bad(format_args!(
            "is of version {version}: jkit reads version {VERSION}"
        )));
    }
    output.write_all(&head).map_err(out)?;
    let mut summary: Option<Summary> = None;
    let mut cmd = Vec::with_capacity(HEADER + (64 << 10));
    loop {
        cmd.clear();
        cmd.extend_from_slice(&[0; HEADER]);
        if !read_full(input, &mut cmd)? {
            return Err(bad("is truncated"));
        }
        let len = u32::from_le_bytes([cmd[0], cmd[1], cmd[2], cmd[3]]) as usize;
        let kind = u16_at(&cmd, 4);
        let crc = u32::from_le_bytes([cmd[6], cmd[7], cmd[8], cmd[9]]);
        if len > MAX_COMMAND {
            return Err(bad(format_args!("has a command of {len} bytes")));
        }
        cmd.resize(HEADER + len, 0);
        if !read_full(input, &mut cmd[HEADER..])? && len > 0 {
            return Err(bad("is truncated"));
        }
        cmd[6..10].fill(0);
        if crc32c(0, &cmd) != crc {
            return Err(bad("is damaged (a command's checksum is wrong)"));
        }
        if kind == 0 || kind > C_MAX_V1 {
            return Err(bad(format_args!(
                "has a command jkit does not know ({kind})"
            )));
        }
        if summary.is_none() && kind != C_SUBVOL && kind != C_SNAPSHOT {
            return Err(bad("does not begin with a subvolume"));
        }
        if rewrite_command(&mut cmd, kind, how, &mut summary)? {
            let len = (cmd.len() - HEADER) as u32;
            cmd[0..4].copy_from_slice(&len.to_le_bytes());
            cmd[6..10].fill(0);
            let crc = crc32c(0, &cmd);
            cmd[6..10].copy_from_slice(&crc.to_le_bytes());
            output.write_all(&cmd).map_err(out)?;
        }
        if kind == C_END {
            return summary.ok_or_else(|| bad("is empty"));
        }
    }
}

/// The attributes of the command `cmd`: (type, start of data, length).
fn attributes(cmd: &[u8]) -> Result<Vec<(u16, usize, usize)>> {
    let mut at = HEADER;
    let mut found = Vec::new();
    while at < cmd.len() {
        if at + 4 > cmd.len() {
            return Err(bad("has a cut attribute"));
        }
        let (kind, len) = (u16_at(cmd, at), usize::from(u16_at(cmd, at + 2)));
        if at + 4 + len > cmd.len() {
            return Err(bad("has a cut attribute"));
        }
        found.push((kind, at + 4, len));
        at += 4 + len;
    }
    Ok(found)
}

/// Rewrite one command in place; `false` when it is to be left out.
fn rewrite_command(
    cmd: &mut Vec<u8>,
    kind: u16,
    how: &Rewrite,
    summary: &mut Option<Summary>,
) -> Result<bool> {
    let attrs = attributes(cmd)?;
    let get = |t: u16| {
        attrs
            .iter()
            .find(|a| a.0 == t)
            .map(|&(_, s, l)| cmd[s..s + l].to_vec())
    };
    let path = get(A_PATH).unwrap_or_default();
    for &(t, s, l) in &attrs {
        let checked =
            matches!(t, A_PATH | A_PATH_TO | A_CLONE_PATH) || (t == A_PATH_LINK && kind != 8);
        if checked && !inside(&cmd[s..s + l]) {
            return Err(bad(format_args!(
                "names a path outside the subvolume ({})",
                String::from_utf8_lossy(&cmd[s..s + l])
            )));
        }
    }
    match kind {
        C_SUBVOL | C_SNAPSHOT => {
            if summary.is_some() {
                return Err(bad("holds more than one subvolume"));
            }
            let subvol = |u: u16, c: u16| -> Result<Subvol> {
                let uuid = get(u).and_then(|v| v.try_into().ok());
                let ctransid = get(c).and_then(|v| u64_of(&v));
                match (uuid, ctransid) {
                    (Some(uuid), Some(ctransid)) => Ok(Subvol { uuid, ctransid }),
                    _ => Err(bad("names a subvolume without its UUID")),
                }
            };
            let snapshot = subvol(A_UUID, A_CTRANSID)?;
            let parent = match kind {
                C_SNAPSHOT => Some(subvol(A_CLONE_UUID, A_CLONE_CTRANSID)?),
                _ => None,
            };
            if let Some(name) = how.name {
                if path != name.as_bytes() {
                    return Err(bad(format_args!(
                        "makes the snapshot {}, not {name}",
                        String::from_utf8_lossy(&path)
                    )));
                }
            }
            // By UUID: a stream names its parent's change transaction,
            // which a received snapshot's generation need not be.
            if let (Some(found), Some((wanted, _))) = (parent, how.parent) {
                if found.uuid != wanted.uuid {
                    return Err(bad("is not based on the snapshot named"));
                }
            }
            *summary = Some(Summary { snapshot, parent });
            rename_parent(cmd, &attrs, how);
        }
        C_CLONE => rename_parent(cmd, &attrs, how),
        C_CHOWN => {
            for t in [A_UID, A_GID] {
                let Some(&(_, s, l)) = attrs.iter().find(|a| a.0 == t) else {
                    return Err(bad("has a chown without its ids"));
                };
                let id =
                    u64_of(&cmd[s..s + l]).ok_or_else(|| bad("has a chown without its ids"))?;
                match (how.id)(id, &path)? {
                    Some(new) => cmd[s..s + l].copy_from_slice(&new.to_le_bytes()),
                    None => return Ok(false),
                }
            }
        }
        C_SET_XATTR if get(A_XATTR_NAME).as_deref() == Some(b"security.capability") => {
            let Some(&(_, s, l)) = attrs.iter().find(|a| a.0 == A_XATTR_DATA) else {
                return Ok(true);
            };
            let value = (how.caps)(&cmd[s..s + l]);
            let len = u16::try_from(value.len()).map_err(|_| bad("has a long capability"))?;
            let mut rest = cmd.split_off(s + l);
            cmd.truncate(s);
            cmd[s - 2..s].copy_from_slice(&len.to_le_bytes());
            cmd.extend_from_slice(&value);
            cmd.append(&mut rest);
        }
        _ => {}
    }
    Ok(true)
}

/// Name the rewrite's other parent where the command names the parent.
fn rename_parent(cmd: &mut [u8], attrs: &[(u16, usize, usize)], how: &Rewrite) {
    let Some((from, to)) = how.parent else {
        return;
    };
    let uuid = attrs.iter().find(|a| a.0 == A_CLONE_UUID);
    let ctransid = attrs.iter().find(|a| a.0 == A_CLONE_CTRANSID);
    if let (Some(&(_, us, 16)), Some(&(_, cs, 8))) = (uuid, ctransid) {
        if cmd[us..us + 16] == from.uuid {
            cmd[us..us + 16].copy_from_slice(&to.uuid);
            cmd[cs..cs + 8].copy_from_slice(&to.ctransid.to_le_bytes());
        }
    }
}

/// A UUID as btrfs prints it.
pub fn uuid_text(uuid: &[u8; 16]) -> String {
    let h: String = uuid.iter().map(|b| format!("{b:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

/// The UUID `text` (as btrfs prints it).
pub fn parse_uuid(text: &str) -> Option<[u8; 16]> {
    let hex: String = text.chars().filter(|c| *c != '-').collect();
    if hex.len() != 32 {
        return None;
    }
    let mut out = [0u8; 16];
    for (i, b) in out.iter_mut().enumerate() {
        *b = u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attr(t: u16, data: &[u8]) -> Vec<u8> {
        let mut a = t.to_le_bytes().to_vec();
        a.extend_from_slice(&(data.len() as u16).to_le_bytes());
        a.extend_from_slice(data);
        a
    }

    fn command(kind: u16, attrs: &[Vec<u8>]) -> Vec<u8> {
        let body: Vec<u8> = attrs.concat();
        let mut c = (body.len() as u32).to_le_bytes().to_vec();
        c.extend_from_slice(&kind.to_le_bytes());
        c.extend_from_slice(&[0; 4]);
        c.extend_from_slice(&body);
        let crc = crc32c(0, &c);
        c[6..10].copy_from_slice(&crc.to_le_bytes());
        c
    }

    fn stream(version: u32, commands: &[Vec<u8>]) -> Vec<u8> {
        let mut s = MAGIC.to_vec();
        s.extend_from_slice(&version.to_le_bytes());
        s.extend(commands.concat());
        s
    }

    const A: [u8; 16] = [1; 16];
    const P: [u8; 16] = [2; 16];
    const Q: [u8; 16] = [3; 16];

    fn sample() -> Vec<u8> {
        stream(
            1,
            &[
                command(
                    C_SNAPSHOT,
                    &[
                        attr(A_PATH, b"t2"),
                        attr(A_UUID, &A),
                        attr(A_CTRANSID, &9u64.to_le_bytes()),
                        attr(A_CLONE_UUID, &P),
                        attr(A_CLONE_CTRANSID, &7u64.to_le_bytes()),
                    ],
                ),
                command(3, &[attr(A_PATH, b"root/new"), attr(3, &[5; 8])]),
                command(
                    C_CHOWN,
                    &[
                        attr(A_PATH, b"root/new"),
                        attr(A_UID, &(65_536u64 + 1000).to_le_bytes()),
                        attr(A_GID, &65_536u64.to_le_bytes()),
                    ],
                ),
                command(C_END, &[]),
            ],
        )
    }

    fn ids(base: u64) -> impl Fn(u64, &[u8]) -> Result<Option<u64>> {
        move |id, _| match id.checked_sub(base) {
            Some(n) if n < 65_536 => Ok(Some(n)),
            _ => Err(Error::BadData(format!("id {id} outside"))),
        }
    }

    fn run(input: &[u8], how: &Rewrite) -> Result<(Vec<u8>, Summary)> {
        let mut out = Vec::new();
        let s = rewrite(&mut &input[..], &mut out, how)?;
        Ok((out, s))
    }

    #[test]
    fn crc32c_is_btrfs_s() {
        // The standard CRC-32C check value, with its inversions applied.
        assert_eq!(!crc32c(!0, b"123456789"), 0xE306_9283);
    }

    #[test]
    fn chowns_move_between_ranges_and_checksums_follow() {
        let id = ids(65_536);
        let how = Rewrite {
            id: &id,
            caps: &|v| v.to_vec(),
            parent: None,
            name: Some("t2"),
        };
        let (out, summary) = run(&sample(), &how).unwrap();
        assert_eq!(
            summary.snapshot,
            Subvol {
                uuid: A,
                ctransid: 9
            }
        );
        assert_eq!(
            summary.parent,
            Some(Subvol {
                uuid: P,
                ctransid: 7
            })
        );
        // The chown carries the jail's own ids, its checksum made again
        // (the plain rewrite reading it back checks every checksum).
        let pass = |id, _: &[u8]| Ok(Some(id));
        let back = Rewrite {
            id: &pass,
            caps: &|v| v.to_vec(),
            parent: None,
            name: None,
        };
        run(&out, &back).unwrap();
        let chown = command(
            C_CHOWN,
            &[
                attr(A_PATH, b"root/new"),
                attr(A_UID, &1000u64.to_le_bytes()),
                attr(A_GID, &0u64.to_le_bytes()),
            ],
        );
        assert!(out.windows(chown.len()).any(|w| w == chown), "{out:?}");
    }

    #[test]
    fn the_parent_is_renamed_and_checked() {
        let pass = |id, _: &[u8]| Ok(Some(id));
        let mine = Subvol {
            uuid: Q,
            ctransid: 3,
        };
        let how = Rewrite {
            id: &pass,
            caps: &|v| v.to_vec(),
            parent: Some((
                Subvol {
                    uuid: P,
                    ctransid: 7,
                },
                mine,
            )),
            name: Some("t2"),
        };
        let (out, _) = run(&sample(), &how).unwrap();
        let plain = Rewrite {
            id: &pass,
            caps: &|v| v.to_vec(),
            parent: None,
            name: None,
        };
        assert_eq!(run(&out, &plain).unwrap().1.parent, Some(mine));
        // Another lineage.
        let other = Rewrite {
            parent: Some((
                Subvol {
                    uuid: A,
                    ctransid: 7,
                },
                mine,
            )),
            ..how
        };
        let err = run(&sample(), &other).unwrap_err().to_string();
        assert!(err.contains("not based on"), "{err}");
        let named = Rewrite {
            name: Some("t3"),
            ..plain
        };
        assert!(run(&sample(), &named).is_err());
    }

    #[test]
    fn bad_streams_are_refused() {
        let pass = |id, _: &[u8]| Ok(Some(id));
        let how = Rewrite {
            id: &pass,
            caps: &|v| v.to_vec(),
            parent: None,
            name: None,
        };
        let s = sample();
        let msg = |r: Result<(Vec<u8>, Summary)>| r.unwrap_err().to_string();
        assert!(msg(run(&stream(2, &[]), &how)).contains("version 2"));
        assert!(msg(run(b"not a stream at all", &how)).contains("not one"));
        for cut in [20, s.len() / 2, s.len() - 1] {
            assert!(msg(run(&s[..cut], &how)).contains("truncated"), "{cut}");
        }
        let mut flipped = s.clone();
        let at = flipped.len() / 2;
        flipped[at] ^= 1;
        assert!(msg(run(&flipped, &how)).contains("checksum"));
        // Ids outside the range: one line, from the id mapping.
        let id = ids(5 * 65_536);
        let strict = Rewrite { id: &id, ..how };
        assert!(msg(run(&s, &strict)).contains("outside"));
        // A path leaving the subvolume.
        let evil = stream(
            1,
            &[
                command(
                    C_SUBVOL,
                    &[
                        attr(A_PATH, b"t"),
                        attr(A_UUID, &A),
                        attr(A_CTRANSID, &1u64.to_le_bytes()),
                    ],
                ),
                command(3, &[attr(A_PATH, b"root/../../etc/x")]),
                command(C_END, &[]),
            ],
        );
        assert!(msg(run(&evil, &how)).contains("outside the subvolume"));
    }

    #[test]
    fn capabilities_are_rewritten_with_their_length() {
        let pass = |id, _: &[u8]| Ok(Some(id));
        let how = Rewrite {
            id: &pass,
            caps: &|v| v[..20].to_vec(),
            parent: None,
            name: None,
        };
        let s = stream(
            1,
            &[
                command(
                    C_SUBVOL,
                    &[
                        attr(A_PATH, b"t"),
                        attr(A_UUID, &A),
                        attr(A_CTRANSID, &1u64.to_le_bytes()),
                    ],
                ),
                command(
                    C_SET_XATTR,
                    &[
                        attr(A_PATH, b"root/ping"),
                        attr(A_XATTR_NAME, b"security.capability"),
                        attr(A_XATTR_DATA, &[9; 24]),
                    ],
                ),
                command(C_END, &[]),
            ],
        );
        let (out, _) = run(&s, &how).unwrap();
        let want = command(
            C_SET_XATTR,
            &[
                attr(A_PATH, b"root/ping"),
                attr(A_XATTR_NAME, b"security.capability"),
                attr(A_XATTR_DATA, &[9; 20]),
            ],
        );
        assert!(out.windows(want.len()).any(|w| w == want));
        assert_eq!(parse_uuid(&uuid_text(&[0xab; 16])), Some([0xab; 16]));
    }
}
