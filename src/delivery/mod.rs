//! Getting bytes to clients without ever blocking the hub: each connection's
//! bounded [`Outbox`], the [`Claim`] that says who writes it out, the
//! per-thread [`Claims`], and the fan-out [`Helpers`].
//!
//! Delivery knows nothing of any front's framing: a front hands its outboxes a
//! [`Codec`], and the outbox frames what is appended with it.

mod budget;
mod claims;
mod fanout;
mod outbox;

pub use budget::OutputBudget;
pub use claims::Claims;
pub use fanout::Helpers;
pub use outbox::{Codec, Farewell, Gate, Outbox, WRITE_STALL_LIMIT};

#[cfg(test)]
pub(crate) use outbox::tests::outbox_and_peer;
