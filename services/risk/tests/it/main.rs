//! fff-risk against a real PostgreSQL (fff-testkit: `DATABASE_URL` or a private throwaway
//! cluster): the safety state a restart keeps ([`persistence`]) and one writer per account
//! across two instances served on loopback ([`lease`]).

mod helpers;
mod lease;
mod persistence;
