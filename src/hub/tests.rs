//! The hub's own tests: a poisoned lock, and a dropped session's last lines.

use super::*;
use crate::delivery::outbox_and_peer;
use crate::support::threads::ThreadBudget;
use std::io::Read;
use std::net::TcpStream;

fn test_hub() -> Hub {
    let limits = RoomLimits {
        max_rooms_per_user: 100,
        max_rooms: 10_000,
        replay: 20,
    };
    let (account_log, accounts) = AccountLog::in_memory();
    Hub::new(History::in_memory(100), account_log, accounts, limits)
}

fn connected_member() -> (Arc<Outbox>, TcpStream) {
    outbox_and_peer(1 << 20, &ThreadBudget::new(4))
}

#[test]
fn a_panic_while_holding_the_lock_does_not_take_the_hub_down() {
    let hub = test_hub();
    let claims = Claims::default();
    let alice = Username::parse("alice").unwrap();
    let (member, mut alice_peer) = connected_member();
    hub.login(&alice, &member, &claims).unwrap();
    let poisoner = hub.clone();
    let panicked = std::thread::spawn(move || {
        let _guard = poisoner.state.lock().unwrap();
        panic!("a bug in some connection thread");
    })
    .join();
    assert!(panicked.is_err());
    assert!(hub.state.is_poisoned());
    // Everything still works for everybody else.
    let bob = Username::parse("bob").unwrap();
    let (bob_member, _bob_peer) = connected_member();
    hub.login(&bob, &bob_member, &claims).unwrap();
    assert_eq!(&*hub.who(None).unwrap(), b"USER alice\nUSER bob\n");
    let me = |name, outbox| Me { name, outbox };
    assert!(hub
        .say(me(&bob, &bob_member), None, "still here", &claims)
        .0
        .is_ok());
    assert_eq!(
        hub.direct_message(me(&bob, &bob_member), "ALICE", "hi", &claims),
        Ok(())
    );
    assert!(hub.leave(me(&alice, &member), &claims));
    assert_eq!(&*hub.who(None).unwrap(), b"USER bob\n");
    // Nothing reached alice's socket before this thread flushed; then all of it, in order.
    alice_peer.set_nonblocking(true).unwrap();
    let early = alice_peer.read(&mut [0; 64]).unwrap_err();
    assert_eq!(early.kind(), std::io::ErrorKind::WouldBlock);
    alice_peer.set_nonblocking(false).unwrap();
    claims.flush();
    let expected = "OK\nINFO bob connected\nMSG bob still here\nDM bob hi\n";
    let mut got = vec![0; expected.len()];
    alice_peer.read_exact(&mut got).unwrap();
    assert_eq!(String::from_utf8(got).unwrap(), expected);
}

#[test]
fn a_dropped_session_cannot_speak_in_the_name_of_its_next_holder() {
    let hub = test_hub();
    let claims = Claims::default();
    let alice = Username::parse("alice").unwrap();
    let (old, _old_peer) = connected_member();
    hub.login(&alice, &old, &claims).unwrap();
    // The old session is dropped (as an overflow would) and the name taken.
    let old_me = Me {
        name: &alice,
        outbox: &old,
    };
    assert!(hub.leave(old_me, &claims));
    let (new, mut new_peer) = connected_member();
    hub.login(&alice, &new, &claims).unwrap();
    let room = RoomName::parse("#r").unwrap();
    // Every line the old session still had in hand is refused.
    assert_eq!(
        hub.say(old_me, None, "ghost", &claims).0,
        Err(ErrorCode::NotLoggedIn)
    );
    assert_eq!(
        hub.direct_message(old_me, "alice", "ghost", &claims),
        Err(ErrorCode::NotLoggedIn)
    );
    assert_eq!(
        hub.join(old_me, &room, &claims),
        Err(ErrorCode::NotLoggedIn)
    );
    assert!(!hub.leave(old_me, &claims));
    let new_me = Me {
        name: &alice,
        outbox: &new,
    };
    assert_eq!(hub.history(new_me, None, 10, &claims), Ok(()));
    claims.flush();
    new_peer
        .set_read_timeout(Some(std::time::Duration::from_millis(200)))
        .unwrap();
    let mut got = vec![0; 64];
    let n = new_peer.read(&mut got).unwrap();
    assert_eq!(
        &got[..n],
        b"OK\nHISTORY #lobby 0\n",
        "the new holder got only its own lines: nothing was said"
    );
}
