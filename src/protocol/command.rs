//! What a client's line means: the command grammar of the line protocol.

/// One line from a client, understood. Arguments borrow from the line.
#[derive(Debug, PartialEq, Eq)]
pub enum Command<'a> {
    /// A blank line: ignored, but it still counts as activity.
    Empty,
    /// `LOGIN <name>`: the raw argument; validity and uniqueness are checked
    /// against the registry by the session.
    Login(&'a str),
    /// `MSG <text>`: the text may be empty, which the session refuses.
    Msg(&'a str),
    /// `DM <user> <text>`; `None` when the user or the text is missing.
    Dm(Option<(&'a str, &'a str)>),
    Who,
    /// `PING` or `PING <token>`.
    Ping(Option<&'a str>),
    Quit,
    Help,
    Unknown,
}

impl Command<'_> {
    /// Whether the command is refused with `ERR not-logged-in` before `LOGIN`.
    pub fn needs_login(&self) -> bool {
        matches!(self, Command::Msg(_) | Command::Dm(_) | Command::Who)
    }
}

/// Parses one line (without its `\n`) into a [`Command`].
pub fn parse(line: &str) -> Command<'_> {
    let line = line.trim();
    if line.is_empty() {
        return Command::Empty;
    }
    let (word, rest) = split_word(line);
    let is = |name: &str| word.eq_ignore_ascii_case(name);
    if is("LOGIN") {
        Command::Login(rest)
    } else if is("MSG") {
        Command::Msg(rest)
    } else if is("DM") {
        let (to, text) = split_word(rest);
        Command::Dm((!to.is_empty() && !text.is_empty()).then_some((to, text)))
    } else if is("WHO") {
        Command::Who
    } else if is("PING") {
        Command::Ping((!rest.is_empty()).then_some(rest))
    } else if is("QUIT") {
        Command::Quit
    } else if is("HELP") {
        Command::Help
    } else {
        Command::Unknown
    }
}

/// Splits off the first space-separated word; the rest has its leading
/// whitespace removed (the caller has already trimmed the end).
pub fn split_word(s: &str) -> (&str, &str) {
    match s.find(char::is_whitespace) {
        Some(i) => (&s[..i], s[i..].trim_start()),
        None => (s, ""),
    }
}

/// What `HELP` answers, one `INFO` line each.
pub const HELP_TEXT: &[&str] = &[
    "commands (one per line, the command word in any case):",
    "LOGIN <name>       take a name: 1-32 of A-Z a-z 0-9 _ . -",
    "MSG <text>         say something to everybody",
    "DM <user> <text>   say something to one user",
    "WHO                list who is online",
    "PING [token]       check the connection (answer: PONG [token])",
    "QUIT               leave",
];
