//! Jobs the shim started, remembered for the legacy status fields v3 lacks
//! (`bk_job_id`, `operator`, `start_way`; DESIGN §4.5).
//!
//! A bounded in-process map (oldest entry evicted first, entries expire after
//! `legacy.job_cache_ttl`), plus Redis when the Redis rate-limit backend is on, so that a
//! job started through one replica can be polled through another. Redis is the shim's
//! shared connection ([`RedisConn`], the limiter's), swapped by [`JobCache::set_redis`]
//! when a reload changes it. Redis errors are never fatal (the status call falls back to
//! `get_job_instance_list`) and never logged per request: the connection's circuit
//! breaker logs an outage once, and calls fail at once while it lasts.

use crate::redis_conn::RedisConn;
use crate::translate::status::JobExtras;
use arc_swap::ArcSwapOption;
use redis::AsyncCommands;
use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Bounded, expiring memory of started jobs.
pub struct JobCache {
    local: Mutex<Local>,
    ttl: Duration,
    redis: ArcSwapOption<RedisConn>,
}

/// Insertion-ordered map. `order` holds `(id, seq)`; an entry whose `seq` no longer matches
/// the map's is stale (the id was removed or re-inserted) and is skipped on eviction.
struct Local {
    capacity: usize,
    next_seq: u64,
    map: HashMap<i64, Entry>,
    order: VecDeque<(i64, u64)>,
}

struct Entry {
    at: Instant,
    seq: u64,
    extras: JobExtras,
}

impl JobCache {
    /// A cache of at most `capacity` jobs kept `ttl`; shared through `redis` when given.
    pub fn new(capacity: usize, ttl: Duration, redis: Option<RedisConn>) -> JobCache {
        JobCache {
            local: Mutex::new(Local {
                capacity: capacity.max(1),
                next_seq: 0,
                map: HashMap::new(),
                order: VecDeque::new(),
            }),
            ttl,
            redis: ArcSwapOption::from_pointee(redis),
        }
    }

    /// Share through `redis` from now on (`None`: in process only), e.g. after a reload
    /// that changed the Redis settings. Jobs already in process are kept.
    pub fn set_redis(&self, redis: Option<RedisConn>) {
        self.redis.store(redis.map(std::sync::Arc::new));
    }

    /// The Redis connection in use, if any.
    pub fn redis(&self) -> Option<RedisConn> {
        self.redis.load_full().map(|c| (*c).clone())
    }

    /// Number of jobs held in process.
    pub fn len(&self) -> usize {
        self.local.lock().map(|l| l.map.len()).unwrap_or(0)
    }

    /// True when nothing is held in process.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Remember `job_instance_id`. The Redis write runs in the background: a reply never
    /// waits for it.
    pub fn put(&self, job_instance_id: i64, extras: JobExtras) {
        if let Ok(mut l) = self.local.lock() {
            l.insert(job_instance_id, extras.clone());
        }
        let (Some(r), Ok(json)) = (self.redis(), serde_json::to_string(&extras)) else {
            return;
        };
        let ttl = self.ttl.as_secs().max(1);
        let key = key(r.prefix(), job_instance_id);
        tokio::spawn(async move {
            let res = r
                .call(|mut c| async move { c.set_ex::<_, _, ()>(key, json, ttl).await })
                .await;
            if let Err(e) = res {
                tracing::debug!(job_instance_id, error = %e, "job cache: Redis write failed");
            }
        });
    }

    /// Look `job_instance_id` up: in process first, then Redis.
    pub async fn get(&self, job_instance_id: i64) -> Option<JobExtras> {
        if let Ok(mut l) = self.local.lock() {
            match l.map.get(&job_instance_id) {
                Some(e) if e.at.elapsed() <= self.ttl => return Some(e.extras.clone()),
                Some(_) => {
                    l.map.remove(&job_instance_id);
                }
                None => {}
            }
        }
        let r = self.redis()?;
        let key = key(r.prefix(), job_instance_id);
        // Boxed: inline, the Redis call's state (kilobytes) would be part of every
        // status poll's future, found in process or not.
        let res =
            Box::pin(r.call(|mut c| async move { c.get::<_, Option<String>>(key).await })).await;
        match res {
            Ok(Some(json)) => serde_json::from_str(&json).ok(),
            Ok(None) => None,
            Err(e) => {
                tracing::debug!(job_instance_id, error = %e, "job cache: Redis read failed");
                None
            }
        }
    }
}

impl Local {
    fn insert(&mut self, id: i64, extras: JobExtras) {
        let seq = self.next_seq;
        self.next_seq += 1;
        self.map.insert(
            id,
            Entry {
                at: Instant::now(),
                seq,
                extras,
            },
        );
        self.order.push_back((id, seq));
        while self.map.len() > self.capacity {
            let Some((old, old_seq)) = self.order.pop_front() else {
                break;
            };
            if self.map.get(&old).is_some_and(|e| e.seq == old_seq) {
                self.map.remove(&old);
            }
        }
        // Stale order entries (re-inserted or expired ids) must not pile up.
        if self.order.len() > 2 * self.capacity {
            let map = &self.map;
            self.order
                .retain(|(id, seq)| map.get(id).is_some_and(|e| e.seq == *seq));
        }
    }
}

/// `<prefix>:job:<id>`.
fn key(prefix: &str, job_instance_id: i64) -> String {
    format!("{prefix}:job:{job_instance_id}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn extras(id: i64) -> JobExtras {
        JobExtras {
            bk_job_id: Some(id),
            ..JobExtras::default()
        }
    }

    #[tokio::test]
    async fn bounded_oldest_first() {
        let c = JobCache::new(3, Duration::from_secs(60), None);
        for i in 0..10 {
            c.put(i, extras(i));
        }
        assert_eq!(c.len(), 3);
        assert!(c.get(6).await.is_none());
        assert_eq!(c.get(9).await.and_then(|e| e.bk_job_id), Some(9));
    }

    #[tokio::test]
    async fn entries_expire() {
        let c = JobCache::new(3, Duration::from_millis(1), None);
        c.put(1, extras(1));
        std::thread::sleep(Duration::from_millis(5));
        assert!(c.get(1).await.is_none());
        assert!(c.is_empty());
    }

    #[tokio::test]
    async fn reinserted_ids_are_not_evicted_by_stale_entries() {
        let c = JobCache::new(2, Duration::from_secs(60), None);
        c.put(1, extras(1));
        c.put(2, extras(2));
        c.put(1, extras(11)); // re-insert: the first (1) entry in the order is stale now
        c.put(3, extras(3)); // evicts 2, the oldest live entry, not the fresh 1
        assert_eq!(c.get(1).await.and_then(|e| e.bk_job_id), Some(11));
        assert!(c.get(2).await.is_none());
        assert_eq!(c.get(3).await.and_then(|e| e.bk_job_id), Some(3));
        for i in 0..1000 {
            c.put(7, extras(i));
        }
        assert!(c.local.lock().map(|l| l.order.len()).unwrap_or(0) <= 4);
    }
}
