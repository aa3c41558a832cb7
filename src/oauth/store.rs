//! Where OAuth state lives: a key-value store whose entries expire (Workers KV in the
//! Worker, [`MemoryStore`] in unit tests).
//!
//! Keys: `client:{id}` (registered clients), `cimd:{sha256(url)}` (fetched client metadata
//! documents), `grant:{id}` (a grant: its client, scope, audience, encrypted credentials,
//! pending code and refresh state), `token:{sha256(access token)}`, `attempts:{hash}`
//! (failed consent entries), `config:form-key` (signs consent forms).

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::future::Future;

/// Workers KV refuses an expiration TTL below 60 seconds; shorter lifetimes are enforced by
/// the expiry times stored in the records themselves.
const MIN_TTL_S: u64 = 60;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreError(pub String);

pub trait Store {
    fn get(&self, key: &str) -> impl Future<Output = Result<Option<String>, StoreError>>;
    /// Writes `value`; with `ttl_s` (raised to [`MIN_TTL_S`]) the store drops it after that long.
    fn put(&self, key: &str, value: &str, ttl_s: Option<u64>) -> impl Future<Output = Result<(), StoreError>>;
    fn delete(&self, key: &str) -> impl Future<Output = Result<(), StoreError>>;
}

/// The KV expiration for a lifetime: never below [`MIN_TTL_S`].
pub fn kv_ttl(ttl_s: u64) -> u64 {
    ttl_s.max(MIN_TTL_S)
}

/// A claim older than this is taken over: the runtime may abandon a request mid-work
/// (cancelled, client gone) without dropping it, and its key must not stay busy for good.
const STALE_CLAIM_S: i64 = 30;

thread_local! {
    /// Keys some request of this isolate is working under, with the claim's serial number and
    /// time (an isolate runs on one thread).
    static BUSY: RefCell<HashMap<String, (u64, i64)>> = RefCell::new(HashMap::new());
    static SERIAL: Cell<u64> = const { Cell::new(0) };
}

/// Another request of this isolate is working under the same key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Busy;

/// Releases a key when its work ends, also when the request is dropped half-way; a claim
/// that was taken over as stale leaves its successor alone.
struct Claim {
    key: String,
    serial: u64,
}

impl Drop for Claim {
    fn drop(&mut self) {
        BUSY.with(|busy| {
            let mut busy = busy.borrow_mut();
            if busy.get(&self.key).is_some_and(|(serial, _)| *serial == self.serial) {
                busy.remove(&self.key);
            }
        });
    }
}

/// Runs `work` unless another request of this isolate is running work under the same `key`,
/// in which case it answers [`Busy`] at once.
///
/// KV has no transactions: a read-check-write (spending a code, rotating a refresh token,
/// counting a failed entry) done by two requests at once lets both pass. Requests served by
/// the same isolate are kept apart here, so inside one isolate those rules hold exactly;
/// across isolates and locations KV's consistency window remains (see the README). The
/// second request is refused rather than made to wait: workerd cancels a request that waits
/// on another request's work as hung.
pub async fn exclusive<T>(key: &str, now: i64, work: impl Future<Output = T>) -> Result<T, Busy> {
    let serial = SERIAL.with(|serial| {
        serial.set(serial.get() + 1);
        serial.get()
    });
    let claimed = BUSY.with(|busy| {
        let mut busy = busy.borrow_mut();
        if busy.get(key).is_some_and(|(_, since)| now < since + STALE_CLAIM_S) {
            return false;
        }
        busy.insert(key.to_owned(), (serial, now));
        true
    });
    if !claimed {
        return Err(Busy);
    }
    let _claim = Claim { key: key.to_owned(), serial };
    Ok(work.await)
}

#[cfg(test)]
pub use memory::MemoryStore;

#[cfg(test)]
mod tests {
    use futures::executor::block_on;
    use futures::future::pending;

    use super::*;

    #[test]
    fn a_busy_key_refuses_until_released_or_stale() {
        // A request abandoned mid-work: its future is never polled again nor dropped.
        let mut abandoned = Box::pin(exclusive("grant:a", 100, pending::<()>()));
        let mut context = std::task::Context::from_waker(futures::task::noop_waker_ref());
        assert!(abandoned.as_mut().poll(&mut context).is_pending(), "the first claim holds the key");
        assert_eq!(block_on(exclusive("grant:a", 100, async { 1 })), Err(Busy));
        assert_eq!(block_on(exclusive("grant:b", 100, async { 2 })), Ok(2), "other keys are free");
        assert_eq!(
            block_on(exclusive("grant:a", 100 + STALE_CLAIM_S, async { 3 })),
            Ok(3),
            "a stale claim is taken over"
        );
        std::mem::forget(abandoned);
        // Released after use: the key is free again at once.
        assert_eq!(block_on(exclusive("grant:a", 200, async { 4 })), Ok(4));
        assert_eq!(block_on(exclusive("grant:a", 200, async { 5 })), Ok(5));
    }
}

#[cfg(test)]
mod memory {
    use std::cell::{Cell, RefCell};
    use std::collections::BTreeMap;

    use super::*;

    /// A future that is pending once (waking itself at once), then ready.
    struct YieldOnce(bool);

    impl Future for YieldOnce {
        type Output = ();

        fn poll(mut self: std::pin::Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> std::task::Poll<()> {
            if self.0 {
                return std::task::Poll::Ready(());
            }
            self.0 = true;
            cx.waker().wake_by_ref();
            std::task::Poll::Pending
        }
    }

    /// KV refuses longer keys.
    const MAX_KEY_BYTES: usize = 512;

    fn check_key(key: &str) -> Result<(), StoreError> {
        if key.len() > MAX_KEY_BYTES { Err(StoreError(format!("key over {MAX_KEY_BYTES} bytes"))) } else { Ok(()) }
    }

    /// An in-memory store with KV's expiry and key-length rules, on a clock the test moves.
    #[derive(Default)]
    pub struct MemoryStore {
        entries: RefCell<BTreeMap<String, (String, Option<i64>)>>,
        pub now: Cell<i64>,
    }

    impl MemoryStore {
        /// Every live key and value, as one text: what someone who read the storage would see.
        pub fn dump(&self) -> String {
            let now = self.now.get();
            let entries = self.entries.borrow();
            let live = entries.iter().filter(|(_, (_, expires))| expires.is_none_or(|e| e > now));
            live.map(|(k, (v, _))| format!("{k} = {v}\n")).collect()
        }

        pub fn keys(&self) -> Vec<String> {
            let now = self.now.get();
            let entries = self.entries.borrow();
            entries.iter().filter(|(_, (_, e))| e.is_none_or(|e| e > now)).map(|(k, _)| k.clone()).collect()
        }
    }

    impl Store for MemoryStore {
        async fn get(&self, key: &str) -> Result<Option<String>, StoreError> {
            check_key(key)?;
            let now = self.now.get();
            let value = {
                let entries = self.entries.borrow();
                entries.get(key).filter(|(_, expires)| expires.is_none_or(|e| e > now)).map(|(v, _)| v.clone())
            };
            // A real store answers later, with what it held when asked: other requests run
            // in between, as they do on KV.
            YieldOnce(false).await;
            Ok(value)
        }

        async fn put(&self, key: &str, value: &str, ttl_s: Option<u64>) -> Result<(), StoreError> {
            check_key(key)?;
            let expires = ttl_s.map(|ttl| self.now.get() + kv_ttl(ttl) as i64);
            self.entries.borrow_mut().insert(key.to_owned(), (value.to_owned(), expires));
            Ok(())
        }

        async fn delete(&self, key: &str) -> Result<(), StoreError> {
            self.entries.borrow_mut().remove(key);
            Ok(())
        }
    }
}
