//! Where Redis is: a `redis://` URL, parsed by a pure function, and the
//! commands a new connection starts with. Its password is never shown: not
//! by `Display` (for logs), not by `Debug`.

use std::fmt;

use super::resp::Cmd;

/// Where Redis is: `redis://[[USER]:PASSWORD@]HOST[:PORT][/DB]`.
#[derive(Clone, PartialEq, Eq)]
pub struct Url {
    pub host: String,
    pub port: u16,
    pub db: u32,
    pub user: Option<String>,
    password: Option<String>,
}

impl Url {
    /// Parses a `redis://` URL. The port defaults to 6379 and the database
    /// to 0; the user name and password may be percent-encoded.
    pub fn parse(text: &str) -> Result<Url, String> {
        let rest = match text.split_once("://") {
            Some(("redis", rest)) => rest,
            Some(("rediss", _)) => return Err("TLS (rediss://) is not supported".into()),
            _ => return Err(format!("{text:?} is not a redis:// URL")),
        };
        if rest.contains(['?', '#']) {
            return Err("query parameters are not supported in the redis URL".into());
        }
        let (userinfo, rest) = match rest.rsplit_once('@') {
            Some((userinfo, rest)) => (Some(userinfo), rest),
            None => (None, rest),
        };
        let (hostport, db) = match rest.split_once('/') {
            Some((hostport, "")) => (hostport, 0),
            Some((hostport, db)) => match decimal::<u32>(db) {
                Some(db) => (hostport, db),
                None => return Err(format!("database {db:?} is not a number")),
            },
            None => (rest, 0),
        };
        let (host, port) = host_and_port(hostport)?;
        let (user, password) = match userinfo {
            None => (None, None),
            Some(userinfo) => {
                let Some((user, password)) = userinfo.split_once(':') else {
                    return Err("write the password as redis://:PASSWORD@HOST".into());
                };
                let user = (!user.is_empty())
                    .then(|| percent_decode(user))
                    .transpose()?;
                (user, Some(percent_decode(password)?))
            }
        };
        Ok(Url {
            host,
            port,
            db,
            user,
            password,
        })
    }

    /// The commands a new connection sends first: `AUTH` and `SELECT`, as
    /// needed, and `CLIENT SETNAME` (so `CLIENT LIST` says which is whose).
    pub(super) fn handshake(&self, name: &str) -> Vec<Cmd> {
        let mut cmds = Vec::new();
        if let Some(password) = &self.password {
            let auth = match &self.user {
                Some(user) => Cmd::new("AUTH").arg(user),
                None => Cmd::new("AUTH"),
            };
            cmds.push(auth.arg(password));
        }
        if self.db != 0 {
            cmds.push(Cmd::new("SELECT").arg(u64::from(self.db)));
        }
        if !name.is_empty() {
            cmds.push(Cmd::new("CLIENT").arg("SETNAME").arg(name));
        }
        cmds
    }
}

/// Digits only (Rust's own parsing would take a `+` too).
fn decimal<T: std::str::FromStr>(digits: &str) -> Option<T> {
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

fn host_and_port(hostport: &str) -> Result<(String, u16), String> {
    let (host, port) = if let Some(v6) = hostport.strip_prefix('[') {
        let (host, after) = v6
            .split_once(']')
            .ok_or("an IPv6 address needs its closing ]")?;
        match after {
            "" => (host, None),
            _ => match after.strip_prefix(':') {
                Some(port) => (host, Some(port)),
                None => return Err(format!("unexpected {after:?} after the address")),
            },
        }
    } else {
        match hostport.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (hostport, None),
        }
    };
    if host.is_empty() {
        return Err("the redis URL has no host".into());
    }
    let port = match port {
        None => 6379,
        Some(port) => match decimal::<u16>(port) {
            Some(port) if port > 0 => port,
            _ => return Err(format!("port {port:?} is not a port number")),
        },
    };
    Ok((host.to_string(), port))
}

/// `%XX` escapes decoded; anything else as written.
fn percent_decode(text: &str) -> Result<String, String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&byte) = bytes.get(i) {
        if byte == b'%' {
            let hex = bytes
                .get(i + 1..i + 3)
                .and_then(|hex| std::str::from_utf8(hex).ok())
                .and_then(|hex| u8::from_str_radix(hex, 16).ok())
                .ok_or("a % in the URL is not followed by two hex digits")?;
            out.push(hex);
            i += 3;
        } else {
            out.push(byte);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| "the URL's user or password is not UTF-8".to_string())
}

/// The address without the password, for logs.
impl fmt::Display for Url {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        write!(f, "redis://{host}:{}/{}", self.port, self.db)
    }
}

impl fmt::Debug for Url {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let secret = if self.password.is_some() {
            " (with password)"
        } else {
            ""
        };
        write!(f, "{self}{secret}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let url = Url::parse("redis://127.0.0.1:6380/2").unwrap();
        assert_eq!(
            (
                url.host.as_str(),
                url.port,
                url.db,
                &url.user,
                &url.password
            ),
            ("127.0.0.1", 6380, 2, &None, &None)
        );
        let url = Url::parse("redis://localhost").unwrap();
        assert_eq!(
            (url.host.as_str(), url.port, url.db),
            ("localhost", 6379, 0)
        );
        let url = Url::parse("redis://:s%40cr:et@redis.example:7000/").unwrap();
        assert_eq!(
            (url.host.as_str(), url.port, url.db),
            ("redis.example", 7000, 0)
        );
        assert_eq!(url.password.as_deref(), Some("s@cr:et"));
        assert_eq!(url.user, None);
        let url = Url::parse("redis://alice:pw@[::1]:7001/15").unwrap();
        assert_eq!((url.host.as_str(), url.port, url.db), ("::1", 7001, 15));
        assert_eq!(url.user.as_deref(), Some("alice"));
        let url = Url::parse("redis://[::1]").unwrap();
        assert_eq!((url.host.as_str(), url.port), ("::1", 6379));
        for bad in [
            "",
            "localhost:6379",
            "http://localhost",
            "rediss://localhost",
            "redis://",
            "redis://:6379",
            "redis://host:0",
            "redis://host:65536",
            "redis://host:port",
            "redis://host/db",
            "redis://host/-1",
            "redis://host/+1",
            "redis://host:+80",
            "redis://host?db=1",
            "redis://password@host",
            "redis://:bad%zzpassword@host",
            "redis://[::1",
            "redis://[::1]x",
        ] {
            assert!(Url::parse(bad).is_err(), "{bad:?} parsed");
        }
    }

    #[test]
    fn a_url_never_shows_its_password() {
        let url = Url::parse("redis://bob:hunter2@db.example:7000/3").unwrap();
        assert_eq!(url.to_string(), "redis://db.example:7000/3");
        assert_eq!(
            format!("{url:?}"),
            "redis://db.example:7000/3 (with password)"
        );
        let v6 = Url::parse("redis://[::1]:7000").unwrap();
        assert_eq!(v6.to_string(), "redis://[::1]:7000/0");
        let mut handshake = Vec::new();
        for cmd in url.handshake("node-1") {
            cmd.encode(&mut handshake);
        }
        let text = String::from_utf8(handshake).unwrap();
        assert!(text.starts_with("*3\r\n$4\r\nAUTH\r\n$3\r\nbob\r\n$7\r\nhunter2\r\n"));
        assert!(text.contains("SELECT\r\n$1\r\n3\r\n"));
        assert!(text.ends_with("SETNAME\r\n$6\r\nnode-1\r\n"));
    }
}
