//! The answers an IRC client gets from the hub's state and the registry,
//! worded as numerics: `NAMES`, `WHO`, `WHOIS`, `LIST`, `ISON`,
//! `USERHOST`, `LUSERS` and the welcome burst.
//!
//! Rules kept: the hub is asked first and its lock released before the
//! registry is looked at; every list is bounded ([`MAX_MATCHES`] entries,
//! then `416`), so no answer can overflow a client's backlog; users of the
//! other fronts show as `name!name@chat` with their name as real name; `WHO`
//! of a nick or mask names channel `*`, `WHO #room` the room, and the flag is
//! `H`, or `G` when away. Nobody is a channel operator here, so no `@`.

use super::numerics::*;
use super::parse::MAX_LINE;
use super::registry::{Registry, IRC_HOST, OTHER_HOST};
use super::Settings;
use crate::hub::Hub;
use crate::protocol::{RoomName, Username, LOBBY, MAX_NAME_LEN};

/// The most entries one `WHO` or `LIST` answers with.
pub const MAX_MATCHES: usize = 1000;

/// What a query reads, and who it answers.
pub struct Here<'a> {
    pub hub: &'a Hub,
    pub registry: &'a Registry,
    pub replies: Replies<'a>,
}

/// A user as `WHO`, `WHOIS` and `USERHOST` show them.
struct Profile {
    nick: String,
    user: String,
    host: &'static str,
    realname: String,
    away: Option<String>,
    over_irc: bool,
}

impl Here<'_> {
    fn profile(&self, nick: &Username) -> Profile {
        match self.registry.get(nick.as_str()) {
            Some(entry) => Profile {
                nick: nick.to_string(),
                user: format!("~{}", entry.user),
                host: IRC_HOST,
                realname: entry.realname,
                away: entry.away,
                over_irc: true,
            },
            None => Profile {
                nick: nick.to_string(),
                user: nick.to_string(),
                host: OTHER_HOST,
                realname: nick.to_string(),
                away: None,
                over_irc: false,
            },
        }
    }

    /// `353`s for a room's members (as shown) and the `366` naming
    /// `channel` as the client gave it; only the `366` for a room nobody is
    /// in or a name that is no room.
    pub fn names(&self, channel: &str, out: &mut Vec<u8>) {
        let room = RoomName::parse(channel).ok();
        if let Some(Ok((shown, members))) = room.map(|room| self.hub.members(Some(&room))) {
            // `:server 353 me = #room :` and `CR LF` around the names.
            let overhead =
                self.replies.server.len() + self.replies.me.len() + shown.as_str().len() + 14;
            let mut line = String::new();
            for name in &members {
                if !line.is_empty() && overhead + line.len() + 1 + name.as_str().len() > MAX_LINE {
                    self.replies
                        .numeric(out, RPL_NAMREPLY, &["=", shown.as_str()], &line);
                    line.clear();
                }
                if !line.is_empty() {
                    line.push(' ');
                }
                line.push_str(name.as_str());
            }
            self.replies
                .numeric(out, RPL_NAMREPLY, &["=", shown.as_str()], &line);
        }
        self.replies
            .numeric(out, RPL_ENDOFNAMES, &[channel], "End of /NAMES list");
    }

    /// `352`s and `315` for `WHO <mask> [o]`: everybody for `*` (or
    /// nothing), a room's members for `#room`, else the nicks the glob mask
    /// matches; nobody for `o` (operators only), as there are none.
    pub fn who(&self, mask: Option<&str>, operators_only: bool, out: &mut Vec<u8>) {
        let mask = mask.filter(|mask| !mask.is_empty()).unwrap_or("*");
        let (channel, names) = if operators_only {
            (String::new(), Vec::new())
        } else if mask.starts_with('#') {
            match RoomName::parse(mask).map(|room| self.hub.members(Some(&room))) {
                Ok(Ok((shown, names))) => (shown.to_string(), names),
                _ => (String::new(), Vec::new()),
            }
        } else {
            let everybody = self
                .hub
                .members(None)
                .map(|(_, names)| names)
                .unwrap_or_default();
            let matching = everybody
                .into_iter()
                .filter(|name| mask == "0" || glob(mask.as_bytes(), name.as_str().as_bytes()))
                .collect();
            ("*".to_string(), matching)
        };
        for name in names.iter().take(MAX_MATCHES) {
            let who = self.profile(name);
            let flag = if who.away.is_some() { "G" } else { "H" };
            let middle = [
                channel.as_str(),
                &who.user,
                who.host,
                self.replies.server,
                &who.nick,
                flag,
            ];
            self.replies
                .numeric(out, RPL_WHOREPLY, &middle, &format!("0 {}", who.realname));
        }
        self.too_many(names.len(), mask, out);
        self.replies
            .numeric(out, RPL_ENDOFWHO, &[mask], "End of WHO list");
    }

    fn too_many(&self, found: usize, mask: &str, out: &mut Vec<u8>) {
        if found > MAX_MATCHES {
            let text = format!("Too many matches: only the first {MAX_MATCHES} are shown");
            self.replies
                .numeric(out, ERR_TOOMANYMATCHES, &[mask], &text);
        }
    }

    /// `WHOIS <nick>`: who, where, and whether away, then `318`.
    pub fn whois(&self, nick: &str, out: &mut Vec<u8>) {
        let Some((name, rooms)) = self.hub.user(nick) else {
            self.replies
                .numeric(out, ERR_NOSUCHNICK, &[nick], "No such nick/channel");
            self.replies
                .numeric(out, RPL_ENDOFWHOIS, &[nick], "End of /WHOIS list");
            return;
        };
        let who = self.profile(&name);
        let middle = [who.nick.as_str(), &who.user, who.host, "*"];
        self.replies
            .numeric(out, RPL_WHOISUSER, &middle, &who.realname);
        let channels: Vec<&str> = std::iter::once(LOBBY)
            .chain(rooms.iter().map(RoomName::as_str))
            .collect();
        // A line fits a dozen channels whatever their names.
        for some in channels.chunks(400 / (MAX_NAME_LEN + 2)) {
            self.replies
                .numeric(out, RPL_WHOISCHANNELS, &[&who.nick], &some.join(" "));
        }
        let via = if who.over_irc {
            "connected over IRC"
        } else {
            "connected over the line protocol or the web page"
        };
        self.replies
            .numeric(out, RPL_WHOISSERVER, &[&who.nick, self.replies.server], via);
        if let Some(away) = &who.away {
            self.replies.numeric(out, RPL_AWAY, &[&who.nick], away);
        }
        self.replies
            .numeric(out, RPL_ENDOFWHOIS, &[&who.nick], "End of /WHOIS list");
    }

    /// `322`s between `321` and `323`: every room with members (the lobby
    /// included), or those named in `filter` (`#a,#b`).
    pub fn list(&self, filter: Option<&str>, out: &mut Vec<u8>) {
        let wanted: Vec<RoomName> = filter
            .map(|names| {
                names
                    .split(',')
                    .filter_map(|name| RoomName::parse(name).ok())
                    .collect()
            })
            .unwrap_or_default();
        let rooms: Vec<(RoomName, usize)> = self
            .hub
            .room_list()
            .unwrap_or_default()
            .into_iter()
            .filter(|(room, _)| wanted.is_empty() || wanted.contains(room))
            .collect();
        self.replies
            .numeric(out, RPL_LISTSTART, &["Channel"], "Users  Name");
        for (room, members) in rooms.iter().take(MAX_MATCHES) {
            self.replies
                .numeric(out, RPL_LIST, &[room.as_str(), &members.to_string()], "");
        }
        self.too_many(rooms.len(), "LIST", out);
        self.replies.numeric(out, RPL_LISTEND, &[], "End of /LIST");
    }

    /// `303`: which of `nicks` are online, spelled as they registered.
    pub fn ison(&self, nicks: &[&str], out: &mut Vec<u8>) {
        let online: Vec<String> = nicks
            .iter()
            .flat_map(|some| some.split(' '))
            .filter_map(|nick| self.hub.user(nick).map(|(name, _)| name.to_string()))
            .collect();
        self.replies.numeric(out, RPL_ISON, &[], &online.join(" "));
    }

    /// `302`: `nick=+user@host` (`-` when away) for up to five nicks.
    pub fn userhost(&self, nicks: &[&str], out: &mut Vec<u8>) {
        let found: Vec<String> = nicks
            .iter()
            .take(5)
            .filter_map(|nick| self.hub.user(nick))
            .map(|(name, _)| {
                let who = self.profile(&name);
                let here = if who.away.is_some() { '-' } else { '+' };
                format!("{}={here}{}@{}", who.nick, who.user, who.host)
            })
            .collect();
        self.replies
            .numeric(out, RPL_USERHOST, &[], &found.join(" "));
    }

    /// How many users and rooms (the lobby counted) there are.
    pub fn census(&self) -> (usize, usize) {
        let rooms = self.hub.room_list().unwrap_or_default();
        let users = rooms
            .iter()
            .find(|(room, _)| room.is_lobby())
            .map_or(0, |(_, n)| *n);
        (users, rooms.len())
    }

    /// `251`, `254`, `255` for `users` users in `rooms` rooms.
    pub fn lusers(&self, (users, rooms): (usize, usize), out: &mut Vec<u8>) {
        let r = &self.replies;
        r.numeric(
            out,
            RPL_LUSERCLIENT,
            &[],
            &format!("There are {users} users and 0 invisible on 1 servers"),
        );
        r.numeric(
            out,
            RPL_LUSERCHANNELS,
            &[&rooms.to_string()],
            "channels formed",
        );
        r.numeric(
            out,
            RPL_LUSERME,
            &[],
            &format!("I have {users} clients and 0 servers"),
        );
    }

    /// 001–005, the `LUSERS` numerics and 422: what a client is greeted
    /// with, `mask` being its own `nick!user@host`.
    pub fn welcome(
        &self,
        settings: &Settings,
        created: &str,
        mask: &str,
        census: (usize, usize),
        out: &mut Vec<u8>,
    ) {
        let r = &self.replies;
        let server = r.server;
        let version = concat!("chat-", env!("CARGO_PKG_VERSION"));
        r.numeric(
            out,
            RPL_WELCOME,
            &[],
            &format!("Welcome to the {server} IRC network, {mask}"),
        );
        r.numeric(
            out,
            RPL_YOURHOST,
            &[],
            &format!("Your host is {server}, running version {version}"),
        );
        r.numeric(
            out,
            RPL_CREATED,
            &[],
            &format!("This server was created {created}"),
        );
        r.bare(out, RPL_MYINFO, &[server, version, "i", "n"]);
        let tokens = [
            "CASEMAPPING=ascii".to_string(),
            "CHANTYPES=#".to_string(),
            format!("NICKLEN={MAX_NAME_LEN}"),
            format!("CHANNELLEN={}", MAX_NAME_LEN + 1),
            format!("NETWORK={server}"),
            format!("CHANLIMIT=#:{}", settings.max_rooms_per_user + 1),
            "CHANMODES=,,,n".to_string(),
            format!("USERLEN={}", super::registration::USERLEN),
            format!("AWAYLEN={}", super::commands::AWAYLEN),
            "TARGMAX=NAMES:1,WHOIS:1,PRIVMSG:4,NOTICE:4,JOIN:,PART:".to_string(),
        ];
        let tokens: Vec<&str> = tokens.iter().map(String::as_str).collect();
        r.numeric(out, RPL_ISUPPORT, &tokens, "are supported by this server");
        self.lusers(census, out);
        r.numeric(out, ERR_NOMOTD, &[], "MOTD File is missing");
    }
}

/// Whether `name` matches the glob `mask` (`*` any run, `?` one byte),
/// ASCII case-insensitively; linear in practice, quadratic at worst.
pub fn glob(mask: &[u8], name: &[u8]) -> bool {
    let (mut m, mut n) = (0, 0);
    // Where the last `*` was, and the name position it now stands for.
    let mut star: Option<(usize, usize)> = None;
    while n < name.len() {
        match mask.get(m) {
            Some(b'*') => {
                star = Some((m, n));
                m += 1;
            }
            Some(&c) if c == b'?' || c.eq_ignore_ascii_case(&name[n]) => {
                m += 1;
                n += 1;
            }
            _ => match star {
                Some((star_m, star_n)) => {
                    m = star_m + 1;
                    n = star_n + 1;
                    star = Some((star_m, star_n + 1));
                }
                None => return false,
            },
        }
    }
    mask[m.min(mask.len())..].iter().all(|&c| c == b'*')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glob_masks() {
        for (mask, name, matches) in [
            ("*", "alice", true),
            ("ali*", "Alice", true),
            ("coolni*", "coolNick", true),
            ("coolnick", "coolNick", true),
            ("a?ice", "alice", true),
            ("*ice", "alice", true),
            ("*l*c*", "alice", true),
            ("b*", "alice", false),
            ("alice?", "alice", false),
            ("", "alice", false),
            ("**", "", true),
            ("a*b*c", "aXbYbZc", true),
            ("a*b*c", "aXbYbZ", false),
        ] {
            assert_eq!(
                glob(mask.as_bytes(), name.as_bytes()),
                matches,
                "{mask} ~ {name}"
            );
        }
        // The worst case stays fast.
        let name = "a".repeat(32);
        assert!(!glob(
            format!("{}b", "*a".repeat(200)).as_bytes(),
            name.as_bytes()
        ));
    }
}
