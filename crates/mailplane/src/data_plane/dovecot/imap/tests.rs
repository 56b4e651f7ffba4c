//! The IMAP client's tests: the parser against canned server bytes on an in-memory stream,
//! and a round trip through a real private Dovecot (sdbox and maildir) when it is installed
//! and the tests run as root.

use super::*;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader, DuplexStream};

/// A fake server: sends `greeting`, then for each command it reads (literals included,
/// answering `+` to synchronizing ones) sends the next canned answer. It returns the
/// commands it read.
async fn fake_server(
    stream: DuplexStream,
    greeting: &'static [u8],
    answers: Vec<&'static [u8]>,
) -> Vec<Vec<u8>> {
    let mut stream = BufReader::new(stream);
    stream.get_mut().write_all(greeting).await.unwrap();
    let mut commands = Vec::new();
    for answer in answers {
        let mut command = Vec::new();
        loop {
            let mut line = Vec::new();
            if stream.read_until(b'\n', &mut line).await.unwrap() == 0 {
                return commands;
            }
            command.extend_from_slice(&line);
            let text = &line[..line.len() - 2];
            match literal_size(text).unwrap() {
                Some(n) => {
                    if !text.ends_with(b"+}") {
                        stream.get_mut().write_all(b"+ go ahead\r\n").await.unwrap();
                    }
                    let mut literal = vec![0; n];
                    stream.read_exact(&mut literal).await.unwrap();
                    command.extend_from_slice(&literal);
                }
                None => break,
            }
        }
        commands.push(command);
        stream.get_mut().write_all(answer).await.unwrap();
    }
    commands
}

/// Starts a session against a fake server with the given greeting and answers (the first
/// answer is the LOGIN's).
async fn session(
    greeting: &'static [u8],
    answers: Vec<&'static [u8]>,
) -> (
    Result<ImapSession<DuplexStream>>,
    tokio::task::JoinHandle<Vec<Vec<u8>>>,
) {
    let (client, server) = tokio::io::duplex(1 << 16);
    let server = tokio::spawn(fake_server(server, greeting, answers));
    let session = ImapSession::start(
        client,
        "u@t.invalid*mailplane",
        "p\"w\\d",
        Duration::from_secs(5),
    )
    .await;
    (session, server)
}

const GREETING: &[u8] =
    b"* OK [CAPABILITY IMAP4rev1 LOGIN-REFERRALS ID ENABLE IDLE AUTH=PLAIN] Dovecot ready.\r\n";

#[tokio::test]
async fn login_quotes_and_fetch_reads_a_literal_with_crlf_and_paren_inside() {
    let (session, server) = session(
        GREETING,
        vec![
            b"m1 OK [CAPABILITY IMAP4rev1 UIDPLUS] Logged in\r\n",
            b"* 2 FETCH (FLAGS (\\Seen))\r\n* 1 FETCH (UID 7 BODY[] {20}\r\nab\r\n)\r\n* 3 FETCH\xe9\x00\r\n FLAGS (\\Seen))\r\nm2 OK Fetch completed.\r\n",
            b"m3 OK Fetch completed.\r\n",
            b"m4 OK Logout completed.\r\n",
        ],
    )
    .await;
    let mut session = session.unwrap();
    let body = session.fetch(7).await.unwrap();
    assert_eq!(
        body.as_deref(),
        Some(&b"ab\r\n)\r\n* 3 FETCH\xe9\x00\r\n"[..])
    );
    assert_eq!(session.fetch(8).await.unwrap(), None);
    session.logout().await;
    let commands = server.await.unwrap();
    assert_eq!(
        commands[0],
        b"m1 LOGIN \"u@t.invalid*mailplane\" \"p\\\"w\\\\d\"\r\n"
    );
    assert_eq!(commands[1], b"m2 UID FETCH 7 (BODY.PEEK[])\r\n");
    assert_eq!(commands[3], b"m4 LOGOUT\r\n");
}

#[tokio::test]
async fn list_decodes_quoted_literal_and_utf7_names_and_skips_noselect() {
    let (session, _server) = session(
        GREETING,
        vec![
            b"m1 OK Logged in\r\n",
            b"* LIST (\\HasNoChildren) \".\" INBOX\r\n\
              * LIST (\\HasChildren \\Noselect) \".\" \"Archive\"\r\n\
              * LIST (\\HasNoChildren) \".\" \"Archive.2024 \\\"q\\\"\"\r\n\
              * LIST (\\HasNoChildren) \".\" {8}\r\nA )\r\nb\"c\r\n\
              * LIST (\\NonExistent) \".\" gone\r\n\
              * LIST (\\HasNoChildren) NIL \"Entw&APw-rfe &- Co\"\r\n\
              m2 OK List completed.\r\n",
        ],
    )
    .await;
    let names = session.unwrap().list().await.unwrap();
    assert_eq!(
        names,
        [
            "INBOX",
            "Archive.2024 \"q\"",
            "A )\r\nb\"c",
            "Entwürfe & Co"
        ]
    );
}

#[tokio::test]
async fn examine_and_append_with_a_synchronizing_literal() {
    let (session, server) = session(
        GREETING,
        vec![
            b"m1 OK Logged in\r\n",
            b"* FLAGS (\\Answered \\Seen)\r\n* 3 EXISTS\r\n* 0 RECENT\r\n* OK [UIDVALIDITY 1700000001] UIDs valid\r\n* OK [UIDNEXT 4] Predicted next UID\r\nm2 OK [READ-ONLY] Examine completed.\r\n",
            b"m3 OK [APPENDUID 1700000001 4] Append completed.\r\n",
            b"m4 OK Append completed.\r\n",
        ],
    )
    .await;
    let mut session = session.unwrap();
    assert_eq!(
        session.examine("Entwürfe").await.unwrap(),
        (1_700_000_001, 3)
    );
    let date = time::macros::datetime!(2024-01-05 11:00:00 +01:00);
    assert_eq!(
        session.append("INBOX", b"a\r\n)\r\n", date).await.unwrap(),
        Some(4)
    );
    assert_eq!(session.append("INBOX", b"x", date).await.unwrap(), None);
    drop(session);
    let commands = server.await.unwrap();
    assert_eq!(commands[1], b"m2 EXAMINE \"Entw&APw-rfe\"\r\n");
    assert_eq!(
        commands[2],
        b"m3 APPEND \"INBOX\" () \"05-Jan-2024 10:00:00 +0000\" {6}\r\na\r\n)\r\n\r\n"
    );
}

#[tokio::test]
async fn append_uses_literal_plus_when_advertised() {
    let (session, server) = session(
        b"* OK [CAPABILITY IMAP4rev1 LITERAL+] ready\r\n",
        vec![b"m1 OK Logged in\r\n", b"m2 OK [APPENDUID 1 9] done\r\n"],
    )
    .await;
    let date = time::macros::datetime!(2023-02-01 12:34:56 UTC);
    let uid = session.unwrap().append("INBOX", b"hi", date).await.unwrap();
    assert_eq!(uid, Some(9));
    let commands = server.await.unwrap();
    assert_eq!(
        commands[1],
        b"m2 APPEND \"INBOX\" () \"01-Feb-2023 12:34:56 +0000\" {2+}\r\nhi\r\n"
    );
}

#[tokio::test]
async fn no_and_bad_answers_map_to_errors() {
    let (session, _server) = session(
        GREETING,
        vec![
            b"m1 OK Logged in\r\n",
            b"m2 NO [NONEXISTENT] Mailbox doesn't exist: Nope\r\n",
            b"m3 BAD Error in IMAP command UID: Invalid uidset\r\n",
            b"m4 NO [SERVERBUG] Internal error occurred.\r\n",
            b"m5 NO [TRYCREATE] Mailbox doesn't exist: Nope\r\n",
            b"* BYE Server shutting down.\r\n",
        ],
    )
    .await;
    let mut session = session.unwrap();
    assert!(matches!(
        session.examine("Nope").await,
        Err(Error::NotFound { kind: "folder", .. })
    ));
    assert!(matches!(
        session.fetch(1).await,
        Err(Error::Internal { .. })
    ));
    match session.list().await {
        Err(Error::Unavailable(m)) => assert!(m.contains("SERVERBUG"), "{m}"),
        other => panic!("{:?}", other.err()),
    }
    let date = OffsetDateTime::UNIX_EPOCH;
    assert!(matches!(
        session.append("Nope", b"x", date).await,
        Err(Error::NotFound { .. })
    ));
    match session.fetch(1).await {
        Err(Error::Unavailable(m)) => assert!(m.contains("shutting down"), "{m}"),
        other => panic!("{:?}", other.err()),
    }
}

#[tokio::test]
async fn a_refused_login_is_unavailable_without_the_password() {
    let (session, _server) = session(
        GREETING,
        vec![b"m1 NO [AUTHENTICATIONFAILED] Authentication failed.\r\n"],
    )
    .await;
    match session {
        Err(Error::Unavailable(m)) => {
            assert!(m.contains("master user"), "{m}");
            assert!(!m.contains("p\"w"), "{m}");
        }
        other => panic!("{:?}", other.err()),
    }
    let (session, _server) = session_with_bad_password().await;
    assert!(matches!(session, Err(Error::Invalid(_))));
}

/// A session whose password holds a line break, which must be refused before sending.
async fn session_with_bad_password() -> (Result<ImapSession<DuplexStream>>, DuplexStream) {
    let (client, server) = tokio::io::duplex(1024);
    let session =
        ImapSession::start(client, "u", "pw\r\nm9 DELETE INBOX", Duration::from_secs(1)).await;
    (session, server)
}

#[tokio::test]
async fn a_silent_server_times_out() {
    let (client, _server) = tokio::io::duplex(1024);
    let session = ImapSession::start(client, "u", "p", Duration::from_millis(50)).await;
    assert!(matches!(session, Err(Error::Unavailable(_))));
}

#[test]
fn names_round_trip_through_modified_utf7() {
    for name in ["INBOX", "a&b", "Entwürfe", "日本語", "x😀y", "&&", "é"] {
        let encoded = encode_mailbox_name(name);
        assert!(encoded.is_ascii());
        assert_eq!(decode_mailbox_name(encoded.as_bytes()).unwrap(), name);
    }
    assert_eq!(encode_mailbox_name("Entwürfe"), "Entw&APw-rfe");
    assert_eq!(encode_mailbox_name("日本語"), "&ZeVnLIqe-");
    assert!(mailbox_name("a\nb").is_err());
    assert!(astring("a\0b", "login").is_err());
}

#[test]
fn internal_dates_are_utc_with_two_digit_days() {
    let date = time::macros::datetime!(2024-03-01 00:30:00 +02:00);
    assert_eq!(internal_date(date).unwrap(), "29-Feb-2024 22:30:00 +0000");
}

// ---- Integration test against a real, private Dovecot. ----

/// A private Dovecot started with `dovecot -F`, stopped by its pid when dropped.
struct Dovecot {
    /// The master process.
    child: std::process::Child,
    /// The IMAP listener.
    imap: SocketAddr,
    /// The doveadm HTTP listener.
    http: SocketAddr,
    /// The instance's directory.
    dir: std::path::PathBuf,
}

impl Drop for Dovecot {
    fn drop(&mut self) {
        let pid = self.child.id().to_string();
        let _ = std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status();
        for _ in 0..100 {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A free TCP port on 127.0.0.1.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

const USER: &str = "mailbox-1@tenant-1.invalid";

/// Starts a private Dovecot under /tmp/imap-scratch-dovecot/`name` storing mail at
/// `mail_location`.
fn start_dovecot(name: &str, mail_location: &str) -> Dovecot {
    let dir = std::path::PathBuf::from("/tmp/imap-scratch-dovecot").join(name);
    let _ = std::fs::remove_dir_all(&dir);
    for sub in ["run", "state", "home"] {
        std::fs::create_dir_all(dir.join(sub)).unwrap();
    }
    let run = |args: &[&str]| {
        assert!(
            std::process::Command::new(args[0])
                .args(&args[1..])
                .status()
                .unwrap()
                .success()
        );
    };
    run(&[
        "chmod",
        "0755",
        "/tmp/imap-scratch-dovecot",
        dir.to_str().unwrap(),
    ]);
    run(&["chown", "mail:mail", dir.join("home").to_str().unwrap()]);
    let d = dir.display().to_string();
    std::fs::write(
        dir.join("users"),
        format!("{USER}:{{PLAIN}}userpw::::::userdb_mail_crypt_private_password=key-pw\n"),
    )
    .unwrap();
    std::fs::write(dir.join("masters"), "mailplane:{PLAIN}master\"pw\n").unwrap();
    let (imap, http) = (free_port(), free_port());
    let conf = format!(
        r#"base_dir = {d}/run
state_dir = {d}/state
log_path = {d}/dovecot.log
info_log_path = {d}/dovecot.log
listen = 127.0.0.1
protocols = imap
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
default_internal_user = dovecot
default_login_user = dovenull
mail_uid = mail
mail_gid = mail
first_valid_uid = 8
mail_home = {d}/home/%u
mail_location = {mail_location}
mail_attribute_dict = file:%h/dovecot-attributes
mail_plugins = $mail_plugins mail_crypt
plugin {{
  mail_crypt_curve = prime256v1
  mail_crypt_save_version = 2
  mail_crypt_require_encrypted_user_key = yes
}}
auth_master_user_separator = *
passdb {{
  driver = passwd-file
  args = {d}/masters
  master = yes
  result_success = continue
}}
passdb {{
  driver = passwd-file
  args = {d}/users
}}
userdb {{
  driver = passwd-file
  args = {d}/users
}}
doveadm_api_key = secretkey
service imap-login {{
  inet_listener imap {{
address = 127.0.0.1
port = {imap}
  }}
  inet_listener imaps {{
port = 0
  }}
}}
service doveadm {{
  inet_listener http {{
address = 127.0.0.1
port = {http}
  }}
}}
"#
    );
    std::fs::write(dir.join("dovecot.conf"), conf).unwrap();
    let child = std::process::Command::new("/usr/sbin/dovecot")
        .args(["-F", "-c"])
        .arg(dir.join("dovecot.conf"))
        .spawn()
        .unwrap();
    let dovecot = Dovecot {
        child,
        imap: SocketAddr::from(([127, 0, 0, 1], imap)),
        http: SocketAddr::from(([127, 0, 0, 1], http)),
        dir,
    };
    for _ in 0..100 {
        if std::net::TcpStream::connect(dovecot.imap).is_ok() {
            return dovecot;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("Dovecot did not start; see {}/dovecot.log", d);
}

/// Posts a doveadm HTTP API request and returns the response body.
async fn doveadm(addr: SocketAddr, body: &str) -> String {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    // base64("secretkey")
    let request = format!(
        "POST /doveadm/v1 HTTP/1.1\r\nHost: localhost\r\nAuthorization: X-Dovecot-API c2VjcmV0a2V5\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await.unwrap();
    let response = String::from_utf8_lossy(&response).into_owned();
    response
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.to_string())
        .unwrap_or(response)
}

/// Parses an IMAP date-time `"dd-Mon-yyyy hh:mm:ss +hhmm"` into a unix time.
fn parse_internal_date(s: &str) -> i64 {
    let s = s.trim();
    let (date, rest) = s.split_once(' ').unwrap();
    let mut parts = date.split('-');
    let day: u8 = parts.next().unwrap().trim().parse().unwrap();
    let month = parts.next().unwrap();
    let year: i32 = parts.next().unwrap().parse().unwrap();
    let months = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let month = months.iter().position(|m| *m == month).unwrap() as u8 + 1;
    let (clock, zone) = rest.split_once(' ').unwrap();
    let hms: Vec<u8> = clock.split(':').map(|x| x.parse().unwrap()).collect();
    let sign = if zone.starts_with('-') { -1 } else { 1 };
    let offset = sign
        * (zone[1..3].parse::<i64>().unwrap() * 3600 + zone[3..5].parse::<i64>().unwrap() * 60);
    let date = time::Date::from_calendar_date(year, month.try_into().unwrap(), day).unwrap();
    let dt = date.with_hms(hms[0], hms[1], hms[2]).unwrap().assume_utc();
    dt.unix_timestamp() - offset
}

/// The integration scenario against a private Dovecot storing at `mail_location`.
async fn round_trip(name: &str, mail_location: &str) {
    if !std::path::Path::new("/usr/sbin/dovecot").exists()
        || !std::process::Command::new("id")
            .arg("-u")
            .output()
            .is_ok_and(|o| o.stdout == b"0\n")
    {
        println!("skipped: needs /usr/sbin/dovecot and root");
        return;
    }
    let dovecot = start_dovecot(name, mail_location);
    let timeout = Duration::from_secs(10);
    let login = format!("{USER}*mailplane");

    // A wrong master password is refused as Unavailable, naming the master user.
    match ImapSession::login(dovecot.imap, &login, "wrong", timeout).await {
        Err(Error::Unavailable(m)) => {
            println!("[{name}] wrong master password: {m}");
            assert!(m.contains("master user"));
        }
        other => panic!("{:?}", other.err()),
    }

    let mut session = ImapSession::login(dovecot.imap, &login, "master\"pw", timeout)
        .await
        .unwrap();
    let big: Vec<u8> = {
        let mut m = b"From: a@example.org\r\nSubject: big\r\n\r\n".to_vec();
        while m.len() < 2 * 1024 * 1024 {
            m.extend_from_slice(b"0123456789abcdefghijklmnopqrstuvwxyz \xc3\xa9\xe9 line\r\n");
        }
        m
    };
    let eight_bit = b"From: b@example.org\r\nSubject: caf\xe9 \xff\r\n\r\nline1\r\n.\r\n)\r\n* 1 FETCH (x)\r\n{5}\r\nraw \xe9\xff\x80\r\nend\r\n".to_vec();
    let plain = b"From: c@example.org\r\nSubject: plain\r\n\r\nhello\r\n".to_vec();
    // Not part of the three: bare LF and NUL, to learn what the store changes.
    let odd = b"From: d@example.org\r\nSubject: odd\r\n\r\nbare\nlf\nnul:\x00end\r\n".to_vec();
    let dates = [
        time::macros::datetime!(2024-01-05 10:00:00 UTC),
        time::macros::datetime!(2023-02-01 12:34:56 +02:00),
        time::macros::datetime!(2019-12-31 23:59:59 UTC),
        time::macros::datetime!(2020-06-15 08:00:00 UTC),
    ];
    let messages = [big, eight_bit, plain, odd];
    let mut uids = Vec::new();
    for (message, date) in messages.iter().zip(dates) {
        let uid = session.append("INBOX", message, date).await.unwrap();
        println!(
            "[{name}] APPEND of {} bytes: APPENDUID uid {uid:?}",
            message.len()
        );
        uids.push(uid.unwrap());
    }
    let missing = session
        .append("NoSuchFolder", b"x\r\n", dates[0])
        .await
        .err();
    println!("[{name}] APPEND to a missing folder: {missing:?}");
    assert!(matches!(missing, Some(Error::NotFound { .. })));

    let create = vec![
        Piece::Text(b"CREATE ".to_vec()),
        mailbox_name("Entwürfe & \"Co\"").unwrap(),
    ];
    session
        .command(create)
        .await
        .map_err(|r| r.into_error("CREATE"))
        .unwrap();
    let folders = session.list().await.unwrap();
    println!("[{name}] LIST: {folders:?}");
    assert!(folders.iter().any(|f| f == "INBOX"));
    assert!(folders.iter().any(|f| f == "Entwürfe & \"Co\""));
    assert_eq!(session.examine("Entwürfe & \"Co\"").await.unwrap().1, 0);
    let (validity, count) = session.examine("INBOX").await.unwrap();
    println!("[{name}] EXAMINE INBOX: uidvalidity {validity}, {count} messages");
    assert_eq!(count, 4);
    let mut differences = Vec::new();
    for ((uid, message), date) in uids.iter().zip(&messages).zip(dates) {
        let fetched = session.fetch(*uid).await.unwrap().unwrap();
        if fetched == *message {
            println!("[{name}] uid {uid}: {} bytes, byte-exact", fetched.len());
        } else {
            let at = fetched
                .iter()
                .zip(message.iter())
                .position(|(a, b)| a != b)
                .unwrap_or(fetched.len().min(message.len()));
            println!(
                "[{name}] uid {uid}: DIFFERS: sent {} bytes, got {}; first difference at {at}: sent {:?}, got {:?}",
                message.len(),
                fetched.len(),
                String::from_utf8_lossy(&message[at..(at + 12).min(message.len())]),
                String::from_utf8_lossy(&fetched[at..(at + 12).min(fetched.len())]),
            );
            differences.push(*uid);
        }
        let done = session
            .command(vec![Piece::Text(
                format!("UID FETCH {uid} (INTERNALDATE)").into_bytes(),
            )])
            .await
            .map_err(|r| r.into_error("UID FETCH"))
            .unwrap();
        let tokens = tokenize(&done.untagged[0]).unwrap();
        let items = fetch_items(&tokens[3..]).unwrap();
        let (_, Token::Str(internal)) = items
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(b"INTERNALDATE"))
            .unwrap()
        else {
            panic!("no INTERNALDATE")
        };
        let internal = String::from_utf8_lossy(internal).into_owned();
        println!("[{name}] uid {uid}: INTERNALDATE {internal}");
        assert_eq!(parse_internal_date(&internal), date.unix_timestamp());
    }
    assert_eq!(session.fetch(999).await.unwrap(), None);
    session.logout().await;

    let answer = doveadm(
        dovecot.http,
        &format!(
            r#"[["fetch",{{"user":"{USER}","field":["uid","guid","mailbox-guid","date.received.unixtime","size.physical","size.virtual"],"query":["mailbox","INBOX","all"]}},"f1"]]"#
        ),
    )
    .await;
    println!("[{name}] doveadm fetch: {answer}");
    let files = std::process::Command::new("find")
        .arg(dovecot.dir.join("home"))
        .arg("-type")
        .arg("f")
        .output()
        .unwrap();
    println!(
        "[{name}] files:\n{}",
        String::from_utf8_lossy(&files.stdout)
    );
    // Only the three required messages must be exact; the fourth is for information.
    assert!(
        differences.iter().all(|uid| Some(uid) == uids.last()),
        "messages differ: {differences:?}"
    );
}

#[tokio::test]
async fn dovecot_sdbox_round_trip() {
    round_trip("sdbox", "sdbox:~/mail").await;
}

#[tokio::test]
async fn dovecot_maildir_round_trip() {
    round_trip("maildir", "maildir:~/Maildir").await;
}
