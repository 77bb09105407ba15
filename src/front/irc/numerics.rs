//! Writing IRC lines: the one function that assembles a line (so every line
//! ends in `CR LF` and fits [`MAX_LINE`]), the numerics this server sends, and
//! the replies addressed to one client.
//!
//! Rule kept: no line leaves longer than [`MAX_LINE`] bytes (tags aside). A
//! trailing parameter that would not fit is cut at a character boundary;
//! message text, which must not be cut, is split before it gets here (see
//! [`super::translate`](mod@super::translate)).

use super::parse::MAX_LINE;

pub const RPL_WELCOME: &str = "001";
pub const RPL_YOURHOST: &str = "002";
pub const RPL_CREATED: &str = "003";
pub const RPL_MYINFO: &str = "004";
pub const RPL_ISUPPORT: &str = "005";
pub const RPL_UMODEIS: &str = "221";
pub const RPL_LUSERCLIENT: &str = "251";
pub const RPL_LUSERCHANNELS: &str = "254";
pub const RPL_LUSERME: &str = "255";
pub const RPL_AWAY: &str = "301";
pub const RPL_USERHOST: &str = "302";
pub const RPL_ISON: &str = "303";
pub const RPL_UNAWAY: &str = "305";
pub const RPL_NOWAWAY: &str = "306";
pub const RPL_WHOISUSER: &str = "311";
pub const RPL_WHOISSERVER: &str = "312";
pub const RPL_ENDOFWHO: &str = "315";
pub const RPL_ENDOFWHOIS: &str = "318";
pub const RPL_WHOISCHANNELS: &str = "319";
pub const RPL_LISTSTART: &str = "321";
pub const RPL_LIST: &str = "322";
pub const RPL_LISTEND: &str = "323";
pub const RPL_CHANNELMODEIS: &str = "324";
pub const RPL_NOTOPIC: &str = "331";
pub const RPL_ENDOFINVITELIST: &str = "347";
pub const RPL_ENDOFEXCEPTLIST: &str = "349";
pub const RPL_WHOREPLY: &str = "352";
pub const RPL_NAMREPLY: &str = "353";
pub const RPL_ENDOFNAMES: &str = "366";
pub const RPL_ENDOFBANLIST: &str = "368";
pub const RPL_ENDOFWHOWAS: &str = "369";
pub const ERR_NOSUCHNICK: &str = "401";
pub const ERR_NOSUCHCHANNEL: &str = "403";
pub const ERR_CANNOTSENDTOCHAN: &str = "404";
pub const ERR_TOOMANYCHANNELS: &str = "405";
pub const ERR_WASNOSUCHNICK: &str = "406";
pub const ERR_NOORIGIN: &str = "409";
pub const ERR_INVALIDCAPCMD: &str = "410";
pub const ERR_NORECIPIENT: &str = "411";
pub const ERR_NOTEXTTOSEND: &str = "412";
pub const ERR_TOOMANYMATCHES: &str = "416";
pub const ERR_INPUTTOOLONG: &str = "417";
pub const ERR_UNKNOWNCOMMAND: &str = "421";
pub const ERR_NOMOTD: &str = "422";
pub const ERR_NONICKNAMEGIVEN: &str = "431";
pub const ERR_ERRONEUSNICKNAME: &str = "432";
pub const ERR_NICKNAMEINUSE: &str = "433";
pub const ERR_NOTONCHANNEL: &str = "442";
pub const ERR_NONICKCHANGE: &str = "447";
pub const ERR_NOTREGISTERED: &str = "451";
pub const ERR_NEEDMOREPARAMS: &str = "461";
pub const ERR_ALREADYREGISTERED: &str = "462";
pub const ERR_PASSWDMISMATCH: &str = "464";
pub const ERR_CHANOPRIVSNEEDED: &str = "482";
pub const ERR_UMODEUNKNOWNFLAG: &str = "501";
pub const ERR_USERSDONTMATCH: &str = "502";

/// Appends `[:prefix ]command middle… [:trailing]` and `CR LF` to `out`,
/// cutting `trailing` so the line fits [`MAX_LINE`]. Middle parameters are
/// names and tokens this server checked: no spaces, never empty.
pub fn put(
    out: &mut Vec<u8>,
    prefix: Option<&str>,
    command: &str,
    middle: &[&str],
    trailing: Option<&str>,
) {
    let start = out.len();
    if let Some(prefix) = prefix {
        out.push(b':');
        out.extend_from_slice(prefix.as_bytes());
        out.push(b' ');
    }
    out.extend_from_slice(command.as_bytes());
    for param in middle {
        out.push(b' ');
        out.extend_from_slice(param.as_bytes());
    }
    if let Some(trailing) = trailing {
        out.extend_from_slice(b" :");
        let room = MAX_LINE.saturating_sub(out.len() - start + 2);
        out.extend_from_slice(cut(trailing, room).as_bytes());
    }
    out.extend_from_slice(b"\r\n");
}

/// The longest start of `text` of at most `max` bytes that ends on a
/// character boundary.
pub fn cut(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// Replies from the server to one client, `me` being its nick (`*` before
/// it has one).
#[derive(Clone, Copy)]
pub struct Replies<'a> {
    pub server: &'a str,
    pub me: &'a str,
}

impl Replies<'_> {
    /// `:server <code> <me> middle… :text`.
    pub fn numeric(&self, out: &mut Vec<u8>, code: &str, middle: &[&str], text: &str) {
        self.with_me(out, code, middle, Some(text));
    }

    /// `:server <code> <me> middle…`, no text (004, 221, 324).
    pub fn bare(&self, out: &mut Vec<u8>, code: &str, middle: &[&str]) {
        self.with_me(out, code, middle, None);
    }

    fn with_me(&self, out: &mut Vec<u8>, code: &str, middle: &[&str], text: Option<&str>) {
        let mut params = Vec::with_capacity(middle.len() + 1);
        params.push(self.me);
        params.extend_from_slice(middle);
        put(out, Some(self.server), code, &params, text);
    }

    /// `:server NOTICE <me> :text`: what has no numeric of its own.
    pub fn notice(&self, out: &mut Vec<u8>, text: &str) {
        put(out, Some(self.server), "NOTICE", &[self.me], Some(text));
    }

    /// `:server PONG server :token`.
    pub fn pong(&self, out: &mut Vec<u8>, token: &str) {
        put(out, Some(self.server), "PONG", &[self.server], Some(token));
    }

    /// `ERR_NEEDMOREPARAMS` for `command`.
    pub fn need_more_params(&self, out: &mut Vec<u8>, command: &str) {
        self.numeric(out, ERR_NEEDMOREPARAMS, &[command], "Not enough parameters");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_end_in_crlf_and_never_exceed_the_limit() {
        let replies = Replies {
            server: "irc.test",
            me: "alice",
        };
        let mut out = Vec::new();
        replies.numeric(&mut out, ERR_NOSUCHNICK, &["bob"], "No such nick/channel");
        assert_eq!(out, b":irc.test 401 alice bob :No such nick/channel\r\n");
        out.clear();
        replies.bare(&mut out, RPL_UMODEIS, &["+i"]);
        assert_eq!(out, b":irc.test 221 alice +i\r\n");
        out.clear();
        let long = "é".repeat(600);
        replies.notice(&mut out, &long);
        assert!(out.len() <= MAX_LINE, "{}", out.len());
        assert!(out.ends_with(b"\r\n"));
        assert!(
            std::str::from_utf8(&out).is_ok(),
            "cut on a character boundary"
        );
    }
}
