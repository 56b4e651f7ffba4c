//! Everything that exists only because SQLite is one of the two back ends: the transport
//! that runs sea-orm's statements on the caller's thread, the encoding of values as sqlx
//! stored them, and the read cache in front of the file.
//!
//! It is a folder of its own so that the rest of the store (one file per resource) reads
//! the same on both databases, and what a PostgreSQL deployment never runs is in one place.
//! The entities whose columns the transport decodes come from the one list in
//! [`crate::entity`].

pub(crate) mod read_cache;
pub(crate) mod transport;
mod values;
